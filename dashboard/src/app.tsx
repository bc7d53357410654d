import { useEffect, useMemo, useState } from 'preact/hooks'
import { I18n, LANGUAGES, savedLanguage, saveLanguage, translator, useI18n, type Language } from './i18n.ts'
import { ServersPage } from './servers.tsx'
import { mayHaveSession, refreshSession, signOut, type Session } from './session.ts'
import { SignInPage } from './sign-in.tsx'

/** How long before the access token expires it is renewed, ms. */
const RENEW_MARGIN_MS = 60_000

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
    refreshSession().then((session) => setState({ phase: 'signed-in', session }), () => setState({ phase: 'signed-out' }))
  }, [])

  const session = state.phase === 'signed-in' ? state.session : undefined
  // A new access token shortly before this one expires (a new client: pages re-subscribe with it).
  useEffect(() => {
    if (session === undefined) return
    const timer = setTimeout(() => {
      refreshSession().then((renewed) => setState({ phase: 'signed-in', session: renewed }), () => setState({ phase: 'signed-out' }))
    }, Math.max(0, session.expiresIn * 1000 - RENEW_MARGIN_MS))
    return () => clearTimeout(timer)
  }, [session])

  const leave = async () => {
    try {
      await signOut()
    } finally {
      setState({ phase: 'signed-out' })
    }
  }

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
        {session !== undefined && <ServersPage client={session.client} />}
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
