import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DASHBOARD_DIST } from '../plugins/dashboard.ts'
import { build, captureLogs, signIn } from './helper.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { enrolMfa } from './helpers/auth.ts'
import { accessibilityProblems, openBrowser, screenshot } from './helpers/browser.ts'
import { apiAs, startLiveHub } from './helpers/live-hub.ts'

const CSP = "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';frame-ancestors 'none';base-uri 'none';form-action 'self'"

const INDEX = join(DASHBOARD_DIST, 'index.html')
if (!existsSync(INDEX)) throw new Error('dashboard/dist is not built: run `npm run build:dashboard` (npm install and npm ci run it)')

/** The built page's assets, as index.html names them. */
const assets = [...readFileSync(INDEX, 'utf8').matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1]!)

t.test('the hub serves the dashboard at / with a strict CSP, and leaves the API and protocols alone', async (t) => {
  const app = await build(t, 'pglite')
  const index = await app.inject({ method: 'GET', url: '/' })
  t.equal(index.statusCode, 200)
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['cache-control'], 'no-cache', 'index.html is revalidated on every load')
  t.equal(index.headers['content-security-policy'], CSP)

  t.ok(assets.some((path) => path.endsWith('.js')) && assets.some((path) => path.endsWith('.css')), `index.html names its script and style (${assets.join(', ')})`)
  for (const path of assets) {
    const asset = await app.inject({ method: 'GET', url: path })
    t.equal(asset.statusCode, 200, path)
    t.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable', `${path} is cached for good`)
  }
  const missing = await app.inject({ method: 'GET', url: '/assets/no-such-file.js' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'RESOURCE_NOT_FOUND')

  for (const url of ['/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/assets/.hidden', '/assets/']) {
    const escape = await app.inject({ method: 'GET', url })
    t.ok(escape.statusCode < 500, `${url}: ${escape.statusCode}`)
    t.notMatch(escape.body, /"name": "mcphub"/, `${url}: no file outside the build`)
  }

  const deepLink = await app.inject({ method: 'GET', url: '/servers/some-page?tab=logs' })
  t.equal(deepLink.statusCode, 200, 'a page path the browser routes gets index.html')
  t.equal(deepLink.body, index.body)
  t.equal(deepLink.headers['content-security-policy'], CSP)

  for (const url of ['/api/nothing-here?x=1', '/api', '/docs/no-such-file']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, `${url}: still 404`)
    t.equal(res.json().error.code, 'RESOURCE_NOT_FOUND', `${url}: in the envelope`)
    t.notOk(res.headers['content-security-policy'], `${url}: no dashboard headers`)
  }
  // The protocols' paths answer as they always did (a 401 for an MCP path without credentials…), never with the page.
  for (const url of ['/mcp/nothing-here', '/ws/nothing-here', '/sse/x', '/messages/x', '/metrics/x', '/healthz/x', '/readyz/x']) {
    const res = await app.inject({ method: 'GET', url })
    t.ok(res.statusCode >= 400, `${url}: ${res.statusCode}`)
    t.notMatch(res.headers['content-type'], /html/, `${url}: not the page`)
    t.notOk(res.headers['content-security-policy'], `${url}: no dashboard headers`)
  }
  const post = await app.inject({ method: 'POST', url: '/somewhere' })
  t.equal(post.statusCode, 404, 'only GET falls back to the page')

  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.notOk(health.headers['content-security-policy'])
  const api = await app.inject({ method: 'GET', url: '/api/servers', headers: (await signIn(app)).headers })
  t.equal(api.statusCode, 200)
  t.notOk(api.headers['content-security-policy'], '/api answers carry no dashboard headers')
  t.equal((await app.inject({ method: 'GET', url: '/docs/' })).statusCode, 200, 'the API docs stay at /docs')
})

t.test('without a build, / says how to make one, and the hub warns once', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'mcphub-no-dashboard-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const { stream, lines } = captureLogs()
  const app = await build(t, 'pglite', { dashboardDir: empty, logStream: stream, config: { logLevel: 'warn' } })
  for (const url of ['/', '/servers']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 503, url)
    t.match(res.body, /npm run build:dashboard/)
  }
  t.equal((await app.inject({ method: 'GET', url: assets[0]! })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the hub runs')
  t.equal(lines.filter((line) => line.includes('dashboard is not built')).length, 1, 'one warning')
})

t.test('loading the page spends no request budget; probing unknown API paths still does', async (t) => {
  const app = await build(t, 'pglite', { config: { rateLimits: { anonymous: 2, user: 0, admin: 0, mcp: 0 } } })
  for (let load = 0; load < 4; load++) {
    for (const url of ['/', '/servers', ...assets]) t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, `${url}, load ${load + 1}`)
  }
  const probes = []
  for (let probe = 0; probe < 3; probe++) probes.push((await app.inject({ method: 'GET', url: `/api/probe-${probe}` })).statusCode)
  t.same(probes, [404, 404, 429])
})

t.test('in a browser: sign in, start a server and watch it live, switch to Chinese, reload, sign out', async (t) => {
  // The hub's clock, which the test moves on to expire access tokens.
  let ahead = 0
  const hub = await startLiveHub(t, 'pglite', { now: () => Date.now() + ahead })
  const admin = await signIn(hub.app)
  const api = apiAs(hub.app, admin)
  const server = await api('POST', '/api/servers', { name: 'dashboard-fixture', ...hub.fixture, enabled: false }) as { id: string }
  const enrolledAt = Date.now() + ahead
  const mfaSecret = await enrolMfa(hub.app, admin, enrolledAt)

  const browser = await openBrowser(t)
  if (browser === undefined) return
  const { page, pageErrors } = browser

  await page.goto(`${hub.baseUrl}/`)
  await page.getByRole('heading', { name: 'Sign in' }).waitFor()
  t.same(await accessibilityProblems(page), [], 'sign-in page: no serious accessibility violation')
  await screenshot(page, 'sign-in')

  await page.getByLabel('Password').fill('not-the-password')
  await page.getByLabel('Username').fill(hub.admin.username)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').getByText('Invalid username or password').waitFor()
  await page.getByLabel('Password').fill(hub.admin.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  // The admin enrolled MFA: the hub asks for the code. The next step's: the enrolment spent this one.
  await page.getByLabel('MFA code').fill(totpCode(mfaSecret, totpStep(enrolledAt) + 1))
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { name: 'Servers' }).waitFor()
  await page.getByText('Live updates on').waitFor()

  const row = page.locator('tr[data-server="dashboard-fixture"]')
  await row.locator('[data-status="stopped"]').waitFor()
  // From here on the list changes by events only: no page asks for it again.
  const listRequests: string[] = []
  page.on('request', (request) => { if (request.method() === 'GET' && new URL(request.url()).pathname.startsWith('/api/servers')) listRequests.push(request.url()) })

  // By keyboard: the buttons are real buttons.
  await page.getByRole('button', { name: 'Start dashboard-fixture' }).focus()
  await page.keyboard.press('Enter')
  await row.getByText('Running').waitFor()
  await page.getByRole('button', { name: 'Stop dashboard-fixture' }).waitFor()
  t.same(await accessibilityProblems(page), [], 'servers page: no serious accessibility violation')
  await screenshot(page, 'servers')

  await api('POST', `/api/servers/${server.id}/stop`)
  await row.getByText('Stopped').waitFor()
  t.pass('a stop through the API shows up live')
  t.same(listRequests, [], 'no polling: the status came over /ws')

  // The page's access token expires: the next call is refused, renewed by the session cookie, and sent again.
  ahead += 16 * 60_000
  const renewals: string[] = []
  page.on('request', (request) => { if (new URL(request.url()).pathname === '/api/auth/session/refresh') renewals.push(request.method()) })
  await page.getByRole('button', { name: 'Start dashboard-fixture' }).click()
  await row.getByText('Running').waitFor()
  t.same(renewals, ['POST'], 'one renewal, unseen by the user')

  await page.setViewportSize({ width: 360, height: 740 })
  t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling at a phone width')
  await page.setViewportSize({ width: 1100, height: 700 })

  await page.getByRole('button', { name: '中文' }).click()
  await page.getByRole('heading', { name: '服务器' }).waitFor()
  await row.getByText('运行中').waitFor()
  t.equal(await page.evaluate<string>('document.documentElement.lang'), 'zh-CN')
  t.equal(await page.getByRole('button', { name: '停止 dashboard-fixture' }).count(), 1, 'the buttons speak Chinese')

  await page.reload()
  await page.getByRole('heading', { name: '服务器' }).waitFor()
  await row.getByText('运行中').waitFor()
  t.pass('still signed in after a reload, still in Chinese')
  t.same(await page.evaluate<string[]>('Object.keys(localStorage)'), ['mcphub.language'], 'only the language is in localStorage: no token')
  t.notMatch(await page.evaluate<string>('document.cookie'), /mcphub_refresh/, 'the refresh token is out of the page\'s reach')

  await page.getByRole('button', { name: '退出登录' }).click()
  await page.getByRole('heading', { name: '登录' }).waitFor()
  await page.reload()
  await page.getByRole('heading', { name: '登录' }).waitFor()
  t.pass('signed out, and still after a reload')
  t.same(pageErrors, [], 'no script errors and no CSP violations in the console')
})
