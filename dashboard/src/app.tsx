import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { I18n, LANGUAGES, savedLanguage, saveLanguage, translator, useI18n, type Language } from './i18n.ts'
import { ServersPage } from './servers.tsx'
import { mayHaveSession, resumeSession, signOut, type Session } from './session.ts'
import { SignInPage } from './sign-in.tsx'

type State = { phase: 'loading' } | { phase: 'signed-out' } | { phase: 'signed-in', session: Session }

export function App () {
  const [language, setLanguage] = useState<Language>(savedLanguage)
  const i18n = useMemo(() => ({ language, setLanguage, t: translator(language) }), [language])
  useEffect(() => saveLanguage(language), [language])

  const [state, setState] = useState<State>({ phase: 'loading' })
  // After a reload the access token is gone: the session cookie, when there is one, gets a new one.
  useEffect(() => {
    if (!mayHaveSession()) {
      setState({ phase: 'signed-out' })
      return
    }
    resumeSession().then((session) => setState({ phase: 'signed-in', session }), () => setState({ phase: 'signed-out' }))
  }, [])

  const session = state.phase === 'signed-in' ? state.session : undefined
  const ended = useCallback(() => setState({ phase: 'signed-out' }), [])

  // The page forgets the session even when the hub cannot be told (it then ends when its refresh token expires).
  const leave = () => signOut().catch(() => {}).finally(ended)

  return (
    <I18n.Provider value={i18n}>
      <header class='bar'>
        <p class='brand'>{i18n.t('app.title')}</p>
        <LanguageSwitch />
        {session !== undefined && (
          <div class='account'>
            <span>{i18n.t('app.signedInAs', { name: session.user.username })}</span>
            <button type='button' onClick={leave}>{i18n.t('app.signOut')}</button>
          </div>
        )}
      </header>
      <main>
        {state.phase === 'loading' && <p role='status'>{i18n.t('app.loading')}</p>}
        {state.phase === 'signed-out' && <SignInPage onSignedIn={(signedIn) => setState({ phase: 'signed-in', session: signedIn })} />}
        {session !== undefined && <ServersPage client={session.client} onSessionEnded={ended} />}
      </main>
    </I18n.Provider>
  )
}

function LanguageSwitch () {
  const { language, setLanguage, t } = useI18n()
  return (
    <nav class='languages' aria-label={t('app.language')}>
      {(Object.keys(LANGUAGES) as Language[]).map((code) => (
        <button key={code} type='button' lang={LANGUAGES[code].tag} aria-pressed={code === language} onClick={() => setLanguage(code)}>
          {LANGUAGES[code].name}
        </button>
      ))}
    </nav>
  )
}
