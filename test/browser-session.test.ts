import t from 'tap'
import type { App } from '../app.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { build, captureLogs, createUser, DRIVERS, rememberSecret, signIn, TEST_ADMIN } from './helper.ts'
import { trail } from './helpers/activity.ts'

// The dashboard's session (issue 18): POST /api/auth/session signs in with the access token in
// the body and the refresh token in an HttpOnly cookie; /session/refresh and DELETE /session
// need that cookie and an X-CSRF-Token header equal to the mcphub_csrf cookie.

const SESSION_SECONDS = 30 * 24 * 60 * 60

interface Cookie {
  value: string
  /** Lower-cased attributes: `httponly`, `samesite=strict`, `path=/`, `max-age=0`… */
  attributes: string[]
}

/** The cookies a response sets, by name. */
function cookiesSet (res: { headers: Record<string, unknown> }): Map<string, Cookie> {
  const header = res.headers['set-cookie']
  const lines = header === undefined ? [] : [header].flat() as string[]
  return new Map(lines.map((line) => {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim())
    const at = pair!.indexOf('=')
    return [pair!.slice(0, at), { value: pair!.slice(at + 1), attributes: attributes.map((attribute) => attribute.toLowerCase()).sort() }]
  }))
}

interface BrowserSession {
  token: string
  refresh: string
  csrf: string
}

/** Signs in through POST /api/auth/session, with the cookies it set. */
async function openSession (app: App, payload: Record<string, unknown> = TEST_ADMIN, remoteAddress?: string): Promise<BrowserSession> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/session', payload, ...(remoteAddress === undefined ? {} : { remoteAddress }) })
  if (res.statusCode !== 200) throw new Error(`browser sign-in failed: ${res.statusCode} ${res.body}`)
  const cookies = cookiesSet(res)
  const session = { token: res.json().data.token, refresh: cookies.get('mcphub_refresh')!.value, csrf: cookies.get('mcphub_csrf')!.value }
  rememberSecret(session.token)
  rememberSecret(session.refresh)
  return session
}

/** A request of the page: the cookies it holds, and the CSRF header (the cookie's unless told otherwise; none when null). */
function fromPage (session: { refresh?: string, csrf?: string }, csrfHeader: string | null = session.csrf ?? null) {
  const cookie = [session.refresh === undefined ? [] : [`mcphub_refresh=${session.refresh}`], session.csrf === undefined ? [] : [`mcphub_csrf=${session.csrf}`]].flat().join('; ')
  return { ...(cookie === '' ? {} : { cookie }), ...(csrfHeader === null ? {} : { 'x-csrf-token': csrfHeader }) }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

for (const driver of DRIVERS) {
  t.test(`${driver}: signing in sets the refresh cookie (HttpOnly, SameSite=Strict, its own path) and a CSRF cookie; the token is a bearer`, async (t) => {
    const logs = captureLogs()
    const clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock, logStream: logs.stream, config: { logLevel: 'info' } })
    const res = await app.inject({ method: 'POST', url: '/api/auth/session', payload: TEST_ADMIN })
    t.equal(res.statusCode, 200)
    const cookies = cookiesSet(res)
    t.same([...cookies.keys()].sort(), ['mcphub_csrf', 'mcphub_refresh'])
    const refresh = cookies.get('mcphub_refresh')!
    rememberSecret(refresh.value)
    t.match(refresh.value, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit refresh token')
    t.same(refresh.attributes, ['httponly', `max-age=${SESSION_SECONDS}`, 'path=/api/auth/session', 'samesite=strict'], 'HttpOnly, SameSite=Strict, Path and Max-Age; no Secure over http')
    const csrf = cookies.get('mcphub_csrf')!
    t.match(csrf.value, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
    t.same(csrf.attributes, ['path=/', 'samesite=strict'], 'readable by the page, sent to the whole hub only from its own site')

    const body = res.json()
    t.same(Object.keys(body.data).sort(), ['expiresIn', 'token', 'tokenType', 'user'], 'the token pair without its refresh token')
    t.match(body.data, { expiresIn: 900, tokenType: 'Bearer', user: { username: TEST_ADMIN.username, role: 'admin', permissions: ['*'] } })
    t.notOk(res.body.includes(refresh.value), 'the refresh token is not in the body')
    rememberSecret(body.data.token)

    const verify = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(body.data.token) })
    t.equal(verify.statusCode, 200, 'the access token works as a bearer')
    t.equal(verify.json().data.user.username, TEST_ADMIN.username)

    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage({ refresh: refresh.value, csrf: csrf.value }) })
    t.equal(refreshed.statusCode, 200)
    const next = cookiesSet(refreshed).get('mcphub_refresh')!
    rememberSecret(next.value)
    t.notOk(refreshed.body.includes(next.value) || refreshed.body.includes(refresh.value), 'nor in the refresh\'s body')
    const all = logs.lines.join('\n')
    t.ok(logs.lines.some((line) => line.includes('signed in')), 'the log was captured')
    t.notOk(all.includes(refresh.value) || all.includes(next.value), 'no refresh token in the log')
    t.notOk(all.includes(csrf.value), 'nor the CSRF token')
  })

  t.test(`${driver}: refresh and sign-out need the refresh cookie (401) and the CSRF header matching its cookie (403)`, async (t) => {
    const app = await build(t, driver)
    const session = await openSession(app)
    const other = await openSession(app)
    for (const method of ['POST', 'DELETE'] as const) {
      const url = method === 'POST' ? '/api/auth/session/refresh' : '/api/auth/session'
      const refused = [
        { name: 'no cookie', headers: fromPage({ csrf: session.csrf }), status: 401, code: 'AUTHENTICATION_FAILED' },
        { name: 'nothing at all', headers: {}, status: 401, code: 'AUTHENTICATION_FAILED' },
        { name: 'a bearer token instead of the cookie', headers: { ...bearer(session.token), 'x-csrf-token': session.csrf }, status: 401, code: 'AUTHENTICATION_FAILED' },
        { name: 'no X-CSRF-Token', headers: fromPage(session, null), status: 403, code: 'AUTHORIZATION_FAILED' },
        { name: 'a wrong X-CSRF-Token', headers: fromPage(session, other.csrf), status: 403, code: 'AUTHORIZATION_FAILED' },
        { name: 'an empty X-CSRF-Token', headers: fromPage(session, ''), status: 403, code: 'AUTHORIZATION_FAILED' },
        { name: 'the header without the CSRF cookie', headers: fromPage({ refresh: session.refresh }, session.csrf), status: 403, code: 'AUTHORIZATION_FAILED' },
        { name: 'an empty CSRF cookie and header', headers: fromPage({ refresh: session.refresh, csrf: '' }, ''), status: 403, code: 'AUTHORIZATION_FAILED' }
      ]
      for (const attempt of refused) {
        const res = await app.inject({ method, url, headers: attempt.headers })
        t.equal(res.statusCode, attempt.status, `${method} ${url}, ${attempt.name}`)
        t.equal(res.json().error.code, attempt.code)
        t.notOk(res.headers['set-cookie'], 'sets no cookie')
      }
      const unknown = await app.inject({ method, url, headers: fromPage({ refresh: 'not-a-refresh-token', csrf: session.csrf }) })
      t.equal(unknown.statusCode, 401, `${method} ${url}, an unknown refresh token`)
      t.equal(unknown.json().error.code, 'AUTHENTICATION_FAILED')
    }
    t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(session.token) })).statusCode, 200, 'the refused requests ended nothing')
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage(session) })
    t.equal(refreshed.statusCode, 200, 'nor spent the refresh token')
  })

  t.test(`${driver}: refresh rotates the cookie; the spent one presented again revokes the session`, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock })
    const activity = trail(t, app)
    const session = await openSession(app)
    clock += 60_000
    const res = await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage(session) })
    t.equal(res.statusCode, 200)
    t.match(res.json().data, { expiresIn: 900, tokenType: 'Bearer', user: { username: TEST_ADMIN.username } })
    t.notOk('refreshToken' in res.json().data)
    const cookies = cookiesSet(res)
    t.same([...cookies.keys()], ['mcphub_refresh'], 'only the refresh cookie changes; the CSRF token stays')
    const next = cookies.get('mcphub_refresh')!
    rememberSecret(next.value)
    t.not(next.value, session.refresh, 'a new refresh token')
    t.same(next.attributes, ['httponly', `max-age=${SESSION_SECONDS - 60}`, 'path=/api/auth/session', 'samesite=strict'], 'for the rest of the session')
    const token = res.json().data.token as string
    rememberSecret(token)
    t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(token) })).statusCode, 200, 'the new access token works')

    const reuse = await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage(session) })
    t.equal(reuse.statusCode, 401, 'the spent cookie is refused')
    t.match(reuse.json().error, { code: 'AUTHENTICATION_FAILED', message: /revoked/ })
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage({ refresh: next.value, csrf: session.csrf }) })).statusCode, 401, 'and the legitimate holder is signed out too')
    t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(token) })).statusCode, 401, 'with its access token')
    const recorded = await activity.next('auth.refresh-reuse', (entry) => entry.action === 'auth.refresh-reuse')
    t.match(recorded, { outcome: 'failure', reason: 'reused', actor: { username: TEST_ADMIN.username } }, 'recorded as /api/auth/refresh records it')
  })

  t.test(`${driver}: DELETE ends the session and clears both cookies`, async (t) => {
    const app = await build(t, driver)
    const activity = trail(t, app)
    const session = await openSession(app)
    const bystander = await signIn(app)
    const res = await app.inject({ method: 'DELETE', url: '/api/auth/session', headers: fromPage(session) })
    t.equal(res.statusCode, 204)
    t.equal(res.body, '')
    const cookies = cookiesSet(res)
    t.same(cookies.get('mcphub_refresh'), { value: '', attributes: ['expires=thu, 01 jan 1970 00:00:00 gmt', 'httponly', 'max-age=0', 'path=/api/auth/session', 'samesite=strict'] }, 'the refresh cookie is cleared')
    t.same(cookies.get('mcphub_csrf'), { value: '', attributes: ['expires=thu, 01 jan 1970 00:00:00 gmt', 'max-age=0', 'path=/', 'samesite=strict'] }, 'the CSRF cookie too')
    const after = await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(session.token) })
    t.equal(after.statusCode, 401, 'the access token stops working at once, as after logout')
    t.equal(after.json().error.code, 'AUTHENTICATION_FAILED')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/session/refresh', headers: fromPage(session) })).statusCode, 401, 'and the refresh cookie')
    t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bystander.headers })).statusCode, 200, 'another session of the same user goes on')
    const recorded = await activity.next('auth.logout', (entry) => entry.action === 'auth.logout')
    t.match(recorded, { outcome: 'success', actor: { username: TEST_ADMIN.username }, target: { type: 'user', name: TEST_ADMIN.username } })
  })

  t.test(`${driver}: a user with MFA needs the code, as at /api/auth/login`, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock })
    const admin = await signIn(app)
    const user = await createUser(app, admin)
    const secret = (await app.inject({ method: 'POST', url: '/api/auth/mfa/enroll', headers: user.headers })).json().data.secret as string
    rememberSecret(secret)
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/mfa/confirm', headers: user.headers, payload: { code: totpCode(secret, totpStep(clock)) } })).statusCode, 200)
    clock += 30_000
    const credentials = { username: user.username, password: user.password }

    const withoutCode = await app.inject({ method: 'POST', url: '/api/auth/session', payload: credentials })
    t.equal(withoutCode.statusCode, 401)
    t.match(withoutCode.json().error, { code: 'AUTHENTICATION_FAILED', message: 'MFA code required' })
    t.notOk(withoutCode.headers['set-cookie'], 'no cookie without the code')
    const wrongCode = await app.inject({ method: 'POST', url: '/api/auth/session', payload: { ...credentials, mfaCode: totpCode(secret, totpStep(clock) + 5) } })
    t.equal(wrongCode.statusCode, 401)
    t.notOk(wrongCode.headers['set-cookie'])
    const session = await openSession(app, { ...credentials, mfaCode: totpCode(secret, totpStep(clock)) })
    t.equal((await app.inject({ method: 'GET', url: '/api/auth/verify', headers: bearer(session.token) })).json().data.user.username, user.username, 'signed in with the code')
    const replay = await app.inject({ method: 'POST', url: '/api/auth/session', payload: { ...credentials, mfaCode: totpCode(secret, totpStep(clock)) } })
    t.equal(replay.statusCode, 401, 'the same code is not accepted twice')
  })

  t.test(`${driver}: failed browser sign-ins count toward the lockout of /api/auth/login, and the other way round`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const victim = await createUser(app, admin)
    const browser = (password: string) => app.inject({ method: 'POST', url: '/api/auth/session', payload: { username: victim.username, password }, remoteAddress: '10.2.2.2' })
    const login = (password: string) => app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: victim.username, password }, remoteAddress: '10.2.2.2' })
    for (let i = 0; i < 3; i++) t.equal((await browser('wrong-password')).statusCode, 401)
    for (let i = 0; i < 3; i++) t.equal((await login('wrong-password')).statusCode, 401)
    const blocked = await login(victim.password)
    t.equal(blocked.statusCode, 401, 'six failures on the two routes together: the right password is refused at /login')
    t.match(blocked.json().error.message, /Too many/)
    t.ok(Number(blocked.headers['retry-after']) > 0, 'with Retry-After')
    const blockedHere = await browser(victim.password)
    t.equal(blockedHere.statusCode, 401, 'and at /session')
    t.match(blockedHere.json().error.message, /Too many/)
    t.ok(Number(blockedHere.headers['retry-after']) > 0)
    t.notOk(blockedHere.headers['set-cookie'], 'with no cookie')
  })
}
