import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { PGlite } from '@electric-sql/pglite'
import { WebSocketServer } from 'ws'
import { buildApp } from '../app.ts'
import { wrapPglite } from '../db/client.ts'
import { childBaseEnv, type Config } from '../lib/config.ts'
import { runLoad, type Figures } from './bench-load.ts'
import { Clients, type ConnectSpec, type Delivery } from './bench-ws-clients.ts'

/**
 * `/ws` under load: 1,000 authenticated sockets subscribed to `server-status` and `server-logs`
 * of one server (a real fixture process writing 1,000 stderr lines a second, each carrying the
 * time it was written), side by side with a bare `ws` server broadcasting the same lines in the
 * same envelope to as many sockets (the limit); the memory an idle socket holds; `tools/call` at
 * 16 callers with and without the 1,000 sockets connected. The sockets live in a process of their
 * own (bench-ws-clients.ts): the CPU and memory figures are this process's, the server's alone.
 */
const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
const SOCKETS = 1000
/** The fixture's log-rate default. */
const LINES_PER_SECOND = 1000
const FAN_OUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CALL_SECONDS = Number(process.env.BENCH_CALL_SECONDS ?? 3)
/** A/B pairs of tools/call without and with the sockets. */
const ROUNDS = 3
const WARM_UP_MS = 1000
const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-ws-'))

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
/** The heap still in use once garbage is collected, and the resident set then. */
function memoryInUse (): { heap: number, rss: number } {
  collectGarbage()
  collectGarbage()
  const { heapUsed, rss } = process.memoryUsage()
  return { heap: heapUsed, rss }
}

const report = (figures: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(figures)}\n`)
const sleep = async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const mib = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1))
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

interface FanOut extends Delivery {
  target: string
  /** This process's CPU while measuring, percent of one core. */
  cpuPercent: number
  /** The peak resident set and V8 heap while measuring. */
  rssMiB: number
  heapUsedMiB: number
}

/** What the clients receive over `FAN_OUT_SECONDS`, after a warm-up, with this process's CPU and peak memory meanwhile. */
async function measureFanOut (target: string, clients: Clients): Promise<FanOut> {
  await sleep(WARM_UP_MS)
  let rss = 0
  let heap = 0
  const sample = () => {
    const usage = process.memoryUsage()
    rss = Math.max(rss, usage.rss)
    heap = Math.max(heap, usage.heapUsed)
  }
  const sampler = setInterval(sample, 200)
  const cpu = process.cpuUsage()
  const started = performance.now()
  try {
    const delivery = await clients.measure(FAN_OUT_SECONDS)
    const used = process.cpuUsage(cpu)
    sample()
    const cpuPercent = Math.round((used.user + used.system) / 1000 / (performance.now() - started) * 100)
    const figures = { target, ...delivery, cpuPercent, rssMiB: mib(rss), heapUsedMiB: mib(heap) }
    report({ scenario: 'fan-out', sockets: SOCKETS, linesPerSecond: LINES_PER_SECOND, ...figures })
    return figures
  } finally {
    clearInterval(sampler)
  }
}

const subscriptions = (serverId: string): ConnectSpec['subscriptions'] => [
  { channel: 'server-status', filters: { serverId } },
  { channel: 'server-logs', filters: { serverId } }
]

/**
 * The limit: a bare `ws` server that answers `auth` and `subscribe` at once and sends each stderr
 * line of its own fixture process to every socket, in the hub's envelope, serialized once.
 */
async function bareBroadcast (clients: Clients): Promise<FanOut> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(server, 'listening')
  server.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { type: string, channel?: string }
      if (message.type === 'auth') socket.send(JSON.stringify({ type: 'authenticated', user: { id: randomUUID(), username: 'admin', role: 'admin' } }))
      if (message.type === 'subscribe') socket.send(JSON.stringify({ type: 'subscribed', channel: message.channel, subscriptionId: randomUUID() }))
    })
  })
  const serverId = randomUUID()
  const { port } = server.address() as { port: number }
  let child: ChildProcess | undefined
  let stopped = false
  try {
    await clients.connect({ url: `ws://127.0.0.1:${port}`, count: SOCKETS, auth: { type: 'auth', token: 'bare' }, subscriptions: subscriptions(serverId) })
    child = spawn(process.execPath, [FIXTURE], { env: { ...childBaseEnv(process.env), FIXTURE_MODE: 'log-rate' }, stdio: ['pipe', 'ignore', 'pipe'] })
    let seq = 0
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (stopped) return
      const time = new Date().toISOString()
      const frame = JSON.stringify({ type: 'event', channel: 'server-logs', seq: ++seq, timestamp: time, data: { serverId, name: 'logger', time, level: 'info', source: 'stderr', message: line } })
      for (const socket of server.clients) socket.send(frame)
    })
    return await measureFanOut('bare ws', clients)
  } finally {
    stopped = true
    child?.kill('SIGKILL')
    // What the sockets still have queued is dropped: the clients need not read it to close.
    for (const socket of server.clients) socket.terminate()
    await clients.close()
    server.close()
  }
}

const echoCall = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } })
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }

/** The hub: its memory per idle socket, tools/call without and with the sockets (A/B, `ROUNDS` times), then the fan-out. */
async function hub (clients: Clients): Promise<{ fanOut: FanOut, perSocket: { heapKiB: number, rssKiB: number }, calls: { without: Figures, with: Figures } }> {
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir,
    jwtSecret: 'bench-only-secret-0123456789abcdef0123456789',
    adminUsername: 'admin',
    adminPassword: 'bench-admin-password',
    logLevel: 'silent',
    rateLimits: { anonymous: 0, user: 0, admin: 0, mcp: 0 },
    redisUrl: undefined,
    redisKeyPrefix: 'mcphub:',
    settingsFile: undefined,
    childBaseEnv: childBaseEnv(process.env),
    allowedHosts: undefined,
    requestTimeoutMs: 30_000,
    statementTimeoutMs: 5000,
    // One user's 1,000 sockets.
    wsMaxSocketsPerUser: SOCKETS
  }
  // 1,000 lines a second is the default cap: the fixture's jitter must not lose lines at the edge of a second.
  const app = await buildApp({ config, database: wrapPglite(await PGlite.create()), print: () => {}, supervisorPolicy: { maxLinesPerSecond: 2 * LINES_PER_SECOND } })
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    let auth: Record<string, string> = {}
    const post = async (path: string, body?: unknown) => {
      const request = body === undefined ? { headers: auth } : { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) }
      const response = await fetch(`${base}${path}`, { method: 'POST', ...request })
      if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status}: ${await response.text()}`)
      return await response.json() as { data: Record<string, unknown> }
    }
    const token = (await post('/api/auth/login', { username: 'admin', password: 'bench-admin-password' })).data.token as string
    auth = { authorization: `Bearer ${token}` }
    const echo = (await post('/api/servers', { name: 'echo', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false })).data
    await post(`/api/servers/${echo.id as string}/start`)
    const logger = (await post('/api/servers', { name: 'logger', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'log-rate' }, enabled: false })).data
    const loggerId = logger.id as string

    // One MCP session per caller, as in bench-gateway.ts.
    const url = `${base}/mcp/servers/${echo.key as string}`
    const hubHeaders = { ...auth, ...mcpHeaders }
    const sessions = await Promise.all(Array.from({ length: 16 }, async () => {
      const response = await fetch(url, { method: 'POST', headers: hubHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }) })
      await response.text()
      const session = response.headers.get('mcp-session-id')
      if (!session) throw new Error(`initialize: HTTP ${response.status} without an mcp-session-id`)
      await (await fetch(url, { method: 'POST', headers: { ...hubHeaders, 'mcp-session-id': session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text()
      return session
    }))
    const callers = sessions.map((session, n) => ({ headers: { ...hubHeaders, 'mcp-session-id': session }, body: JSON.stringify(echoCall(n + 1)) }))
    const calls = async (): Promise<Figures> => {
      const result = await runLoad({ url, seconds: CALL_SECONDS, callers })
      for (const first of result.firstAnswers) {
        if (first.status !== 200 || !first.body.includes('"hello"')) throw new Error(`tools/call: unexpected answer: HTTP ${first.status} ${first.body.slice(0, 300)}`)
      }
      return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms }
    }
    const spec: ConnectSpec = { url: `ws://127.0.0.1:${port}/ws`, count: SOCKETS, auth: { type: 'auth', token }, subscriptions: subscriptions(loggerId) }

    // Warm: the gateway's and /ws's code compiled, their caches full.
    await runLoad({ url, seconds: 1, callers })
    await clients.connect(spec)
    await clients.close()

    const without: Figures[] = []
    const withSockets: Figures[] = []
    let perSocket = { heapKiB: 0, rssKiB: 0 }
    for (let round = 1; round <= ROUNDS; round++) {
      without.push(await calls())
      const before = memoryInUse()
      const connectMs = await clients.connect(spec)
      const after = memoryInUse()
      perSocket = { heapKiB: Number(((after.heap - before.heap) / SOCKETS / 1024).toFixed(1)), rssKiB: Number(((after.rss - before.rss) / SOCKETS / 1024).toFixed(1)) }
      report({ scenario: 'idle sockets', round, sockets: SOCKETS, connectMs, heapPerSocketKiB: perSocket.heapKiB, rssPerSocketKiB: perSocket.rssKiB })
      withSockets.push(await calls())
      report({ scenario: 'tools/call at 16 callers', round, without: without.at(-1), with: withSockets.at(-1) })
      if (round < ROUNDS) await clients.close()
    }
    const medianOf = (runs: Figures[]): Figures => ({ callsPerSecond: median(runs.map((run) => run.callsPerSecond)), p50Ms: median(runs.map((run) => run.p50Ms)), p99Ms: median(runs.map((run) => run.p99Ms)) })

    // The fan-out, to the sockets still connected: the logger starts, its lines flow.
    await post(`/api/servers/${loggerId}/start`)
    const fanOut = await measureFanOut('hub', clients)
    await post(`/api/servers/${loggerId}/stop`)
    await clients.close()
    return { fanOut, perSocket, calls: { without: medianOf(without), with: medianOf(withSockets) } }
  } finally {
    await app.close()
  }
}

const clients = new Clients()
try {
  const bare = await bareBroadcast(clients)
  const { fanOut, perSocket, calls } = await hub(clients)
  const ratio = fanOut.messagesPerSecond / bare.messagesPerSecond
  const drop = 1 - calls.with.callsPerSecond / calls.without.callsPerSecond
  const verdict = (ok: boolean) => ok ? 'met' : 'MISSED'
  report({ scenario: 'tools/call at 16 callers, medians', rounds: ROUNDS, without: calls.without, with: calls.with, dropPercent: Number((drop * 100).toFixed(1)) })
  process.stdout.write([
    '',
    `fan-out p99: hub ${fanOut.p99Ms} ms, bare ws ${bare.p99Ms} ms (goal < 100 ms: ${verdict(fanOut.p99Ms < 100)})`,
    `fan-out messages/s: hub / bare ws ${ratio.toFixed(2)}× (goal ≥ 0.5×: ${verdict(ratio >= 0.5)})`,
    `memory per idle socket: ${perSocket.heapKiB} KiB heap, ${perSocket.rssKiB} KiB RSS (goal < 32 KiB: ${verdict(Math.max(perSocket.heapKiB, perSocket.rssKiB) < 32)})`,
    `tools/call at 16 callers with ${SOCKETS} sockets: ${(drop * 100).toFixed(1)}% fewer calls/s (goal ≤ 3%: ${verdict(drop <= 0.03)})`,
    ''
  ].join('\n'))
} finally {
  await clients.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
