import type { Page } from 'playwright-core'
import t from 'tap'
import { createUser, signIn } from './helper.ts'
import { accessibilityProblems, openBrowser, screenshot, signInThroughPage } from './helpers/browser.ts'
import { apiAs, startLiveHub } from './helpers/live-hub.ts'
import { startHttpReceiver } from './helpers/receivers.ts'
import { until } from './helpers/wait.ts'

/** Whether the page fits a phone's width without sideways scrolling (the viewport is set back after). */
async function fitsPhone (page: Page): Promise<boolean> {
  await page.setViewportSize({ width: 360, height: 740 })
  const fits = await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')
  await page.setViewportSize({ width: 1100, height: 700 })
  return fits
}

t.test('in a browser: settings, monitoring and connecting a client', async (t) => {
  // The webhook receiver is on 127.0.0.1, which the egress guard refuses unless admitted.
  // The alert rules are evaluated often, so that an alert fires while the page is open.
  const hub = await startLiveHub(t, 'pglite', { config: { egressAllow: ['127.0.0.1'] }, alertTimings: { evaluateMs: 200 } })
  const admin = await signIn(hub.app)
  const api = apiAs(hub.app, admin)
  const receiver = await startHttpReceiver(t)
  const server = await api('POST', '/api/servers', { name: 'Ops Fixture', ...hub.fixture, enabled: false }) as { key: string }
  await api('POST', '/api/groups', { name: 'operators' })
  const browser = await openBrowser(t)
  if (browser === undefined) return
  const { page, pageErrors } = browser
  await signInThroughPage(page, hub.baseUrl, hub.admin)

  await t.test('settings: a change made elsewhere is a conflict; the webhook is saved, masked and tested', async (t) => {
    await page.getByRole('link', { name: 'Settings' }).click()
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor()
    await page.getByLabel('SMTP host').waitFor()

    // Someone else saves meanwhile: this page's version is stale.
    const current = await api('GET', '/api/config') as { alerts: { repeatIntervalMinutes: number } }
    await api('PUT', '/api/config', { alerts: { ...current.alerts, repeatIntervalMinutes: current.alerts.repeatIntervalMinutes + 1 } })
    await page.getByLabel('Send alerts to a webhook').check()
    await page.getByLabel('Webhook URL', { exact: true }).fill(`${receiver.url}/hooks/mcphub`)
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('alert').getByText('changed elsewhere').waitFor()
    await page.getByRole('button', { name: 'Reload the settings' }).click()
    await page.getByLabel('Webhook URL', { exact: true }).waitFor({ state: 'detached' })
    t.equal(await page.getByLabel('Repeat a firing alert every (minutes)').inputValue(), String(current.alerts.repeatIntervalMinutes + 1), 'the reloaded settings are the new ones')
    t.equal(await page.getByRole('alert').filter({ hasText: 'changed elsewhere' }).count(), 0, 'and the conflict is no longer reported')

    await page.getByLabel('Send alerts to a webhook').check()
    await page.getByLabel('Webhook URL', { exact: true }).fill(`${receiver.url}/hooks/mcphub`)
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').getByText('Saved.').waitFor()
    const saved = await api('GET', '/api/config') as { notifications: { webhook: string, webhookSecret: string } }
    t.equal(saved.notifications.webhook, `${receiver.url}/hooks/mcphub`, 'the webhook is set')
    t.equal(saved.notifications.webhookSecret, '********', 'its generated secret comes back masked')
    await page.getByLabel('Remove the stored Webhook signing secret').waitFor()
    t.equal(await page.getByLabel('Webhook signing secret', { exact: true }).inputValue(), '', 'the secret is not shown, its field left empty')

    await page.getByRole('button', { name: 'Send test' }).click()
    await page.locator('[data-channel="webhook"]').getByText('Webhook: delivered').waitFor()
    const request = await until('the test webhook', () => receiver.requests[0])
    t.equal(request.path, '/hooks/mcphub')
    t.ok(request.headers['webhook-signature'], 'signed')

    t.same(await accessibilityProblems(page), [], 'settings page: no serious accessibility violation')
    await screenshot(page, 'settings')
    t.ok(await fitsPhone(page), 'settings page: no sideways scrolling at a phone width')
  })

  await t.test('monitoring: status, charts of a range, an alert as it fires, the activity trail', async (t) => {
    const metricRequests: string[] = []
    let statusRequests = 0
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (url.pathname === '/api/monitoring/metrics') metricRequests.push(url.searchParams.get('timeRange') ?? '')
      if (url.pathname === '/api/monitoring/status') statusRequests++
    })
    await page.getByRole('link', { name: 'Monitoring' }).click()
    await page.getByRole('heading', { name: 'Monitoring', level: 1 }).waitFor()
    await page.locator('.card').getByText('Uptime').waitFor()
    for (const label of ['Version', 'Servers running', 'Requests per minute', 'Average response time', 'Error rate']) {
      t.equal(await page.locator('.card').getByText(label, { exact: true }).count(), 1, `a ${label} card`)
    }
    await page.locator('.charts[data-range="1h"]').waitFor()
    const requests = page.locator('figure', { has: page.getByText('Requests', { exact: true }) })
    await requests.getByRole('img').waitFor()
    t.pass('the requests chart has data')
    for (const title of ['Errors (5xx)', 'Response time', 'Tool calls', 'CPU', 'Memory']) {
      t.equal(await page.locator('figcaption').getByText(title, { exact: true }).count(), 1, `a ${title} chart`)
    }
    await page.locator('tr[data-action="config.update"]').first().waitFor()
    t.pass('the activity trail lists the settings change')
    await page.locator('tr[data-action="config.notifications.test"]').first().waitFor()

    await page.getByRole('button', { name: 'Last 24 hours' }).click()
    await page.locator('.charts[data-range="24h"]').waitFor()
    t.ok(metricRequests.includes('24h'), 'the range switch loaded that range')
    // Loaded as the page opens and once its subscription is live; then again after a sample (throttled to one in 5 s).
    await until('the status again, after the hub\'s samples', () => statusRequests >= 3)
    t.pass('the status follows the monitoring channel')

    // Someone guesses a password: the alert shows up live, and its notification reached the webhook.
    await page.getByText('No alerts.').waitFor()
    const config = await api('GET', '/api/config') as { alerts: { signInFailures: object } }
    await api('PUT', '/api/config', { alerts: { ...config.alerts, signInFailures: { ...config.alerts.signInFailures, perAccountPerMinute: 1 } } })
    for (let attempt = 0; attempt < 2; attempt++) await hub.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'intruder', password: 'guess' } })
    const alert = page.locator('.alerts li', { hasText: 'failed sign-ins for intruder' })
    await alert.getByText('Firing').waitFor()
    await until('the alert\'s webhook', () => receiver.requests.find((request) => request.body.includes('alert.firing')))
    await alert.getByRole('button', { name: 'Notifications' }).click()
    await alert.getByText(/Webhook: delivered/).waitFor()
    await page.getByRole('button', { name: 'All', exact: true }).click()
    await alert.waitFor()
    t.same(await accessibilityProblems(page), [], 'monitoring page: no serious accessibility violation')
    await screenshot(page, 'monitoring')
    t.ok(await fitsPhone(page), 'monitoring page: no sideways scrolling at a phone width')
  })

  await t.test('connect: the endpoints, and a configuration whose new key works', async (t) => {
    await page.getByRole('link', { name: 'Connect a client' }).click()
    await page.getByRole('heading', { name: 'Connect a client', level: 1 }).waitFor()
    await page.getByText(`${hub.baseUrl}/mcp`, { exact: true }).waitFor()
    await page.getByText(`${hub.baseUrl}/sse`, { exact: true }).waitFor()
    await page.getByText(`${hub.baseUrl}/mcp/groups/operators`, { exact: true }).waitFor()
    await page.getByText(`${hub.baseUrl}/mcp/servers/${server.key}`, { exact: true }).waitFor()
    const configuration = page.locator('pre[data-configuration]')
    t.match(await configuration.textContent(), /<your API key>/, 'a placeholder until a key is made')

    await page.getByRole('button', { name: 'Create an API key' }).click()
    await page.getByRole('status').getByText('API key created and filled in.').waitFor()
    const parsed = JSON.parse(await configuration.textContent() ?? '') as { mcpServers: Record<string, { type: string, url: string, headers: Record<string, string> }> }
    const entry = parsed.mcpServers.mcphub!
    t.equal(entry.type, 'streamable-http')
    t.equal(entry.url, `${hub.baseUrl}/mcp`)
    const key = entry.headers['X-API-Key']!
    t.match(key, /^mcphub_/, 'the key is filled in')

    const initialize = await fetch(entry.url, {
      method: 'POST',
      headers: { ...entry.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'dashboard-test', version: '1.0.0' } } })
    })
    t.equal(initialize.status, 200, 'the MCP endpoint takes the key')
    await initialize.body?.cancel()
    const verify = await fetch(`${hub.baseUrl}/api/auth/verify`, { headers: { 'x-api-key': key } })
    t.equal(verify.status, 200, 'the key is the admin\'s')

    await page.getByLabel('Endpoint', { exact: true }).selectOption('/mcp/groups/operators')
    const narrowed = JSON.parse(await configuration.textContent() ?? '') as typeof parsed
    t.same(Object.values(narrowed.mcpServers).map((one) => [one.url, one.headers['X-API-Key']]), [[`${hub.baseUrl}/mcp/groups/operators`, key]], 'another endpoint, the same key')

    await page.getByRole('button', { name: 'Copy' }).click()
    await page.getByRole('status').getByText(/Copied to the clipboard|the text is selected/).waitFor()
    t.same(await accessibilityProblems(page), [], 'connect page: no serious accessibility violation')
    await screenshot(page, 'connect')
    t.ok(await fitsPhone(page), 'connect page: no sideways scrolling at a phone width')

    await page.getByRole('button', { name: '中文' }).click()
    await page.getByRole('heading', { name: '连接客户端', level: 1 }).waitFor()
    await page.getByRole('button', { name: '创建 API 密钥' }).waitFor()
    t.pass('the page speaks Chinese after the switch')
  })

  await t.test('a user sees no settings, and monitoring within their reach', async (t) => {
    const user = await createUser(hub.app, admin)
    const other = await browser.newPage()
    await signInThroughPage(other.page, hub.baseUrl, user)
    await other.page.getByRole('link', { name: 'Monitoring' }).waitFor()
    t.equal(await other.page.getByRole('link', { name: 'Settings' }).count(), 0, 'no Settings link')
    await other.page.goto(`${hub.baseUrl}/settings`)
    await other.page.getByRole('alert').getByText('There is no such page.').waitFor()

    await other.page.getByRole('link', { name: 'Monitoring' }).click()
    await other.page.locator('.card').getByText('Tool calls per minute').waitFor()
    await other.page.locator('.charts[data-range="1h"]').waitFor()
    t.equal(await other.page.locator('figcaption').getByText('CPU').count(), 0, 'no hub-wide charts')
    await other.page.locator('tr[data-action="auth.login"]').first().waitFor()
    t.equal(await other.page.locator('tr[data-action="config.update"]').count(), 0, 'only their own activity')
    t.same(await accessibilityProblems(other.page), [], 'monitoring page of a user: no serious accessibility violation')
    t.same(other.pageErrors, [], 'no script errors for the user')
  })

  t.same(pageErrors, [], 'no script errors and no CSP violations in the console')
})
