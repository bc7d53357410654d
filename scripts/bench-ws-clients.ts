import { createHistogram } from 'node:perf_hooks'
import WebSocket from 'ws'
import { Forked, serve } from './bench-fork.ts'

/**
 * The WebSocket clients of bench-ws.ts, in a process of their own so that they take neither the
 * event loop nor the CPU figures of the server they measure. The parent drives them over IPC:
 * connect `count` sockets (auth, then subscribe), measure what arrives for a while, close them.
 *
 * A log line carries `emit=<wall-clock ms>` (the fixture's log-rate mode): its delivery latency is
 * the time of receipt minus that. The search for it runs on the raw frame, not on parsed JSON, so
 * that the clients stay cheaper than the server; the first message of each socket is parsed and
 * checked.
 */
export interface ConnectSpec {
  url: string
  count: number
  /** The first message of every socket. */
  auth: Record<string, string>
  subscriptions: Array<{ channel: string, filters?: Record<string, unknown> }>
}

export interface Delivery {
  /** Log lines received by all sockets together, a second. */
  messagesPerSecond: number
  /** Mean frame size of a log line, bytes. */
  messageBytes: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Messages other than log lines, by type (e.g. `dropped`), and sockets closed while measuring, by code. */
  others: Record<string, number>
  closed: Record<string, number>
  /** First messages of a socket that were not `{ type: "event", channel: "server-logs", seq, data: { message } }`, and lines without a readable emit time. */
  malformed: number
  /** The clients' own CPU, percent of one core: near 100 means they, not the server, were the limit. */
  clientCpuPercent: number
}

type Command = { type: 'connect', spec: ConnectSpec } | { type: 'next' } | { type: 'measure', seconds: number, thenDisconnect: boolean } | { type: 'close' }
type Reply = { type: 'connected', ms: number } | { type: 'next' } | { type: 'measured', delivery: Delivery } | { type: 'closed' }

/** The parent's handle on the clients' process. */
export class Clients extends Forked<Command, Reply> {
  constructor () {
    super(new URL(import.meta.url), 'clients')
  }

  /** Opens the sockets; resolves once every one is authenticated and subscribed, with the ms it took. */
  async connect (spec: ConnectSpec): Promise<number> {
    return (await this.ask({ type: 'connect', spec }) as { ms: number }).ms
  }

  /** Resolves once a socket receives a log line after this call (the server's fixture has started logging). */
  async nextLine (): Promise<void> {
    await this.ask({ type: 'next' })
  }

  /**
   * What arrives over `seconds`. `thenDisconnect` cuts every socket off at once at the end (no
   * closing handshake, nothing more read).
   */
  async measure (seconds: number, thenDisconnect = false): Promise<Delivery> {
    return (await this.ask({ type: 'measure', seconds, thenDisconnect }) as { delivery: Delivery }).delivery
  }

  /** Closes every socket and waits until each is closed. */
  async close (): Promise<void> {
    await this.ask({ type: 'close' })
  }
}

// --- The clients' process ----------------------------------------------------

const EMIT = Buffer.from('emit=')
const OPENING_AT_ONCE = 50

let sockets: WebSocket[] = []
let onNextLine: (() => void) | undefined
let measuring: { latencies: ReturnType<typeof createHistogram>, messages: number, bytes: number, others: Record<string, number>, closed: Record<string, number>, malformed: number } | undefined

const now = () => performance.timeOrigin + performance.now()
const bump = (counts: Record<string, number>, key: string) => { counts[key] = (counts[key] ?? 0) + 1 }

/** `emit=<ms>` in a frame: the number after it, or NaN. */
function emitTime (data: Buffer, at: number): number {
  let end = at + EMIT.length
  while (end < data.length && ((data[end]! >= 48 && data[end]! <= 57) || data[end] === 46)) end++
  return Number(data.toString('latin1', at + EMIT.length, end))
}

function isLogEvent (message: unknown): boolean {
  const event = message as { type?: unknown, channel?: unknown, seq?: unknown, data?: { message?: unknown } } | null
  return event?.type === 'event' && event.channel === 'server-logs' && typeof event.seq === 'number' && typeof event.data?.message === 'string' && event.data.message.includes('emit=')
}

/** One socket: auth, then each subscription in turn; resolves when all are acknowledged. */
async function open (spec: ConnectSpec): Promise<WebSocket> {
  const socket = new WebSocket(spec.url)
  let checked = false
  await new Promise<void>((resolve, reject) => {
    let pending = spec.subscriptions.length
    const fail = (error: Error) => { socket.terminate(); reject(error) }
    socket.once('open', () => socket.send(JSON.stringify(spec.auth)))
    socket.once('error', fail)
    socket.once('close', (code, reason) => fail(new Error(`socket closed while connecting: ${code} ${reason.toString()}`)))
    socket.on('message', (data: Buffer) => {
      const at = data.indexOf(EMIT)
      if (at >= 0) {
        onNextLine?.()
        onNextLine = undefined
        if (measuring === undefined) return
        const latency = now() - emitTime(data, at)
        if (!Number.isFinite(latency)) {
          measuring.malformed++
          return
        }
        measuring.latencies.record(Math.max(1, Math.round(latency * 1000)))
        measuring.messages++
        measuring.bytes += data.length
        if (!checked) {
          checked = true
          if (!isLogEvent(JSON.parse(data.toString('utf8')))) measuring.malformed++
        }
        return
      }
      const message = JSON.parse(data.toString('utf8')) as { type: string, code?: string, message?: string }
      if (message.type === 'authenticated') {
        for (const subscription of spec.subscriptions) socket.send(JSON.stringify({ type: 'subscribe', ...subscription }))
        if (pending === 0) resolve()
      } else if (message.type === 'subscribed') {
        if (--pending === 0) resolve()
      } else if (message.type === 'error' && pending > 0) {
        fail(new Error(`${message.code ?? 'error'}: ${message.message ?? ''}`))
      } else if (measuring !== undefined) {
        bump(measuring.others, message.type)
      }
    })
  })
  socket.removeAllListeners('error').removeAllListeners('close')
  socket.on('error', () => {})
  socket.on('close', (code) => { if (measuring !== undefined) bump(measuring.closed, String(code)) })
  return socket
}

async function connect (spec: ConnectSpec): Promise<number> {
  const started = performance.now()
  for (let n = 0; n < spec.count; n += OPENING_AT_ONCE) {
    sockets.push(...await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, spec.count - n) }, async () => await open(spec))))
  }
  return Math.round(performance.now() - started)
}

async function measure (seconds: number): Promise<Delivery> {
  measuring = { latencies: createHistogram(), messages: 0, bytes: 0, others: {}, closed: {}, malformed: 0 }
  const cpu = process.cpuUsage()
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const elapsedMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  const { latencies, messages, bytes, others, closed, malformed } = measuring
  measuring = undefined
  const ms = (microseconds: number) => Number((microseconds / 1000).toFixed(2))
  return {
    messagesPerSecond: Math.round(messages / elapsedMs * 1000),
    messageBytes: messages === 0 ? 0 : Math.round(bytes / messages),
    p50Ms: ms(latencies.percentile(50)),
    p99Ms: ms(latencies.percentile(99)),
    maxMs: ms(latencies.max),
    others,
    closed,
    malformed,
    clientCpuPercent: Math.round((used.user + used.system) / 1000 / elapsedMs * 100)
  }
}

async function closeAll (cutOff = false): Promise<void> {
  await Promise.all(sockets.map(async (socket) => {
    if (socket.readyState === WebSocket.CLOSED) return
    const closed = new Promise((resolve) => socket.once('close', resolve))
    if (cutOff) socket.terminate()
    else socket.close()
    await closed
  }))
  sockets = []
}

async function handle (command: Command): Promise<Reply> {
  switch (command.type) {
    case 'connect': return { type: 'connected', ms: await connect(command.spec) }
    case 'next':
      await new Promise<void>((resolve) => { onNextLine = resolve })
      return { type: 'next' }
    case 'measure': {
      const delivery = await measure(command.seconds)
      if (command.thenDisconnect) await closeAll(true)
      return { type: 'measured', delivery }
    }
    case 'close':
      await closeAll()
      return { type: 'closed' }
  }
}

if (process.argv[2] === 'clients') serve(handle)
