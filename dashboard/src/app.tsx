import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { access } from './access/index.ts'
import { I18n, LANGUAGES, savedLanguage, saveLanguage, translator, useI18n, type Language } from './i18n.ts'
import { ops } from './ops/index.ts'
import { Link, matchPath, navigate, useLocation } from './router.tsx'
import type { Area } from './routes.ts'
import { servers } from './servers/index.ts'
import { mayHaveSession, resumeSession, signOut, type Session } from './session.ts'
import { SessionContext, useSession, type SignedIn } from './session-context.ts'
import { SignInPage } from './sign-in.tsx'

/** The areas in the order of the navigation. */
const AREAS: Area[] = [servers, ops, access]
const ROUTES = AREAS.flatMap((area) => area.routes)
const NAV = AREAS.flatMap((area) => area.nav)

/** Where a signed-in user lands. */
const HOME = '/servers'

type State = { phase: 'loading' } | { phase: 'signed-out' } | { phase: 'signed-in', session: Session }

/** What the pages know of the session: admins may do everything, users what their permissions (`server:<id>:<action>`) say. */
function signedInAs (session: Session, ended: () => void): SignedIn {
  const permissions = new Set(session.user.permissions)
  const isAdmin = session.user.role === 'admin'
  return { ...session, isAdmin, ended, may: (serverId, action) => isAdmin || permissions.has(`server:${serverId}:${action}`) }
}

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

  const ended = useCallback(() => setState({ phase: 'signed-out' }), [])
  const signedIn = useMemo<SignedIn | undefined>(() => state.phase === 'signed-in' ? signedInAs(state.session, ended) : undefined, [state, ended])

  return (
    <I18n.Provider value={i18n}>
      <a class='skip' href='#content'>{i18n.t('app.skip')}</a>
      {state.phase === 'loading' && <main id='content'><p role='status'>{i18n.t('app.loading')}</p></main>}
      {state.phase === 'signed-out' && (
        <>
          <header class='bar'>
            <p class='brand'>{i18n.t('app.title')}</p>
            <LanguageSwitch />
          </header>
          <main id='content'><SignInPage onSignedIn={(session) => setState({ phase: 'signed-in', session })} /></main>
        </>
      )}
      {signedIn !== undefined && (
        <SessionContext.Provider value={signedIn}>
          <SignedInLayout />
        </SessionContext.Provider>
      )}
    </I18n.Provider>
  )
}

function SignedInLayout () {
  const { t } = useI18n()
  const { user, isAdmin, ended } = useSession()
  const url = useLocation()
  useEffect(() => { if (url.pathname === '/') navigate(HOME, { replace: true }) }, [url.pathname])

  // The page forgets the session even when the hub cannot be told (it then ends when its refresh token expires).
  const leave = () => { signOut().catch(() => {}).finally(ended) }

  const allowed = ROUTES.filter((route) => isAdmin || route.adminOnly !== true)
  const route = allowed.map((candidate) => ({ candidate, params: matchPath(candidate.path, url.pathname) })).find((found) => found.params !== undefined)

  return (
    <>
      <header class='bar'>
        <p class='brand'>{t('app.title')}</p>
        <nav class='main-nav' aria-label={t('app.navigation')}>
          {NAV.filter((entry) => isAdmin || entry.adminOnly !== true).map((entry) => {
            const current = url.pathname === entry.href || url.pathname.startsWith(`${entry.href}/`)
            return <Link key={entry.href} href={entry.href} aria-current={current ? 'page' : undefined}>{t(entry.label)}</Link>
          })}
        </nav>
        <LanguageSwitch />
        <div class='account'>
          <span>{t('app.signedInAs', { name: user.username })}</span>
          <button type='button' class='secondary' onClick={leave}>{t('app.signOut')}</button>
        </div>
      </header>
      <main id='content'>
        {route !== undefined && <route.candidate.page key={url.pathname} params={route.params!} />}
        {route === undefined && url.pathname !== '/' && <p role='alert'>{t('app.notFound')}</p>}
      </main>
    </>
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
