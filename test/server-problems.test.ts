import t from 'tap'
import { build, captureLogs, signIn } from './helper.ts'

// A failing server shows on the hub's own log (warn, error: with its name and id), not only in
// GET /api/servers/{id}/logs.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { stdinGraceMs: 300, stopTimeoutMs: 1000, backoffBaseMs: 50, backoffJitter: 0, maxFailures: 2 }

interface LogRecord { level: number, msg: string, serverId?: string, server?: string }

async function until (check: () => boolean, ms = 15_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}

t.test('crashes, give-ups and start timeouts are on the hub\'s log with the server\'s name and id', async (t) => {
  const hubLog = captureLogs()
  const app = await build(t, 'pglite', { logStream: hubLog.stream, config: { logLevel: 'info' }, supervisorPolicy: POLICY })
  const admin = await signIn(app)
  const records = () => hubLog.lines.map((line) => JSON.parse(line) as LogRecord).filter((record) => record.server !== undefined)
  const create = async (name: string, body: object) => {
    const res = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: process.execPath, args: [FIXTURE], ...body } })
    return res.json().data.id as string
  }

  const crashing = await create('crashing', { env: { FIXTURE_MODE: 'crash-after-init', FIXTURE_CRASH_MS: '1000' }, enabled: true })
  t.ok(await until(() => app.supervisor.get(crashing)?.state === 'error'), 'the crash loop ends in error')
  const ofCrashing = records().filter((record) => record.serverId === crashing)
  t.match(ofCrashing, [
    { level: 40, server: 'crashing', msg: /^MCP server crashing: crashed, restarting in 50 ms \(failure 1 of 2\): exited with code 1 after \d+\.\d s$/ },
    { level: 50, server: 'crashing', msg: /^MCP server crashing: gave up after 2 failures in 10 min: exited with code 1 after \d+\.\d s$/ }
  ])

  const silent = await create('silent', { env: { FIXTURE_MODE: 'no-init' }, enabled: false, startTimeout: 1000 })
  await app.inject({ method: 'POST', url: `/api/servers/${silent}/start`, headers: admin.headers })
  t.ok(await until(() => app.supervisor.get(silent)?.state === 'error'))
  t.match(records().filter((record) => record.serverId === silent), [
    { level: 40, server: 'silent', msg: /^MCP server silent: start failed, restarting in 50 ms \(failure 1 of 2\): no MCP initialize response within 1000 ms$/ },
    { level: 50, server: 'silent', msg: /^MCP server silent: gave up after 2 failures/ }
  ])
})
