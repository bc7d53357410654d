import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import { buildApp } from '../app.ts'
import { openPgliteThread } from '../db/client.ts'
import { childBaseEnv } from '../lib/config.ts'
import { benchConfig } from './bench-config.ts'
import { DEFAULT_POLICY } from '../supervisor/managed-server.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import { measure, runLoad, type LoadResult } from './bench-load.ts'
import { find, goal, interleaved, table, type Result, type Run, type Target } from './bench-runs.ts'
import { shellQuote, startPeer, type PeerOptions } from './bench-peer.ts'

/**
 * `tools/call` of the fixture's `echo` at 1 and 16 concurrent callers: directly over stdio (the
 * limit), through a bare Fastify route that echoes the JSON-RPC (the HTTP ceiling here), and
 * through the hub with authentication on, and through the two npm peers (supergateway in stateful
 * Streamable HTTP mode, mcp-proxy) with the same per-session client as the hub; and `tools/list`
 * on the hub's aggregate endpoint over 50 servers of 20 tools. Every target is set up first,
 * then run interleaved (bench-runs.ts). The HTTP load comes from a thread of its own
 * (bench-load.ts), so the client does not share the event loop of the hub or of the bare route
 * it measures.
 */
const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
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
function checked (target: string, result: LoadResult, check: (reply: unknown) => boolean): Run {
  for (const first of result.firstAnswers) {
    let reply: unknown
    try {
      reply = parseAnswer(first.status, first.body)
    } catch (error) {
      throw new Error(`${target}: ${(error as Error).message}`)
    }
    if (!check(reply)) throw new Error(`${target}: unexpected answer: ${JSON.stringify(reply).slice(0, 300)}`)
  }
  return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, loadCpuPercent: result.loadCpuPercent }
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
function echoTargets (name: string, url: string, headers: Record<string, string>, sessions: string[]): Target[] {
  return [1, 16].map((concurrency) => {
    const callers = sessions.slice(0, concurrency).map((session, n) => ({ headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(echoCall(n + 1)) }))
    return { name, callers: concurrency, run: async (seconds) => checked(name, await runLoad({ url, seconds, callers }), isEcho) }
  })
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

/** The goals, from the medians: hub against bare Fastify and against each peer, and tools/list. */
function goals (results: Result[], listName: string): string[] {
  const lines: string[] = []
  const hub16 = find(results, HUB, 16)?.median
  const hub1 = find(results, HUB, 1)?.median
  const bare16 = find(results, BARE, 16)?.median
  const bare1 = find(results, BARE, 1)?.median
  if (hub16 && bare16) {
    const ratio = hub16.callsPerSecond / bare16.callsPerSecond
    lines.push(goal('tools/call hub / bare Fastify calls/s at 16 callers', `${(ratio * 100).toFixed(0)}%`, '≥ 60%', ratio >= 0.6))
  }
  if (hub1 && bare1) {
    const delta = hub1.p50Ms - bare1.p50Ms
    lines.push(goal('tools/call hub − bare Fastify p50 at 1 caller', `${delta.toFixed(3)} ms`, '< 0.5 ms', delta < 0.5))
  }
  for (const peer of [SUPERGATEWAY, MCP_PROXY]) {
    const peer16 = find(results, peer, 16)?.median
    if (!hub16 || !peer16) continue
    const ratio = hub16.callsPerSecond / peer16.callsPerSecond
    lines.push(goal(`tools/call hub / ${peer} calls/s at 16 callers`, `${ratio.toFixed(1)}×`, '≥ 5×', ratio >= 5))
  }
  const list = find(results, listName, 1)?.median
  if (list) lines.push(goal(`${listName} p50`, `${list.p50Ms} ms`, '< 2 ms', list.p50Ms < 2))
  return lines
}

const stops: Array<() => Promise<unknown>> = []
try {
  const targets: Target[] = []

  // 1. Directly over stdio, through the supervisor's own MCP client (the load on this thread).
  const supervisor = new Supervisor({ policy: DEFAULT_POLICY, baseEnv: childBaseEnv(process.env), stateFile: join(dataDir, 'groups.json') })
  stops.push(() => supervisor.stopAll(2000))
  const direct = supervisor.upsert({ id: randomUUID(), name: 'echo', key: 'echo', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, cwd: null, enabled: false })
  await direct.start()
  for (const concurrency of [1, 16]) {
    targets.push({ name: 'stdio direct', callers: concurrency, run: async (seconds) => await measure(concurrency, seconds, async () => { await direct.client!.callTool({ name: 'echo', arguments: { text: 'hello' } }) }) })
  }

  // 2. A bare Fastify route answering the same JSON-RPC.
  const bare = Fastify()
  stops.push(() => bare.close())
  bare.post('/rpc', async (request) => {
    const body = request.body as { id: number, params: { arguments: { text: string } } }
    return { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: body.params.arguments.text }] } }
  })
  await bare.listen({ port: 0, host: '127.0.0.1' })
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/rpc`
  for (const concurrency of [1, 16]) {
    const callers = Array.from({ length: concurrency }, (_, n) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(echoCall(n + 1)) }))
    targets.push({ name: BARE, callers: concurrency, run: async (seconds) => checked(BARE, await runLoad({ url: bareUrl, seconds, callers }), isEcho) })
  }

  // 3. The npm peers, each a child process group, with the hub's per-session client.
  for (const { target, ...options } of peers) {
    const peer = await startPeer(options)
    stops.push(() => peer.stop())
    const sessions = await Promise.all(Array.from({ length: 16 }, () => openSession(peer.url, mcpHeaders)))
    targets.push(...echoTargets(target, peer.url, mcpHeaders, sessions))
  }

  // 4. The hub: bearer token, one session per caller, /mcp/servers/{key}.
  const config = benchConfig(dataDir, { username: 'admin', password: 'bench-admin-password' })
  const app = await buildApp({ config, database: await openPgliteThread(), print: () => {} })
  stops.push(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const login = await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json() as { data: { token: string } }
  const auth = { authorization: `Bearer ${login.data.token}` }
  // 50 servers of 20 tools each (the fixture's 6 and 14 more), the first one the echo of the calls.
  const serverIds = await Promise.all(Array.from({ length: 50 }, async (_, n) => {
    const body = { name: n === 0 ? 'echo' : `catalog-${n}`, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal', FIXTURE_EXTRA_TOOLS: '14' }, enabled: false }
    const server = await (await fetch(`${base}/api/servers`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as { data: { id: string, key: string } }
    await fetch(`${base}/api/servers/${server.data.id}/start`, { method: 'POST', headers: auth })
    return server.data
  }))
  const url = `${base}/mcp/servers/${serverIds[0]!.key}`
  const hubHeaders = { ...auth, ...mcpHeaders }
  const sessions = await Promise.all(Array.from({ length: 16 }, () => openSession(url, hubHeaders)))
  targets.push(...echoTargets(HUB, url, hubHeaders, sessions))

  // tools/list on the aggregate endpoint over the 50 servers, one caller.
  const aggregate = `${base}/mcp`
  const listSession = await openSession(aggregate, hubHeaders)
  let listed = 0
  const listCaller = { headers: { ...hubHeaders, 'mcp-session-id': listSession }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) }
  const LIST = 'hub tools/list, aggregate of 50 × 20 tools'
  targets.push({
    name: LIST,
    callers: 1,
    run: async (seconds) => checked(LIST, await runLoad({ url: aggregate, seconds, callers: [listCaller] }), (reply) => {
      listed = (reply as { result: { tools: unknown[] } }).result.tools.length
      return listed === 1000
    })
  })

  const results = await interleaved(targets)
  // Memory, once the hub is warm: 15 more sessions (32 a user at most: none is closed).
  const heapBefore = heapInUse()
  const more = await Promise.all(Array.from({ length: 15 }, () => openSession(url, hubHeaders)))
  const perSessionKiB = Math.round((heapInUse() - heapBefore) / more.length / 1024)
  process.stdout.write(`${JSON.stringify({ target: 'hub', memoryPerOpenSessionKiB: perSessionKiB })}\n`)

  process.stdout.write(`\n${table(results)}\n\n${goals(results, LIST).join('\n')}\n`)
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
}
