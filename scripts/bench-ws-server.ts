import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { WebSocketServer } from 'ws'
import { childBaseEnv } from '../lib/config.ts'
import { benchConfig } from './bench-config.ts'
import { DEFAULT_LIMITS } from '../ws/limits.ts'
import { Forked, serve } from './bench-fork.ts'

/**
 * The servers of bench-ws.ts, each in a process of its own: under a fan-out it cannot keep up
 * with, a server's event loop can stay busy for minutes with the lines it has already read, so
 * the benchmark reads its CPU and memory from outside and ends it with SIGKILL.
 *
 * - `hub`: the hub (buildApp on PGlite) with three fixture servers: `echo` (running, for
 *   tools/call) and two loggers (stopped; in the fixture's log-rate mode once started), one
 *   for each of `RATES`.
 * - `bare`: the limit, a bare `ws` server that answers `auth` and `subscribe` at once and, once
 *   told to, sends each stderr line of a log-rate fixture of its own to every socket in the hub's
 *   envelope, serialized once to a Buffer (as the hub does). As the hub does, it drops a line
 *   for a socket with more than the hub's `softBytes` queued.
 */
export const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
export const ADMIN = { username: 'admin', password: 'bench-admin-password' }

/** The log rates of the fan-outs, lines a second: one this machine keeps up with, and the issue's. */
export const RATES = { light: 10, full: 1000 } as const
export type Rate = keyof typeof RATES

export interface HubStarted { type: 'started', port: number, token: string, echoKey: string, loggerIds: Record<Rate, string> }
type Command = { type: 'start', dataDir: string, maxSockets: number } | { type: 'memory' } | { type: 'flood', rate: Rate }
/** Bytes: the V8 heap in use, the memory outside it (Buffers and other C++ objects tied to JS objects), the resident set. */
export interface Memory { heap: number, external: number, rss: number }
type Reply = HubStarted | ({ type: 'memory' } & Memory) | { type: 'flooding' }

export class ServerProcess extends Forked<Command, Reply> {
  constructor (role: 'hub' | 'bare') {
    super(new URL(import.meta.url), role)
  }

  /** The hub: built, listening, with its servers; or the bare server: listening. */
  async start (dataDir: string, maxSockets: number): Promise<HubStarted> {
    return await this.ask({ type: 'start', dataDir, maxSockets }) as HubStarted
  }

  /** The memory in use after garbage collection. */
  async memory (): Promise<Memory> {
    return await this.ask({ type: 'memory' }) as Memory
  }

  /** The bare server: starts a fixture logging at `rate` (ending the one before) and broadcasts its lines. */
  async flood (rate: Rate): Promise<void> {
    await this.ask({ type: 'flood', rate })
  }
}

// --- The servers' process ----------------------------------------------------

async function startHub (dataDir: string, maxSockets: number): Promise<HubStarted> {
  // Loaded here: the bare server and the benchmark's driver need none of it.
  const [{ PGlite }, { buildApp }, { wrapPglite }] = await Promise.all([import('@electric-sql/pglite'), import('../app.ts'), import('../db/client.ts')])
  // All the benchmark's sockets are the admin's.
  const config = benchConfig(dataDir, ADMIN, { wsMaxSocketsPerUser: maxSockets })
  // 1,000 lines a second is the default cap: the fixture's jitter must not lose lines at the edge of a second.
  const app = await buildApp({ config, database: wrapPglite(await PGlite.create()), print: () => {}, supervisorPolicy: { maxLinesPerSecond: 2000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const call = async (url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const response = await app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) })
    if (response.statusCode >= 300) throw new Error(`POST ${url}: HTTP ${response.statusCode}: ${response.body}`)
    return (response.json() as { data: Record<string, string> }).data
  }
  const { token } = await call('/api/auth/login', ADMIN)
  const auth = { authorization: `Bearer ${token!}` }
  const echo = await call('/api/servers', { name: 'echo', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false }, auth)
  await call(`/api/servers/${echo.id!}/start`, undefined, auth)
  // FIXTURE_LOG_RATE stays unset at 1,000: the hub would redact that value, four characters long, from the lines.
  const light = await call('/api/servers', { name: 'light-logger', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'log-rate', FIXTURE_LOG_RATE: String(RATES.light) }, enabled: false }, auth)
  const full = await call('/api/servers', { name: 'logger', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'log-rate' }, enabled: false }, auth)
  return { type: 'started', port: (app.server.address() as { port: number }).port, token: token!, echoKey: echo.key!, loggerIds: { light: light.id!, full: full.id! } }
}

let bare: WebSocketServer | undefined

async function startBare (): Promise<HubStarted> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(server, 'listening')
  server.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { type: string, channel?: string }
      if (message.type === 'auth') socket.send(JSON.stringify({ type: 'authenticated', user: { id: randomUUID(), username: ADMIN.username, role: 'admin' } }))
      if (message.type === 'subscribe') socket.send(JSON.stringify({ type: 'subscribed', channel: message.channel, subscriptionId: randomUUID() }))
    })
  })
  bare = server
  return { type: 'started', port: (server.address() as { port: number }).port, token: 'bare', echoKey: '', loggerIds: { light: randomUUID(), full: randomUUID() } }
}

let logger: ChildProcess | undefined

function flood (server: WebSocketServer, rate: Rate): void {
  logger?.kill('SIGKILL')
  // Its stdin stays open: the fixture ends when this process does.
  const child = spawn(process.execPath, [FIXTURE], { env: { ...childBaseEnv(process.env), FIXTURE_MODE: 'log-rate', FIXTURE_LOG_RATE: String(RATES[rate]) }, stdio: ['pipe', 'ignore', 'pipe'] })
  logger = child
  // What the hub's MCP client sends once connected: the fixture starts logging.
  child.stdin!.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
  const serverId = randomUUID()
  let seq = 0
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (child !== logger) return
    const time = new Date().toISOString()
    const frame = Buffer.from(JSON.stringify({ type: 'event', channel: 'server-logs', seq: ++seq, timestamp: time, data: { serverId, name: 'logger', time, level: 'info', source: 'stderr', message: line } }))
    for (const socket of server.clients) {
      if (socket.bufferedAmount <= DEFAULT_LIMITS.softBytes) socket.send(frame, { binary: false })
    }
  })
}

async function handle (role: string, command: Command): Promise<Reply> {
  switch (command.type) {
    case 'start': return role === 'hub' ? await startHub(command.dataDir, command.maxSockets) : await startBare()
    case 'memory': {
      const collectGarbage = runInNewContext('gc') as () => void
      collectGarbage()
      collectGarbage()
      const { heapUsed, external, rss } = process.memoryUsage()
      return { type: 'memory', heap: heapUsed, external, rss }
    }
    case 'flood':
      flood(bare!, command.rate)
      return { type: 'flooding' }
  }
}

const role = process.argv[2]
if (role === 'hub' || role === 'bare') {
  setFlagsFromString('--expose-gc')
  serve((command: Command) => handle(role, command))
}
