import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Forked, serve } from './bench-fork.ts'
import { runLoad } from './bench-load.ts'
import { goal, interleaved, median, RUNS, table, type Run } from './bench-runs.ts'

/**
 * What recording tool calls costs the hub on the embedded database: `tools/call` of the fixture's
 * `echo` at 16 callers through two hubs on PGlite, each in a process of its own, one recording
 * the calls as it does, the other with `ToolCallLog.record` a no-op; interleaved runs. Compared:
 * the hub process's CPU time per call (read from /proc, so the load generator's thread is not in
 * it), and calls/s.
 */
const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
const ADMIN = { username: 'admin', password: 'bench-admin-password' }
const CALLERS = 16
const ROUNDS = Math.max(RUNS, 4)

interface Started { type: 'started', url: string, callers: Array<{ headers: Record<string, string>, body: string }> }
type Command = { type: 'start', dataDir: string, record: boolean }

// --- The hub's process --------------------------------------------------------

async function startHub ({ dataDir, record }: Command): Promise<Started> {
  const [{ PGlite }, { buildApp }, { wrapPglite }, { ToolCallLog }, { benchConfig }] = await Promise.all([
    import('@electric-sql/pglite'), import('../app.ts'), import('../db/client.ts'), import('../gateway/accounting.ts'), import('./bench-config.ts')
  ])
  if (!record) ToolCallLog.prototype.record = () => {}
  const app = await buildApp({ config: benchConfig(dataDir, ADMIN), database: wrapPglite(await PGlite.create()), print: () => {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const post = async (path: string, headers: Record<string, string>, body?: unknown) => await fetch(`${base}${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const login = await (await post('/api/auth/login', { 'content-type': 'application/json' }, ADMIN)).json() as { data: { token: string } }
  const auth = { authorization: `Bearer ${login.data.token}` }
  const created = await (await post('/api/servers', { ...auth, 'content-type': 'application/json' }, { name: 'echo', command: process.execPath, args: [FIXTURE], enabled: false })).json() as { data: { id: string, key: string } }
  await post(`/api/servers/${created.data.id}/start`, auth)
  const path = `/mcp/servers/${created.data.key}`
  const headers = { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }
  const callers = await Promise.all(Array.from({ length: CALLERS }, async (_, n) => {
    const response = await post(path, headers, initialize)
    await response.text()
    const session = response.headers.get('mcp-session-id')
    if (session === null) throw new Error('initialize answered without an mcp-session-id')
    await (await post(path, { ...headers, 'mcp-session-id': session }, { jsonrpc: '2.0', method: 'notifications/initialized' })).text()
    const call = { jsonrpc: '2.0', id: n + 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } }
    return { headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(call) }
  }))
  return { type: 'started', url: `${base}${path}`, callers }
}

// --- The driver ---------------------------------------------------------------

async function main (): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-record-'))
  const hubs = [true, false].map((record) => ({ record, process: new Forked<Command, Started>(new URL(import.meta.url), 'hub') }))
  try {
    const cpuUsPerCall = new Map<boolean, number[]>([[true, []], [false, []]])
    const targets = await Promise.all(hubs.map(async ({ record, process: hub }) => {
      const { url, callers } = await hub.ask({ type: 'start', dataDir, record })
      return {
        name: `hub on PGlite, calls ${record ? 'recorded' : 'not recorded'}`,
        callers: CALLERS,
        run: async (seconds: number): Promise<Run> => {
          const cpuBefore = hub.cpuMs()
          const result = await runLoad({ url, seconds, callers })
          const cpuMs = hub.cpuMs() - cpuBefore
          for (const first of result.firstAnswers) {
            if (first.status !== 200 || !first.body.includes('"text":"hello"')) throw new Error(`unexpected answer: ${first.status} ${first.body.slice(0, 200)}`)
          }
          if (seconds > 1) cpuUsPerCall.get(record)!.push(Math.round(cpuMs * 1000 / result.calls))
          return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, loadCpuPercent: result.loadCpuPercent }
        }
      }
    }))
    const results = await interleaved(targets, ROUNDS)
    const [on, off] = [median(cpuUsPerCall.get(true)!), median(cpuUsPerCall.get(false)!)]
    const [onRate, offRate] = results.map((result) => result.median.callsPerSecond) as [number, number]
    process.stdout.write([
      '',
      table(results),
      '',
      `hub process CPU per call, median: recorded ${on} µs, not recorded ${off} µs (runs: ${cpuUsPerCall.get(true)!.join(', ')} and ${cpuUsPerCall.get(false)!.join(', ')})`,
      goal('recording tool calls, share of the hub\'s CPU per call', `${((1 - off / on) * 100).toFixed(1)}%`, '< 2%', 1 - off / on < 0.02),
      `calls/s recorded / not recorded: ${(onRate / offRate * 100).toFixed(1)}%`,
      ''
    ].join('\n'))
  } finally {
    for (const hub of hubs) await hub.process.kill()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'hub') serve(startHub)
else await main()
