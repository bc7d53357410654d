import { readFileSync } from 'node:fs'
import t from 'tap'
import { createUser, rememberSecret, signIn } from './helper.ts'
import { accessibilityProblems, openBrowser, screenshot, signInThroughPage } from './helpers/browser.ts'
import { apiAs, startLiveHub } from './helpers/live-hub.ts'

// The dashboard's servers pages, driven in a browser against the real hub: the list, the form, a server's page.

const SECRET = 'hunter2-never-shown-back'
rememberSecret(SECRET)

t.test('servers in the dashboard: create, run, watch, tune, import, export, edit secrets, filter', async (t) => {
  const hub = await startLiveHub(t, 'pglite')
  const admin = await signIn(hub.app)
  const api = apiAs(hub.app, admin)
  const browser = await openBrowser(t)
  if (browser === undefined) return
  const { page, pageErrors } = browser
  await signInThroughPage(page, hub.baseUrl, hub.admin)
  await page.getByText('Live updates on').waitFor()

  let serverId = ''
  const serverUrl = () => `${hub.baseUrl}/servers/${serverId}`

  await t.test('a server made through the form; the hub\'s refusal is shown first', async (t) => {
    await page.getByRole('link', { name: 'New server' }).click()
    await page.getByRole('heading', { name: 'New server', level: 1 }).waitFor()
    await page.getByLabel('Name', { exact: true }).fill('fixture-one')
    await page.getByLabel('Key', { exact: true }).fill('not a key!')
    await page.getByLabel('Description').fill('The test fixture')
    await page.getByLabel('Tags').fill('test, fixture')
    await page.getByLabel('Command').fill(hub.fixture.command)
    await page.getByLabel('Arguments').fill(hub.fixture.args.join('\n'))
    await page.getByLabel(/^Enabled/).uncheck()
    t.same(await accessibilityProblems(page), [], 'the form: no serious accessibility violation')
    await screenshot(page, 'server-form')
    await page.setViewportSize({ width: 360, height: 740 })
    t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), 'the form fits a phone\'s width')
    await page.setViewportSize({ width: 1100, height: 700 })

    await page.getByRole('button', { name: 'Save' }).click()
    const refusal = await page.getByRole('alert').textContent()
    t.match(refusal, /key/, `the 422 names its field: ${refusal}`)
    await page.getByLabel('Key', { exact: true }).fill('')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('heading', { name: 'fixture-one', level: 1 }).waitFor()
    serverId = new URL(page.url()).pathname.split('/')[2]!
    const stored = await api('GET', `/api/servers/${serverId}`) as Record<string, unknown>
    t.match(stored, { name: 'fixture-one', key: 'fixture-one', description: 'The test fixture', tags: ['test', 'fixture'], type: 'stdio', command: hub.fixture.command, args: hub.fixture.args, enabled: false })
  })

  await t.test('its page: started, the status changes live, the log follows', async (t) => {
    await page.locator('[data-status="stopped"]').first().waitFor()
    await page.getByRole('button', { name: 'Start fixture-one' }).click()
    await page.getByRole('status').getByText('fixture-one: Running').waitFor()
    await page.locator('h1 + .page-actions [data-status="running"]').waitFor()
    t.pass('running, by the start\'s answer and the status event')

    const log = page.getByRole('list', { name: 'Log lines, newest last' })
    await log.getByText(/started pid \d+/).first().waitFor()
    await log.getByText(/fixture started pid \d+ mode normal/).waitFor()
    t.pass('the supervisor\'s and the server\'s own lines')

    await page.getByLabel('Lowest level').selectOption('warning')
    await log.getByText('No lines yet.').waitFor()
    t.equal(await log.getByText(/started pid/).count(), 0, 'info lines are gone at level warning')
    await page.getByLabel('Lowest level').selectOption('debug')
    await log.getByText(/fixture started pid/).waitFor()

    // Paused, then stopped through the API: the status changes at once, the new lines wait for the resume.
    await page.getByRole('button', { name: 'Pause' }).click()
    await api('POST', `/api/servers/${serverId}/stop`)
    await page.locator('h1 + .page-actions [data-status="stopped"]').waitFor()
    await page.getByText(/Paused: [1-9]\d* new lines waiting/).waitFor()
    t.equal(await log.getByText(/exited with code/).count(), 0, 'no new line while paused')
    await page.getByRole('button', { name: 'Resume' }).click()
    await log.getByText(/exited with code/).waitFor()
    await page.getByRole('button', { name: 'Start fixture-one' }).click()
    await page.locator('h1 + .page-actions [data-status="running"]').waitFor()
    t.pass('a stop by someone else shows, and a start again')
  })

  await t.test('a tool disabled on the page is disabled in the hub', async (t) => {
    const echo = page.getByRole('checkbox', { name: 'Enable echo' })
    await echo.waitFor()
    t.equal(await echo.isChecked(), true)
    await echo.uncheck()
    await page.getByText('echo disabled.').waitFor()
    const items = await api('GET', `/api/servers/${serverId}/tools`) as { tools: Array<{ name: string, enabled: boolean }> }
    t.equal(items.tools.find((tool) => tool.name === 'echo')?.enabled, false, 'the hub has it disabled')

    await page.getByLabel('Description of add shown to clients', { exact: true }).fill('Adds two numbers, as the hub says')
    await page.getByRole('button', { name: 'Save the description of add', exact: true }).click()
    await page.getByText('Description of add saved.').waitFor()
    const after = await api('GET', `/api/servers/${serverId}/tools`) as { tools: Array<{ name: string, descriptionOverride: string | null }> }
    t.equal(after.tools.find((tool) => tool.name === 'add')?.descriptionOverride, 'Adds two numbers, as the hub says')
  })

  await t.test('metrics of the server, by time range', async (t) => {
    const { key } = await api('GET', `/api/servers/${serverId}`) as { key: string }
    // Calls through the gateway would record these; the recorder is the same.
    hub.app.metrics.count('toolCalls', { server: key, tool: 'add' }, 4, serverId)
    hub.app.metrics.observe('toolLatency', { server: key, tool: 'add' }, 12)
    await page.getByRole('button', { name: 'Last 24 hours' }).click()
    await page.getByRole('button', { name: 'Last hour' }).click()
    await page.getByRole('figure').filter({ hasText: 'Tool calls' }).locator('canvas').first().waitFor()
    t.equal(await page.getByRole('button', { name: 'Last hour' }).getAttribute('aria-pressed'), 'true')
    t.same(await accessibilityProblems(page), [], 'the server page: no serious accessibility violation')
    await screenshot(page, 'server-page')
    await page.setViewportSize({ width: 360, height: 740 })
    t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling at a phone width')
    await page.setViewportSize({ width: 1100, height: 700 })
  })

  await t.test('env secrets are kept and never shown back', async (t) => {
    await page.getByRole('link', { name: 'Edit' }).click()
    await page.getByRole('heading', { name: 'Edit fixture-one', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Add to Environment variables' }).click()
    await page.getByLabel('Name of 1').fill('API_TOKEN')
    await page.getByLabel('Value of API_TOKEN').fill(SECRET)
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('heading', { name: 'fixture-one', level: 1 }).waitFor()
    await page.getByText('API_TOKEN').waitFor()
    t.notMatch(await page.content(), SECRET, 'the server page does not show it')

    await page.getByRole('link', { name: 'Edit' }).click()
    await page.getByRole('heading', { name: 'Edit fixture-one', level: 1 }).waitFor()
    t.equal(await page.getByLabel('Value of API_TOKEN').inputValue(), '', 'the form leaves the stored value out')
    t.notMatch(await page.content(), SECRET)
    await page.getByLabel('Description').fill('The test fixture, with a token')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('heading', { name: 'fixture-one', level: 1 }).waitFor()
    const stored = await api('GET', `/api/servers/${serverId}`) as { env: Record<string, string>, description: string }
    t.same(stored.env, { API_TOKEN: '********' }, 'still stored (masked in answers)')
    t.equal(stored.description, 'The test fixture, with a token')
    t.equal(hub.app.supervisor.get(serverId)?.spec.env?.API_TOKEN, SECRET, 'the value kept is the one typed')
  })

  await t.test('import a file, export all, filter the list', async (t) => {
    await page.getByRole('link', { name: '← All servers' }).click()
    await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor()
    const document = { mcpServers: { 'imported-one': { command: hub.fixture.command, args: hub.fixture.args, disabled: true }, 'fixture-one': { command: 'node' } } }
    await page.getByLabel('Import servers').setInputFiles({ name: 'mcp.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(document)) })
    await page.getByText('Imported: imported-one. Skipped (the name exists): fixture-one.').waitFor()
    await page.locator('tr[data-server="imported-one"] [data-status="stopped"]').waitFor()

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export' }).click()])
    t.equal(download.suggestedFilename(), 'mcp-servers.json')
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { mcpServers: Record<string, { env?: Record<string, string> }> }
    t.same(Object.keys(exported.mcpServers).sort(), ['fixture-one', 'imported-one'])
    t.same(exported.mcpServers['fixture-one']!.env, { API_TOKEN: '********' }, 'the export masks secrets')

    await page.getByLabel('Name or description').fill('imported')
    await page.keyboard.press('Enter')
    await page.locator('tr[data-server="fixture-one"]').waitFor({ state: 'detached' })
    t.equal(new URL(page.url()).searchParams.get('search'), 'imported', 'the search is in the URL')
    t.equal(await page.locator('tr[data-server]').count(), 1)

    await page.getByLabel('Name or description').fill('')
    await page.keyboard.press('Enter')
    await page.getByLabel('Status').selectOption('running')
    await page.locator('tr[data-server="imported-one"]').waitFor({ state: 'detached' })
    await page.locator('tr[data-server="fixture-one"]').waitFor()
    t.equal(new URL(page.url()).search, '?status=running')
    await page.reload()
    await page.locator('tr[data-server="fixture-one"]').waitFor()
    t.equal(await page.locator('tr[data-server]').count(), 1, 'the filter survives a reload')
    t.equal(await page.getByLabel('Status').inputValue(), 'running')

    await page.getByLabel('Status').selectOption('')
    await page.locator('tr[data-server="imported-one"]').waitFor()
    t.same(await accessibilityProblems(page), [], 'the list: no serious accessibility violation')
    await page.setViewportSize({ width: 360, height: 740 })
    t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), 'the list fits a phone\'s width')
    await page.setViewportSize({ width: 1100, height: 700 })
  })

  await t.test('delete asks first', async (t) => {
    await page.getByRole('link', { name: 'imported-one' }).click()
    await page.getByRole('heading', { name: 'imported-one', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Delete', exact: true }).click()
    await page.getByText('Delete imported-one? This cannot be undone.').waitFor()
    await page.getByRole('button', { name: 'Delete imported-one' }).click()
    await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor()
    await page.locator('tr[data-server="fixture-one"]').waitFor()
    t.equal(await page.locator('tr[data-server="imported-one"]').count(), 0)
  })

  await t.test('a user sees the actions their permissions allow; a refusal after a revocation is explained', async (t) => {
    const group = await api('POST', '/api/groups', { name: 'operators', permissions: { servers: ['read', 'execute'] } }) as { id: string }
    await api('POST', `/api/groups/${group.id}/servers`, { serverId, permissions: ['read', 'execute'] })
    const user = await createUser(hub.app, admin)
    await api('POST', `/api/groups/${group.id}/members`, { userId: user.userId })
    const other = await browser.newPage()
    await signInThroughPage(other.page, hub.baseUrl, user)
    await other.page.locator('tr[data-server="fixture-one"]').waitFor()
    t.equal(await other.page.getByRole('link', { name: 'New server' }).count(), 0)
    t.equal(await other.page.getByLabel('Import servers').count(), 0)
    t.equal(await other.page.getByRole('button', { name: 'Export' }).count(), 0)
    await other.page.goto(serverUrl())
    await other.page.getByRole('heading', { name: 'fixture-one', level: 1 }).waitFor()
    t.equal(await other.page.getByRole('link', { name: 'Edit' }).count(), 0)
    t.equal(await other.page.getByRole('button', { name: 'Delete', exact: true }).count(), 0)
    await other.page.getByLabel('Enable echo').waitFor()
    t.ok(await other.page.getByLabel('Enable echo').isDisabled(), 'no write permission: the tool switches are read-only')
    t.equal(await other.page.getByRole('button', { name: 'Save the description of add' }).count(), 0, 'and no description to save')

    // The admin takes execute away after the user signed in: the button the page still shows is refused, and said so.
    await api('PUT', `/api/groups/${group.id}/servers/${serverId}`, { permissions: ['read'] })
    await other.page.getByRole('button', { name: 'Restart fixture-one' }).click()
    const refusal = await other.page.getByRole('alert').filter({ hasText: 'fixture-one:' }).textContent()
    t.match(refusal, /fixture-one: .+/, `the refusal: ${refusal}`)

    // Renewed with the session, the permissions no longer offer it.
    await other.page.reload()
    await other.page.getByRole('heading', { name: 'fixture-one', level: 1 }).waitFor()
    await other.page.getByLabel('Enable echo').waitFor()
    t.equal(await other.page.getByRole('button', { name: /^(Start|Stop|Restart) fixture-one$/ }).count(), 0, 'read only: no start, stop or restart')
    await other.page.goto(`${hub.baseUrl}/servers`)
    await other.page.locator('tr[data-server="fixture-one"]').waitFor()
    t.equal(await other.page.locator('tr[data-server="fixture-one"] button').count(), 0, 'nor in the list')
    t.same(other.pageErrors, [])
  })

  t.same(pageErrors, [], 'no script errors and no CSP violations in the console')
})
