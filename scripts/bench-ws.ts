import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runLoad, type Figures } from './bench-load.ts'
import { Clients, type ConnectSpec, type Delivery } from './bench-ws-clients.ts'
import { RATES, ServerProcess, type Rate } from './bench-ws-server.ts'

/**
 * `/ws` under load: 1,000 authenticated sockets subscribed to `server-status` and `server-logs`
 * of a server that logs (a real fixture process writing stderr lines that carry the time they were
 * written), at 10 lines a second (a load this machine keeps up with) and at the 1,000;
 * side by side with a bare `ws` server sending the same lines in the same envelope to as many
 * sockets (the limit). Then the memory an idle socket holds, and `tools/call` at 16 callers
 * without and with the 1,000 sockets connected. This process only drives: the servers
 * (bench-ws-server.ts) and the sockets (bench-ws-clients.ts) each run in a process of their own,
 * and the CPU and memory figures are the server's process's alone.
 */
const SOCKETS = 1000
const FAN_OUT_SECONDS = 4
const WARM_UP_MS = 1000
const CALL_SECONDS = 2
/** A/B pairs of tools/call, without and with the sockets. */
const ROUNDS = 5
const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-ws-'))

const began = performance.now()
/** Where the run is, on stderr (stdout has the figures only). */
const progress = (step: string) => process.stderr.write(`bench-ws ${((performance.now() - began) / 1000).toFixed(1)} s: ${step}\n`)
const report = (figures: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(figures)}\n`)
const sleep = async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const mib = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1))
const kib = (bytes: number) => Number((bytes / 1024).toFixed(1))
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

interface FanOut extends Delivery {
  target: string
  /** The server process's CPU while measuring, percent of one core. */
  cpuPercent: number
  /** Its peak resident set while measuring. */
  rssMiB: number
}

/**
 * What the clients receive over `FAN_OUT_SECONDS` from a warm-up after the next line, with the
 * server's CPU and peak memory meanwhile. `disconnect`: the sockets are cut off at the end (a
 * server that cannot keep up is killed next, not waited for). `failed` rejects if the lines will
 * never come.
 */
async function measureFanOut (target: string, rate: Rate, server: ServerProcess, clients: Clients, disconnect: boolean, failed?: Promise<never>): Promise<FanOut> {
  await Promise.race([clients.nextLine(), ...(failed === undefined ? [] : [failed])])
  await sleep(WARM_UP_MS)
  let rss = server.rss()
  const sampler = setInterval(() => { rss = Math.max(rss, server.rss()) }, 200)
  const cpu = server.cpuMs()
  const started = performance.now()
  try {
    const delivery = await clients.measure(FAN_OUT_SECONDS, disconnect)
    const cpuPercent = Math.round((server.cpuMs() - cpu) / (performance.now() - started) * 100)
    const figures = { target, ...delivery, cpuPercent, rssMiB: mib(Math.max(rss, server.rss())) }
    report({ scenario: 'fan-out', sockets: SOCKETS, linesPerSecond: RATES[rate], ...figures })
    return figures
  } finally {
    clearInterval(sampler)
  }
}

/** Both loggers' events: whichever is started reaches every socket. */
const subscriptions = (loggerIds: Record<Rate, string>): ConnectSpec['subscriptions'] => {
  const serverId = [loggerIds.light, loggerIds.full]
  return [{ channel: 'server-status', filters: { serverId } }, { channel: 'server-logs', filters: { serverId } }]
}

async function bareFanOut (clients: Clients): Promise<Record<Rate, FanOut>> {
  const bare = new ServerProcess('bare')
  try {
    const { port, loggerIds } = await bare.start(dataDir, SOCKETS)
    progress('bare ws: connecting')
    await clients.connect({ url: `ws://127.0.0.1:${port}`, count: SOCKETS, auth: { type: 'auth', token: 'bare' }, subscriptions: subscriptions(loggerIds) })
    progress('bare ws: fan-outs')
    await bare.flood('light')
    const light = await measureFanOut('bare ws', 'light', bare, clients, false)
    await bare.flood('full')
    return { light, full: await measureFanOut('bare ws', 'full', bare, clients, true) }
  } finally {
    progress('bare ws: ending')
    await bare.kill()
    await clients.close()
  }
}

const echoCall = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } })
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }

/** One MCP session on `url`: initialize, then notifications/initialized; returns its id. */
async function openSession (url: string, headers: Record<string, string>): Promise<string> {
  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(initialize) })
  await response.text()
  const session = response.headers.get('mcp-session-id')
  if (!session) throw new Error(`initialize: HTTP ${response.status} without an mcp-session-id`)
  await (await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text()
  return session
}

/** What one idle socket holds in the hub, KiB: after garbage collection, heap and outside it; the resident set. */
interface PerSocket { heapKiB: number, externalKiB: number, rssKiB: number }

interface HubFigures { fanOuts: Record<Rate, FanOut>, perSocket: PerSocket, calls: { without: Figures, with: Figures } }

/** The hub: tools/call without and with 1,000 idle sockets (A/B, `ROUNDS` times) and the memory they hold, then the fan-outs. */
async function hubFigures (clients: Clients): Promise<HubFigures> {
  const hub = new ServerProcess('hub')
  try {
    progress('hub: starting')
    const { port, token, echoKey, loggerIds } = await hub.start(dataDir, SOCKETS)
    const base = `http://127.0.0.1:${port}`
    const auth = { authorization: `Bearer ${token}` }
    const url = `${base}/mcp/servers/${echoKey}`
    const headers = { ...auth, ...mcpHeaders }
    const sessions = await Promise.all(Array.from({ length: 16 }, async () => await openSession(url, headers)))
    const callers = sessions.map((session, n) => ({ headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(echoCall(n + 1)) }))
    const calls = async (): Promise<Figures> => {
      const result = await runLoad({ url, seconds: CALL_SECONDS, callers })
      for (const first of result.firstAnswers) {
        if (first.status !== 200 || !first.body.includes('"hello"')) throw new Error(`tools/call: unexpected answer: HTTP ${first.status} ${first.body.slice(0, 300)}`)
      }
      return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms }
    }
    const spec: ConnectSpec = { url: `ws://127.0.0.1:${port}/ws`, count: SOCKETS, auth: { type: 'auth', token }, subscriptions: subscriptions(loggerIds) }

    // Warm: the gateway's and /ws's code compiled, their caches full. The resident set grows
    // once, for the first sockets, and keeps that memory when they close: it is read here.
    progress('hub: warming up')
    await runLoad({ url, seconds: 1, callers })
    const cold = await hub.memory()
    await clients.connect(spec)
    const rssPerSocket = ((await hub.memory()).rss - cold.rss) / SOCKETS
    await clients.close()

    const without: Figures[] = []
    const withSockets: Figures[] = []
    const heapPerSocket: number[] = []
    const externalPerSocket: number[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      progress(`hub: tools/call and idle sockets, round ${round}`)
      without.push(await calls())
      const before = await hub.memory()
      const connectMs = await clients.connect(spec)
      const after = await hub.memory()
      heapPerSocket.push((after.heap - before.heap) / SOCKETS)
      externalPerSocket.push((after.external - before.external) / SOCKETS)
      withSockets.push(await calls())
      report({ scenario: 'tools/call at 16 callers, without and with idle sockets', round, sockets: SOCKETS, connectMs, heapPerSocketKiB: kib(heapPerSocket.at(-1)!), without: without.at(-1), with: withSockets.at(-1) })
      if (round < ROUNDS) await clients.close()
    }
    const medianOf = (runs: Figures[]): Figures => ({ callsPerSecond: median(runs.map((run) => run.callsPerSecond)), p50Ms: median(runs.map((run) => run.p50Ms)), p99Ms: median(runs.map((run) => run.p99Ms)) })

    // The fan-outs, to the sockets still connected: a logger starts, its lines flow.
    progress('hub: fan-outs')
    const post = async (path: string) => {
      const response = await fetch(`${base}${path}`, { method: 'POST', headers: auth })
      if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status}: ${await response.text()}`)
    }
    await post(`/api/servers/${loggerIds.light}/start`)
    const light = await measureFanOut('hub', 'light', hub, clients, false)
    await post(`/api/servers/${loggerIds.light}/stop`)
    // Answered once the logger's tools are listed, behind the lines that flow already: only a failure is waited for.
    const startFailed = post(`/api/servers/${loggerIds.full}/start`).then(async () => await new Promise<never>(() => {}))
    // Its end when the hub is killed is no failure.
    startFailed.catch(() => {})
    const full = await measureFanOut('hub', 'full', hub, clients, true, startFailed)
    const perSocket = { heapKiB: kib(median(heapPerSocket)), externalKiB: kib(median(externalPerSocket)), rssKiB: kib(rssPerSocket) }
    return { fanOuts: { light, full }, perSocket, calls: { without: medianOf(without), with: medianOf(withSockets) } }
  } finally {
    progress('hub: ending')
    // It may still be working through the lines it read: no graceful close.
    await hub.kill()
    await clients.close()
    progress('hub: ended')
  }
}

const clients = new Clients()
try {
  const bare = await bareFanOut(clients)
  const { fanOuts: hub, perSocket, calls } = await hubFigures(clients)
  const drop = 1 - calls.with.callsPerSecond / calls.without.callsPerSecond
  report({ scenario: 'idle socket memory', sockets: SOCKETS, heapPerSocketKiB: perSocket.heapKiB, externalPerSocketKiB: perSocket.externalKiB, rssPerSocketKiB: perSocket.rssKiB })
  report({ scenario: 'tools/call at 16 callers, medians', rounds: ROUNDS, without: calls.without, with: calls.with, dropPercent: Number((drop * 100).toFixed(1)) })
  const verdict = (ok: boolean) => ok ? 'met' : 'MISSED'
  const lines = (Object.keys(RATES) as Rate[]).flatMap((rate) => {
    const ratio = hub[rate].messagesPerSecond / bare[rate].messagesPerSecond
    return [
      `fan-out at ${RATES[rate]} lines/s: p50 hub ${hub[rate].p50Ms} ms, bare ws ${bare[rate].p50Ms} ms; p99 hub ${hub[rate].p99Ms} ms, bare ws ${bare[rate].p99Ms} ms (goal < 100 ms: ${verdict(hub[rate].p99Ms < 100)})`,
      `fan-out at ${RATES[rate]} lines/s: messages/s hub ${hub[rate].messagesPerSecond}, bare ws ${bare[rate].messagesPerSecond}, hub / bare ${ratio.toFixed(2)} (goal ≥ 0.5: ${verdict(ratio >= 0.5)}); CPU hub ${hub[rate].cpuPercent}%, bare ws ${bare[rate].cpuPercent}%`
    ]
  })
  process.stdout.write([
    '',
    ...lines,
    `memory per idle socket: ${perSocket.heapKiB} KiB heap + ${perSocket.externalKiB} KiB outside it; ${perSocket.rssKiB} KiB RSS (goal < 32 KiB: ${verdict(Math.max(perSocket.heapKiB + perSocket.externalKiB, perSocket.rssKiB) < 32)})`,
    `tools/call at 16 callers with ${SOCKETS} sockets: ${(drop * 100).toFixed(1)}% fewer calls/s (goal ≤ 3%: ${verdict(drop <= 0.03)})`,
    ''
  ].join('\n'))
} finally {
  await clients.kill()
  rmSync(dataDir, { recursive: true, force: true })
}
