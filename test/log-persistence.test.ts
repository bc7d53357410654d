import { sql } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../app.ts'
import { openPostgres } from '../db/client.ts'
import { build, captureLogs, DRIVERS, emptyPostgresDatabase, signIn, type SignedIn } from './helper.ts'
import { startTcpProxy } from './tcp-proxy.ts'
import { until } from './helpers/wait.ts'

// Server log lines survive a database that is away for a while: they wait in a bounded backlog
// and are written once it is back.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
type Tap = { teardown(fn: () => unknown): void }
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }

/** A running fixture server; returns its id. */
async function runningServer (t: Tap, app: App, admin: SignedIn): Promise<string> {
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'logger', command: process.execPath, args: [FIXTURE], enabled: false } })
  const id = created.json().data.id as string
  const started = await app.inject({ method: 'POST', url: `/api/servers/${id}/start`, headers: admin.headers })
  if (started.json().data.status !== 'running') throw new Error(`start failed: ${started.body}`)
  t.teardown(() => app.supervisor.get(id)?.stop({ graceful: false }))
  return id
}

/** Makes the server send MCP log messages (straight to the supervisor: no database involved). */
async function serverLogs (app: App, id: string, messages: string[]): Promise<void> {
  for (const message of messages) await app.supervisor.get(id)!.client!.callTool({ name: 'log', arguments: { level: 'notice', message } })
}

async function storedMessages (app: App, admin: SignedIn, id: string): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: `/api/servers/${id}/logs?level=notice&limit=1000`, headers: admin.headers })
  return res.statusCode === 200 ? (res.json().data as Array<{ message: string }>).map((line) => line.message) : []
}

const DURING = ['during the outage 1', 'during the outage 2', 'during the outage 3']

if (DRIVERS.includes('pg')) {
  t.test('pg: lines logged while the database is unreachable are stored once it is back', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    t.teardown(() => proxy.close())
    const url = new URL(await emptyPostgresDatabase(t))
    url.port = String(proxy.port)
    const hubLog = captureLogs()
    const app = await build(t, 'pg', { database: openPostgres(url.toString(), { warn () {} }), logStream: hubLog.stream, config: { logLevel: 'warn' }, supervisorPolicy: POLICY })
    const admin = await signIn(app)
    const id = await runningServer(t, app, admin)

    proxy.cut()
    await serverLogs(app, id, DURING)
    await until('a failed write', () => hubLog.lines.some((line) => line.includes('could not persist server logs')))
    proxy.restore()
    const stored = await until('the lines to be stored', async () => {
      const messages = await storedMessages(app, admin, id)
      return DURING.every((message) => messages.includes(message)) && messages
    })
    t.same(stored.filter((message) => message.startsWith('during')), DURING, 'every line, in order')
    t.notOk(hubLog.lines.some((line) => line.includes('log lines dropped')), 'nothing was dropped')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: lines logged while the log table is away are stored once it is back`, async (t) => {
    const hubLog = captureLogs()
    const app = await build(t, driver, { logStream: hubLog.stream, config: { logLevel: 'warn' }, supervisorPolicy: POLICY })
    const admin = await signIn(app)
    const id = await runningServer(t, app, admin)

    await app.flushServerLogs()
    await app.db.execute(sql`alter table server_logs rename to server_logs_away`)
    await serverLogs(app, id, DURING)
    await app.flushServerLogs()
    t.ok(hubLog.lines.some((line) => line.includes('could not persist server logs')), 'the write failed')
    await app.db.execute(sql`alter table server_logs_away rename to server_logs`)
    const stored = await storedMessages(app, admin, id)
    t.same(stored.filter((message) => message.startsWith('during')), DURING, 'every line, in order')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: the backlog of unwritten lines is bounded in bytes, not only in lines`, async (t) => {
    const hubLog = captureLogs()
    const app = await build(t, driver, { logStream: hubLog.stream, config: { logLevel: 'warn' }, supervisorPolicy: POLICY })
    const admin = await signIn(app)
    await app.db.execute(sql`alter table server_logs rename to server_logs_away`)
    const created = await app.inject({
      method: 'POST',
      url: '/api/servers',
      headers: admin.headers,
      payload: { name: 'flood', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'flood-stderr', FIXTURE_FLOOD_BYTES: String(15 * 1024) }, enabled: false }
    })
    const id = created.json().data.id as string
    let lines = 0
    const stop = app.supervisor.get(id)!.logs.subscribe(() => { lines++ })
    t.teardown(stop)
    await app.inject({ method: 'POST', url: `/api/servers/${id}/start`, headers: admin.headers })
    t.teardown(() => app.supervisor.get(id)?.stop({ graceful: false }))
    await until('lines to be dropped', () => hubLog.lines.some((line) => line.includes('server log lines dropped')))
    // Drops are reported once a second: by then up to 1,000 more lines (the rate cap) came.
    t.ok(lines < 2500, `dropping was reported after ${lines} lines of 15 KiB (2 MiB is ~140), long before 10,000`)
    await app.supervisor.get(id)!.stop({ graceful: false })
  })
}
