import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { PGlite } from '@electric-sql/pglite'
import Fastify from 'fastify'
import { buildApp } from '../app.ts'
import { wrapPglite } from '../db/client.ts'
import { childBaseEnv } from '../lib/config.ts'
import { benchConfig } from './bench-config.ts'
import { DEFAULT_POLICY } from '../supervisor/managed-server.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import { measure, runLoad, type Figures, type LoadResult } from './bench-load.ts'
import { shellQuote, startPeer, type PeerOptions } from './bench-peer.ts'

/**
 * `tools/call` of the fixture's `echo` at 1 and 16 concurrent callers: directly over stdio (the
 * limit), through a bare Fastify route that echoes the JSON-RPC (the HTTP ceiling here), and
 * through the hub with authentication on, and through the two npm peers (supergateway in stateful
 * Streamable HTTP mode, mcp-proxy) with the same per-session client as the hub. The HTTP load
 * comes from a thread of its own (bench-load.ts), so the client does not share the event loop
 * of the hub or of the bare route it measures.
 */
const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-gw-'))

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
/** The heap still in use once garbage is collected: what open sessions really hold. */
function heapInUse (): number {
  collectGarbage()
  collectGarbage()
  return process.memoryUsage().heapUsed
}

const echoCall = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } })

/** A JSON-RPC answer that may come as JSON or as one SSE event. */
function parseAnswer (status: number, text: string): unknown {
  if (status >= 300) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`)
  const data = text.startsWith('{') ? text : text.split('\n').find((line) => line.startsWith('data: '))?.slice(6)
  return JSON.parse(data ?? 'null')
}

async function answer (response: Response): Promise<unknown> {
  return parseAnswer(response.status, await response.text())
}

/** The load thread's figures, after checking that every caller's first answer passes `check`. */
function checked (target: string, result: LoadResult, check: (reply: unknown) => boolean): Figures {
  for (const first of result.firstAnswers) {
    const reply = parseAnswer(first.status, first.body)
    if (!check(reply)) throw new Error(`${target}: unexpected answer: ${JSON.stringify(reply).slice(0, 300)}`)
  }
  return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms }
}

type Row = { target: string, concurrency: number } & Figures
const rows: Row[] = []
const report = (target: string, concurrency: number, figures: Figures) => {
  rows.push({ target, concurrency, ...figures })
  process.stdout.write(`${JSON.stringify({ target, concurrency, ...figures })}\n`)
}

const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }

/** One MCP session: initialize, then notifications/initialized; returns its id. */
async function openSession (url: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(initialize) })
  await answer(response)
  const id = response.headers.get('mcp-session-id')
  if (!id) throw new Error(`${url}: initialize answered without an mcp-session-id`)
  await (await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text()
  return id
}

const isEcho = (reply: unknown) => (reply as { result?: { content?: Array<{ text?: unknown }> } } | null)?.result?.content?.[0]?.text === 'hello'

/** tools/call of echo at 1 and 16 callers, caller n on session n; each caller's first answer must be the echo. */
async function measureEcho (target: string, url: string, headers: Record<string, string>, sessions: string[]): Promise<void> {
  for (const concurrency of [1, 16]) {
    const callers = sessions.slice(0, concurrency).map((session, n) => ({ headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(echoCall(n + 1)) }))
    report(target, concurrency, checked(target, await runLoad({ url, seconds: SECONDS, callers }), isEcho))
  }
}

const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const BARE = 'bare Fastify'
const HUB = 'hub (bearer, session)'
const SUPERGATEWAY = 'supergateway (stateful)'
const MCP_PROXY = 'mcp-proxy'
const fixtureEnv = { FIXTURE_MODE: 'normal' }
const bin = (name: string) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname
const peers: Array<{ target: string } & PeerOptions> = [
  {
    target: SUPERGATEWAY,
    name: 'supergateway',
    script: bin('supergateway'),
    // Stateful: one fixture child per session, by design. Logging off, as the hub's is.
    args: ['--stdio', `${shellQuote(process.execPath)} ${shellQuote(FIXTURE)}`, '--outputTransport', 'streamableHttp', '--stateful', '--port', '{port}', '--logLevel', 'none'],
    env: fixtureEnv,
    path: '/mcp'
  },
  {
    target: MCP_PROXY,
    name: 'mcp-proxy',
    script: bin('mcp-proxy'),
    // One fixture child shared by every session.
    args: ['--host', '127.0.0.1', '--port', '{port}', '--', process.execPath, FIXTURE],
    env: fixtureEnv,
    path: '/mcp'
  }
]

/** The goals, from the rows: hub against bare Fastify and against each peer. */
function goals (): string[] {
  const find = (target: string, concurrency: number) => rows.find((row) => row.target === target && row.concurrency === concurrency)
  const lines: string[] = []
  const verdict = (ok: boolean) => ok ? 'met' : 'MISSED'
  const hub16 = find(HUB, 16)
  const hub1 = find(HUB, 1)
  const bare16 = find(BARE, 16)
  const bare1 = find(BARE, 1)
  if (hub16 && bare16) {
    const ratio = hub16.callsPerSecond / bare16.callsPerSecond
    lines.push(`hub / bare Fastify calls/s at 16 callers: ${(ratio * 100).toFixed(0)}% (goal ≥ 60%: ${verdict(ratio >= 0.6)})`)
  }
  if (hub1 && bare1) {
    const delta = hub1.p50Ms - bare1.p50Ms
    lines.push(`hub − bare Fastify p50 at 1 caller: ${delta.toFixed(3)} ms (goal < 0.5 ms: ${verdict(delta < 0.5)})`)
  }
  for (const peer of [SUPERGATEWAY, MCP_PROXY]) {
    const peer16 = find(peer, 16)
    if (!hub16 || !peer16) continue
    const ratio = hub16.callsPerSecond / peer16.callsPerSecond
    lines.push(`hub / ${peer} calls/s at 16 callers: ${ratio.toFixed(1)}× (goal ≥ 5×: ${verdict(ratio >= 5)})`)
  }
  return lines
}

try {
  // 1. Directly over stdio, through the supervisor's own MCP client.
  const supervisor = new Supervisor({ policy: DEFAULT_POLICY, baseEnv: childBaseEnv(process.env), stateFile: join(dataDir, 'groups.json') })
  const direct = supervisor.upsert({ id: randomUUID(), name: 'echo', key: 'echo', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, cwd: null, enabled: false })
  await direct.start()
  for (const concurrency of [1, 16]) {
    report('stdio direct', concurrency, await measure(concurrency, SECONDS, async () => { await direct.client!.callTool({ name: 'echo', arguments: { text: 'hello' } }) }))
  }
  await supervisor.stopAll(2000)

  // 2. A bare Fastify route answering the same JSON-RPC.
  const bare = Fastify()
  bare.post('/rpc', async (request) => {
    const body = request.body as { id: number, params: { arguments: { text: string } } }
    return { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: body.params.arguments.text }] } }
  })
  await bare.listen({ port: 0, host: '127.0.0.1' })
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/rpc`
  for (const concurrency of [1, 16]) {
    const callers = Array.from({ length: concurrency }, (_, n) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(echoCall(n + 1)) }))
    report(BARE, concurrency, checked(BARE, await runLoad({ url: bareUrl, seconds: SECONDS, callers }), isEcho))
  }
  await bare.close()

  // 3. The npm peers, each a child process group, with the hub's per-session client.
  for (const { target, ...options } of peers) {
    const peer = await startPeer(options)
    try {
      const sessions = await Promise.all(Array.from({ length: 16 }, () => openSession(peer.url, mcpHeaders)))
      await measureEcho(target, peer.url, mcpHeaders, sessions)
    } finally {
      await peer.stop()
    }
  }

  // 4. The hub: bearer token, one session per caller, /mcp/servers/{key}.
  const config = benchConfig(dataDir, { username: 'admin', password: 'bench-admin-password' })
  const app = await buildApp({ config, database: wrapPglite(await PGlite.create()), print: () => {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const login = await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json() as { data: { token: string } }
  const auth = { authorization: `Bearer ${login.data.token}` }
  const created = await (await fetch(`${base}/api/servers`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'echo', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false }) })).json() as { data: { id: string, key: string } }
  await fetch(`${base}/api/servers/${created.data.id}/start`, { method: 'POST', headers: auth })
  const url = `${base}/mcp/servers/${created.data.key}`
  const hubHeaders = { ...auth, ...mcpHeaders }
  const sessions = await Promise.all(Array.from({ length: 16 }, () => openSession(url, hubHeaders)))
  await measureEcho(HUB, url, hubHeaders, sessions)
  // Memory: 16 more sessions, opened once the hub is warm (its code compiled, its caches full).
  const heapBefore = heapInUse()
  const more = await Promise.all(Array.from({ length: 16 }, () => openSession(url, hubHeaders)))
  const perSessionKiB = Math.round((heapInUse() - heapBefore) / more.length / 1024)
  process.stdout.write(`${JSON.stringify({ target: 'hub', memoryPerOpenSessionKiB: perSessionKiB })}\n`)

  // tools/list on the aggregate endpoint over 50 servers × 20 tools.
  await Promise.all(Array.from({ length: 49 }, async (_, n) => {
    const body = { name: `catalog-${n}`, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal', FIXTURE_EXTRA_TOOLS: '14' }, enabled: false }
    const server = await (await fetch(`${base}/api/servers`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as { data: { id: string } }
    await fetch(`${base}/api/servers/${server.data.id}/start`, { method: 'POST', headers: auth })
  }))
  await fetch(`${base}/api/servers/${created.data.id}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ env: { FIXTURE_MODE: 'normal', FIXTURE_EXTRA_TOOLS: '14' } }) })
  await fetch(`${base}/api/servers/${created.data.id}/restart`, { method: 'POST', headers: auth })
  const aggregate = `${base}/mcp`
  const listSession = await (async () => {
    const response = await fetch(aggregate, { method: 'POST', headers: hubHeaders, body: JSON.stringify(initialize) })
    await answer(response)
    return response.headers.get('mcp-session-id')!
  })()
  let listed = 0
  const listCaller = { headers: { ...hubHeaders, 'mcp-session-id': listSession }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) }
  const listFigures = checked('tools/list', await runLoad({ url: aggregate, seconds: SECONDS, callers: [listCaller] }), (reply) => {
    listed = (reply as { result: { tools: unknown[] } }).result.tools.length
    return listed > 0
  })
  report(`hub tools/list, aggregate of ${listed} tools`, 1, listFigures)
  await app.close()

  const table = ['| target | callers | calls/s | p50 ms | p99 ms |', '|---|---|---|---|---|', ...rows.map((row) => `| ${row.target} | ${row.concurrency} | ${row.callsPerSecond} | ${row.p50Ms} | ${row.p99Ms} |`)]
  process.stdout.write(`\n${table.join('\n')}\n\n${goals().join('\n')}\n`)
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
