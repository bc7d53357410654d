import t from 'tap'
import type { App } from '../app.ts'
import { isPackageRunner } from '../supervisor/managed-server.ts'
import { build, DRIVERS, signIn, type SignedIn } from './helper.ts'

// startTimeout: how long a start may take before it counts as failed. Package runners (npx,
// uvx…) download on their first start, so their default is longer.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

async function call (app: App, admin: SignedIn, method: 'POST' | 'PUT', url: string, payload?: object) {
  const res = await app.inject({ method, url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
  return { status: res.statusCode, body: res.json() }
}

t.test('package runners are recognised by program name, with their subcommand where they need one', async (t) => {
  for (const [command, args] of [['npx', ['-y', 'x']], ['/usr/local/bin/uvx', ['x']], ['bunx', []], ['pnpx', []], ['pipx', ['run', 'x']], ['pnpm', ['dlx', 'x']], ['yarn', ['dlx', 'x']], ['npm', ['exec', 'x']], ['bun', ['x', 'y']], ['C:\\node\\npx.cmd', []]] as Array<[string, string[]]>) {
    t.ok(isPackageRunner(command, args), `${command} ${args.join(' ')}`)
  }
  for (const [command, args] of [['node', ['server.js']], ['pnpm', ['start']], ['npm', ['run', 'x']], ['python3', ['-m', 'x']], ['/opt/npx-wrapper', []]] as Array<[string, string[]]>) {
    t.notOk(isPackageRunner(command, args), `${command} ${args.join(' ')}`)
  }
})

for (const driver of DRIVERS) {
  t.test(`${driver}: the default depends on the command; a server's own value wins; null restores the default`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const npx = await call(app, admin, 'POST', '/api/servers', { name: 'by-npx', command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'], enabled: false })
    t.equal(npx.body.data.startTimeout, 120_000, 'npx: 2 minutes')
    const node = await call(app, admin, 'POST', '/api/servers', { name: 'by-node', command: process.execPath, args: [FIXTURE], enabled: false })
    t.equal(node.body.data.startTimeout, 30_000, 'anything else: 30 s')
    const own = await call(app, admin, 'PUT', `/api/servers/${node.body.data.id}`, { startTimeout: 45_000 })
    t.equal(own.body.data.startTimeout, 45_000)
    t.equal((await call(app, admin, 'PUT', `/api/servers/${node.body.data.id}`, { command: 'npx' })).body.data.startTimeout, 45_000, 'kept when the command changes')
    t.equal((await call(app, admin, 'PUT', `/api/servers/${node.body.data.id}`, { startTimeout: null })).body.data.startTimeout, 120_000, 'null: the default for its command again')
    for (const bad of [999, 600_001, 1.5, '30000']) {
      const res = await call(app, admin, 'POST', '/api/servers', { name: 'bad', command: 'npx', startTimeout: bad })
      t.equal(res.status, 422, String(bad))
      t.equal(res.body.error.code, 'VALIDATION_ERROR')
    }
  })
}

t.test('a start fails after the server\'s own timeout', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { stdinGraceMs: 300, stopTimeoutMs: 1000, maxFailures: 1 } })
  const admin = await signIn(app)
  const created = await call(app, admin, 'POST', '/api/servers', { name: 'silent', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'no-init' }, enabled: false, startTimeout: 1000 })
  const began = Date.now()
  const started = await call(app, admin, 'POST', `/api/servers/${created.body.data.id}/start`)
  t.ok(Date.now() - began < 5000, `answered in ${Date.now() - began} ms`)
  t.match(started.body.data, { status: 'error', lastError: /no MCP initialize response within 1000 ms/ })
})
