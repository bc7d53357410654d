import type { ChildProcess } from 'node:child_process'
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type ClientOptions, type FetchLike, type Prompt, type Resource, type ResourceTemplateType, type Tool, type Transport } from '@modelcontextprotocol/client'
import { execa, type ResultPromise } from 'execa'
import { Callers, CLIENT_REQUESTS } from './callers.ts'
import { LOG_LEVELS, LogBuffer, type LogBufferLimits, type LogLevel } from './log-buffer.ts'
import { readLines } from './line-reader.ts'
import { Redactor } from './redact.ts'
import { groupAlive, signalGroup, sleep, waitGroupGone } from './process-group.ts'
import { ChildStdioTransport } from './stdio-transport.ts'

/**
 * `stopped → starting → running → stopping → stopped`; a crash of an enabled server goes to
 * `backoff` and back to `starting`; a crash loop, or a program that cannot run, ends in `error`
 * until someone starts it again.
 */
export const SERVER_STATES = ['stopped', 'starting', 'running', 'stopping', 'backoff', 'error'] as const
export type ServerState = typeof SERVER_STATES[number]

/** How the hub reaches a server: a program it runs and speaks to over stdio, or a remote URL. */
export const SERVER_TYPES = ['stdio', 'streamable-http', 'sse'] as const
export type ServerType = typeof SERVER_TYPES[number]

/** How often a remote server is pinged when its record sets nothing. */
export const DEFAULT_KEEP_ALIVE_MS = 30_000

/** A remote server: where it is and what the hub sends it. */
export interface RemoteSpec {
  type: Exclude<ServerType, 'stdio'>
  url: string
  /** Sent with every request, decrypted (secrets: redacted from its logs like a child's env). */
  headers: Record<string, string>
  /** ms between pings that check the connection is alive. */
  keepAliveMs: number
}

/** What the supervisor runs: always built from a stored server record. */
export interface ServerSpec {
  id: string
  name: string
  /** The server's key (its `/mcp/servers/{key}` path and tool prefix). */
  key: string
  command: string
  args: string[]
  /** The server's own variables, decrypted. */
  env: Record<string, string>
  cwd: string | null
  enabled: boolean
  /** ms a start may take (spawn, MCP initialize, first listing); null: the policy's default for the command. */
  startTimeoutMs?: number | null
  /** Set for a remote server (`command`, `args`, `env` and `cwd` are then unused); absent for stdio. */
  remote?: RemoteSpec
}

export interface SupervisorPolicy {
  /** The start timeout of a server that sets none. */
  startTimeoutMs: number
  /** The same for a package runner (npx, uvx…), whose first start may download the package. */
  packageRunnerStartTimeoutMs: number
  /** After closing stdin, how long to wait before SIGTERM. */
  stdinGraceMs: number
  /** Default wait between SIGTERM and SIGKILL. */
  stopTimeoutMs: number
  backoffBaseMs: number
  backoffMaxMs: number
  /** ± this fraction of random jitter on each delay. */
  backoffJitter: number
  /** This many failures within `failureWindowMs` end in `error`. */
  maxFailures: number
  failureWindowMs: number
  /** A run this long counts as healthy and clears earlier failures. */
  healthyAfterMs: number
  maxMessageBytes: number
  log: LogBufferLimits
  /** Lines per second a server may log before the excess is dropped and counted. */
  maxLinesPerSecond: number
}

export const DEFAULT_POLICY: SupervisorPolicy = {
  startTimeoutMs: 30_000,
  packageRunnerStartTimeoutMs: 120_000,
  stdinGraceMs: 2000,
  stopTimeoutMs: 10_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 5 * 60_000,
  backoffJitter: 0.2,
  maxFailures: 5,
  failureWindowMs: 10 * 60_000,
  healthyAfterMs: 10 * 60_000,
  maxMessageBytes: 16 * 1024 * 1024,
  log: { maxLines: 2000, maxBytes: 2 * 1024 * 1024, maxLineBytes: 16 * 1024 },
  maxLinesPerSecond: 1000
}

/** Programs that fetch a package before running it, and those that do so with a subcommand (`pnpm dlx`). */
const PACKAGE_RUNNERS = new Set(['npx', 'pnpx', 'bunx', 'uvx', 'pipx'])
const PACKAGE_RUNNER_SUBCOMMANDS: Record<string, string> = { pnpm: 'dlx', yarn: 'dlx', npm: 'exec', bun: 'x' }

/** Whether a command downloads what it runs on first use (npx, uvx, pnpm dlx…). */
export function isPackageRunner (command: string, args: string[]): boolean {
  const program = (command.split(/[\\/]/).pop() ?? '').replace(/\.(cmd|exe)$/i, '')
  return PACKAGE_RUNNERS.has(program) || (PACKAGE_RUNNER_SUBCOMMANDS[program] !== undefined && args[0] === PACKAGE_RUNNER_SUBCOMMANDS[program])
}

/** The start timeout a server gets: its own, or the default for its kind of command. */
export function startTimeoutOf (spec: Pick<ServerSpec, 'command' | 'args' | 'startTimeoutMs' | 'remote'>, policy: Pick<SupervisorPolicy, 'startTimeoutMs' | 'packageRunnerStartTimeoutMs'> = DEFAULT_POLICY): number {
  return spec.startTimeoutMs ?? (spec.remote === undefined && isPackageRunner(spec.command, spec.args) ? policy.packageRunnerStartTimeoutMs : policy.startTimeoutMs)
}

export interface Catalog {
  tools: Tool[]
  prompts: Prompt[]
  resources: Resource[]
  resourceTemplates: ResourceTemplateType[]
}

export interface ServerStatus {
  state: ServerState
  pid: number | null
  startedAt: Date | null
  lastRestart: Date | null
  lastExit: { code: number | null, signal: string | null, at: Date } | null
  restartCount: number
  nextRetryAt: Date | null
  lastError: string | null
  droppedLogLines: number
  /** Lines on stdout that were not MCP messages (logged, never forwarded). */
  nonMcpStdoutLines: number
  /** The start timeout in force (the server's own, or the default for its command). */
  startTimeoutMs: number
}

export interface ManagedServerHooks {
  /** The environment every child starts from (PATH, HOME, LANG…), never the hub's own. */
  baseEnv: Record<string, string>
  onStatus: (server: ManagedServer) => void
  onCatalog: (server: ManagedServer) => void
  /** The server says a resource changed (for the clients subscribed to it). */
  onResourceUpdated: (server: ManagedServer, uri: string) => void
  /** The process group of a new child, or null when it has gone (for leftover cleanup). */
  onProcessGroup: (serverId: string, pgid: number | null) => void
  /** A failed start, a crash, a give-up, a stop that needed SIGKILL: for the hub's own log. */
  onProblem?: (server: ManagedServer, level: 'warning' | 'error', message: string) => void
  /** The only way to a remote server: the egress guard's fetch (checked, pinned, bounded, no redirects); without it, remote servers cannot start. */
  fetch?: FetchLike
}

export const EMPTY_CATALOG: Catalog = { tools: [], prompts: [], resources: [], resourceTemplates: [] }
const HUB_INFO = { name: 'mcphub', version: '0.1.0' }

const MAX_PAGES = 100

/**
 * Why a spawn failed, without the values involved (Node's message for a NUL byte quotes the
 * variable's value: a secret).
 */
function spawnFailure (error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown, message?: unknown }
  if (code === 'ERR_INVALID_ARG_VALUE' || String(message).includes('null bytes')) return 'a NUL character in the command, args, env or cwd'
  return typeof code === 'string' ? code : 'the process could not be spawned'
}

/** Where a remote server is, for its log: its origin and path, never its query (it may hold a token). */
function where (url: URL): string {
  return `${url.origin}${url.pathname}`
}

function exitDescription (exit: { code: number | null, signal: string | null }): string {
  return exit.signal === null ? `exited with code ${exit.code}` : `killed by ${exit.signal}`
}

/** Every item of a paginated list (up to a sane number of pages). */
async function allPages<T> (list: (cursor: string | undefined) => Promise<[T[], string | undefined]>): Promise<T[]> {
  const items: T[] = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_PAGES; page++) {
    const [more, next] = await list(cursor)
    items.push(...more)
    if (next === undefined) break
    cursor = next
  }
  return items
}

/** Owns one MCP server process: every transition happens here, one operation at a time. */
export class ManagedServer {
  readonly logs: LogBuffer
  /** The calls in flight, and the clients that the server's own requests and log messages go to. */
  readonly callers = new Callers()
  spec: ServerSpec
  readonly #policy: SupervisorPolicy
  readonly #hooks: ManagedServerHooks
  #state: ServerState = 'stopped'
  #child: ChildProcess | undefined
  #client: Client | undefined
  #transport: ChildStdioTransport | undefined
  #catalog: Catalog = EMPTY_CATALOG
  #exited: Promise<void> = Promise.resolve()
  #queue: Promise<unknown> = Promise.resolve()
  #retryTimer: NodeJS.Timeout | undefined
  #failures: number[] = []
  #stopping = false
  /** When the current child was spawned: its uptime when it exits. */
  #spawnedAt = 0
  /** A remote server's pings, while it is connected. */
  #keepAlive: NodeJS.Timeout | undefined
  /** A check of a remote connection is under way (after a transport error). */
  #checking = false
  #status: Omit<ServerStatus, 'state' | 'pid' | 'startTimeoutMs'> = { startedAt: null, lastRestart: null, lastExit: null, restartCount: 0, nextRetryAt: null, lastError: null, droppedLogLines: 0, nonMcpStdoutLines: 0 }
  #rateWindow = { second: 0, lines: 0 }
  /** The spec the running child or connection was started with: its values are still secrets after the spec changes. */
  #launched: ServerSpec
  #redaction: { launched: ServerSpec, spec: ServerSpec, redactor: Redactor } | undefined
  /** Aborted by stop and restart, so that they never wait for a start in progress to time out. */
  #launching: AbortController | undefined
  /** Counts stops and restarts asked for, so that a start queued before one of them does not run after it. */
  #stops = 0

  constructor (spec: ServerSpec, policy: SupervisorPolicy, hooks: ManagedServerHooks) {
    this.spec = spec
    this.#launched = spec
    this.#policy = policy
    this.#hooks = hooks
    this.logs = new LogBuffer(policy.log)
  }

  get state (): ServerState {
    return this.#state
  }

  get client (): Client | undefined {
    return this.#state === 'running' ? this.#client : undefined
  }

  /** The running server's connection, for requests the gateway passes through past the client. */
  get transport (): ChildStdioTransport | undefined {
    return this.#state === 'running' ? this.#transport : undefined
  }

  get catalog (): Catalog {
    return this.#catalog
  }

  status (): ServerStatus {
    return { state: this.#state, pid: this.#child?.pid ?? null, ...this.#status, startTimeoutMs: startTimeoutOf(this.spec, this.#policy) }
  }

  /** Starts the server; a manual start also clears a crash loop's `error`. */
  start (): Promise<void> {
    const stops = this.#stops
    return this.#enqueue(async () => {
      // A stop or restart asked for after this start wins.
      if (stops !== this.#stops || this.#state === 'running' || this.#state === 'starting') return
      this.#clearRetry()
      this.#failures = []
      await this.#launch()
    })
  }

  /** Stops the server: stdin closed, then SIGTERM, then SIGKILL, to the whole group. Never rejects. */
  stop (options: { graceful?: boolean, timeoutMs?: number } = {}): Promise<void> {
    this.#stops++
    this.#launching?.abort()
    return this.#enqueue(async () => {
      this.#clearRetry()
      await this.#terminate(options.graceful ?? true, options.timeoutMs ?? this.#policy.stopTimeoutMs)
      this.#setState('stopped')
    })
  }

  restart (): Promise<void> {
    this.#stops++
    this.#launching?.abort()
    return this.#enqueue(async () => {
      this.#clearRetry()
      await this.#terminate(true, this.#policy.stopTimeoutMs)
      this.#failures = []
      this.#status.lastRestart = new Date()
      this.#status.restartCount++
      await this.#launch()
    })
  }

  #enqueue (operation: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(operation, operation)
    this.#queue = next.catch(() => {})
    return next.catch((error: unknown) => {
      this.#fail(error instanceof Error ? error.message : String(error))
    })
  }

  #setState (state: ServerState): void {
    this.#state = state
    if (state !== 'backoff') this.#status.nextRetryAt = null
    this.#hooks.onStatus(this)
  }

  #fail (message: string): void {
    this.#status.lastError = message
    this.#problem('error', message)
    this.#setState('error')
  }

  /** A supervisor event that the hub's log shows too. */
  #problem (level: 'warning' | 'error', message: string): void {
    this.#event(level, message)
    this.#hooks.onProblem?.(this, level, message)
  }

  /** A supervisor event in the server's log. */
  #event (level: LogLevel, message: string): void {
    this.logs.add(level, 'supervisor', message)
  }

  /** A line from the child (`cutFromBytes`: its length, if it was cut already), after the rate limit and redaction of its secrets. */
  #childLine (level: LogLevel, source: 'stderr' | 'mcp', line: string, cutFromBytes?: number): void {
    const second = Math.floor(Date.now() / 1000)
    if (second !== this.#rateWindow.second) {
      if (this.#rateWindow.lines > this.#policy.maxLinesPerSecond) {
        this.#event('warning', `${this.#rateWindow.lines - this.#policy.maxLinesPerSecond} log lines dropped (over ${this.#policy.maxLinesPerSecond}/s)`)
      }
      this.#rateWindow = { second, lines: 0 }
    }
    if (++this.#rateWindow.lines > this.#policy.maxLinesPerSecond) {
      this.#status.droppedLogLines++
      return
    }
    this.logs.add(level, source, this.#redactor().line(line, this.#policy.log.maxLineBytes, cutFromBytes))
  }

  /**
   * Redacts the server's configured values (its secrets: env values, remote headers): those it
   * was started with and those of the spec.
   */
  #redactor (): Redactor {
    const cached = this.#redaction
    if (cached?.launched === this.#launched && cached.spec === this.spec) return cached.redactor
    const secrets = (spec: ServerSpec) => [...Object.values(spec.env), ...Object.values(spec.remote?.headers ?? {})]
    const redactor = new Redactor(new Set([...secrets(this.#launched), ...secrets(this.spec)]))
    this.#redaction = { launched: this.#launched, spec: this.spec, redactor }
    return redactor
  }

  /** An error's message as the server's log and status may show it. */
  #reason (error: unknown): string {
    return this.#redactor().line(error instanceof Error ? error.message : String(error), this.#policy.log.maxLineBytes)
  }

  async #launch (): Promise<void> {
    this.#launching = new AbortController()
    try {
      if (this.spec.remote === undefined) await this.#spawnAndConnect(this.#launching.signal)
      else await this.#connectRemote(this.spec.remote, this.#launching.signal)
    } finally {
      this.#launching = undefined
    }
  }

  /** Rejects when the start is abandoned (a stop or restart came) or takes longer than the start timeout. */
  #bounded<T> (work: Promise<T>, signal: AbortSignal, timeoutMs: number, message: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', abandoned)
        settle()
      }
      const abandoned = () => finish(() => reject(new Error('start abandoned')))
      const timer = setTimeout(() => finish(() => reject(new Error(message))), timeoutMs)
      if (signal.aborted) abandoned()
      signal.addEventListener('abort', abandoned, { once: true })
      work.then((value) => finish(() => resolve(value)), (error: unknown) => finish(() => reject(error)))
    })
  }

  async #spawnAndConnect (signal: AbortSignal): Promise<void> {
    this.#setState('starting')
    this.#status.lastError = null
    const spec = this.spec
    const timeoutMs = startTimeoutOf(spec, this.#policy)
    this.#launched = spec
    let subprocess: ResultPromise<{ buffer: false, reject: false }>
    try {
      subprocess = execa(spec.command, spec.args, {
        cwd: spec.cwd ?? undefined,
        env: { ...this.#hooks.baseEnv, ...spec.env, MCPHUB_SERVER_ID: spec.id },
        extendEnv: false,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
        detached: true,
        cleanup: true,
        reject: false
      })
    } catch (error) {
      throw new Error(`Cannot start ${spec.command}: ${spawnFailure(error)}`)
    }
    subprocess.catch(() => {})
    // The long-lived child is used through its ChildProcess side: events, pid, pipes.
    const child = subprocess.nodeChildProcess
    // A spawn that throws (a NUL byte in an old stored record, say) emits neither `spawn` nor
    // `error`: execa settles its result instead. Whatever happens, the wait is bounded.
    let spawnError: string | undefined
    try {
      spawnError = await this.#bounded(new Promise<string | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined))
        child.once('error', (error) => resolve(spawnFailure(error)))
        subprocess.then((result) => resolve(spawnFailure(result)), (error: unknown) => resolve(spawnFailure(error)))
      }), signal, timeoutMs, `the process did not spawn within ${timeoutMs} ms`)
    } catch (error) {
      // Whenever it does spawn, it goes at once.
      child.once('spawn', () => { if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL') })
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
      if (signal.aborted) return
      throw error
    }
    if (spawnError !== undefined) {
      // ENOENT, EACCES…: retrying cannot help.
      throw new Error(`Cannot start ${spec.command}: ${spawnError}`)
    }
    const pid = child.pid!
    this.#child = child
    this.#stopping = false
    this.#spawnedAt = Date.now()
    this.#hooks.onProcessGroup(spec.id, pid)
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#onExit(child, code, signal)
        resolve()
      })
    })
    this.#event('info', `started pid ${pid}`)

    readLines(child.stderr!, {
      maxLineBytes: this.#policy.log.maxLineBytes,
      onLine: (line) => this.#childLine('info', 'stderr', line),
      onOverflow: (head, bytes) => this.#childLine('info', 'stderr', head, bytes)
    })
    const transport = new ChildStdioTransport({
      stdin: child.stdin!,
      stdout: child.stdout!,
      maxMessageBytes: this.#policy.maxMessageBytes,
      onNoise: (line) => {
        this.#status.nonMcpStdoutLines++
        this.#childLine('warning', 'stderr', `non-MCP output on stdout: ${line}`)
      },
      onOversize: (bytes) => {
        this.#status.lastError = `MCP message of ${bytes} bytes exceeds the ${this.#policy.maxMessageBytes}-byte limit`
        this.#event('error', `${this.#status.lastError}; killing the process`)
        signalGroup(pid, 'SIGKILL')
      }
    })
    child.stdin!.on('error', () => {})
    const client = this.#newClient()
    this.#client = client
    this.#transport = transport
    try {
      await this.#bounded(client.connect(transport), signal, timeoutMs, `no MCP initialize response within ${timeoutMs} ms`)
      await this.#bounded(this.#refreshCatalog(client), signal, timeoutMs, `no tools, prompts and resources listed within ${timeoutMs} ms`)
    } catch (error) {
      // The SDK's message may quote what the server answered: redacted like its output.
      const reason = this.#status.lastError ?? this.#reason(error)
      await this.#terminate(false, 0)
      // An exit status other than our SIGKILL: the child ended by itself (its stdout may close before its exit is seen).
      const exit = this.#status.lastExit
      const exitedByItself = exit !== null && exit.at.getTime() >= this.#spawnedAt && exit.signal !== 'SIGKILL'
      if (!signal.aborted) this.#crashed(exitedByItself ? `${exitDescription(exit)} during its start (${reason})` : reason, 'start')
      return
    }
    this.#running()
  }

  /** A client for the server: what the hub's clients may offer, the hub offers, each request going to the client whose call it serves. */
  #newClient (options: ClientOptions = {}): Client {
    const client = new Client(HUB_INFO, { ...options, capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} } })
    for (const method of CLIENT_REQUESTS) {
      client.setRequestHandler(method, async (request, ctx) => await this.callers.ask(method, request.params, ctx.mcpReq.signal) as never)
    }
    client.setNotificationHandler('notifications/message', (notification) => {
      const { level, data } = notification.params
      this.#childLine(LOG_LEVELS.includes(level) ? level : 'info', 'mcp', typeof data === 'string' ? data : JSON.stringify(data))
      this.callers.log(notification.params)
    })
    client.setNotificationHandler('notifications/resources/updated', (notification) => {
      this.#hooks.onResourceUpdated(this, notification.params.uri)
    })
    for (const method of ['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/list_changed'] as const) {
      client.setNotificationHandler(method, () => { this.#refreshCatalog(client).catch(() => {}) })
    }
    return client
  }

  #running (detail = ''): void {
    this.#status.startedAt = new Date()
    this.#setState('running')
    this.#event('info', `running${detail}: ${this.#catalog.tools.length} tools, ${this.#catalog.prompts.length} prompts, ${this.#catalog.resources.length} resources`)
  }

  /**
   * Connects to a remote server through the egress guard, with the hub's configured headers
   * only (never a client's credentials), in whichever protocol era the server speaks.
   */
  async #connectRemote (remote: RemoteSpec, signal: AbortSignal): Promise<void> {
    this.#setState('starting')
    this.#status.lastError = null
    this.#launched = this.spec
    const timeoutMs = startTimeoutOf(this.spec, this.#policy)
    const { fetch } = this.#hooks
    if (fetch === undefined) throw new Error('remote servers need the egress guard, and this supervisor has none')
    const url = new URL(remote.url)
    // Redirects are left to the guard's fetch, which never follows them: a 3xx fails the request.
    const options = { fetch, redirectPolicy: 'follow' as const, requestInit: { headers: remote.headers, redirect: 'manual' as const } }
    // Its own reconnection of a dropped event stream is the SDK's; a connection that stays lost is ours (backoff).
    const transport: Transport = remote.type === 'sse' ? new SSEClientTransport(url, options) : new StreamableHTTPClientTransport(url, options)
    const client = this.#newClient({ versionNegotiation: { mode: 'auto' } })
    client.onclose = () => { this.#connectionLost(client, 'the connection closed') }
    client.onerror = (error) => { this.#transportError(client, remote, error) }
    this.#client = client
    this.#event('info', `connecting to ${where(url)} (${remote.type})`)
    try {
      await this.#bounded(client.connect(transport), signal, timeoutMs, `no MCP initialize response within ${timeoutMs} ms`)
      await this.#bounded(this.#refreshCatalog(client), signal, timeoutMs, `no tools, prompts and resources listed within ${timeoutMs} ms`)
      if (client.getProtocolEra() === 'modern') await this.#bounded(this.#listenForChanges(client), signal, timeoutMs, `no subscriptions/listen acknowledgement within ${timeoutMs} ms`)
    } catch (error) {
      const reason = this.#reason(error)
      this.#disconnect(client)
      if (!signal.aborted) this.#crashed(reason, 'start')
      return
    }
    this.#running(` (protocol ${client.getNegotiatedProtocolVersion?.() ?? 'unknown'})`)
    this.#keepAlive = setInterval(() => { this.#check(client, remote, 'no answer to a ping') }, remote.keepAliveMs)
    this.#keepAlive.unref()
  }

  /**
   * A 2026-07-28 server announces changed lists only on a `subscriptions/listen` stream; they
   * reach the same handlers as a 2025 server's notifications.
   */
  async #listenForChanges (client: Client): Promise<void> {
    const { tools, prompts, resources } = client.getServerCapabilities() ?? {}
    const filter = { toolsListChanged: tools?.listChanged === true, promptsListChanged: prompts?.listChanged === true, resourcesListChanged: resources?.listChanged === true }
    if (!Object.values(filter).some(Boolean)) return
    await client.listen(filter).catch((error: unknown) => { this.#event('warning', `list changes will not be seen: ${this.#reason(error)}`) })
  }

  /** A failed request or event stream: a lost session ends the connection, anything else is checked with a ping. */
  #transportError (client: Client, remote: RemoteSpec, error: Error): void {
    if (client !== this.#client || this.#state !== 'running') return
    const reason = this.#reason(error)
    this.#event('warning', `connection: ${reason}`)
    // The upstream forgot the session (it restarted): re-initialize. An SSE session lives on its stream.
    if ((error as { status?: unknown }).status === 404 || remote.type === 'sse') this.#connectionLost(client, reason)
    else this.#check(client, remote, reason)
  }

  /**
   * Pings the server (`server/discover` in the 2026-07-28 protocol, which has no ping); no answer
   * within the keep-alive interval (10 s at most) ends the connection.
   */
  #check (client: Client, remote: RemoteSpec, reason: string): void {
    if (this.#checking) return
    this.#checking = true
    const options = { timeout: Math.min(remote.keepAliveMs, 10_000) }
    const probe = client.getProtocolEra() === 'modern' ? client.discover(options) : client.ping(options)
    probe.then(
      () => { this.#checking = false },
      (error: unknown) => {
        this.#checking = false
        this.#connectionLost(client, `${reason}: ${this.#reason(error)}`)
      })
  }

  /** The connection of a running remote server failed: as a crash of a child, it backs off and reconnects. */
  #connectionLost (client: Client, reason: string): void {
    if (client !== this.#client || this.#stopping || this.#state !== 'running') return
    const ranMs = Date.now() - (this.#status.startedAt?.getTime() ?? Date.now())
    this.#disconnect(client)
    this.#event('warning', `connection lost after ${(ranMs / 1000).toFixed(1)} s: ${reason}`)
    if (ranMs >= this.#policy.healthyAfterMs) this.#failures = []
    this.#crashed(`connection lost: ${reason}`, 'crash')
  }

  /** Forgets a remote connection and its catalog; the session is closed in the background. */
  #disconnect (client: Client): void {
    clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
    if (client !== this.#client) return
    this.#client = undefined
    client.onclose = undefined
    client.onerror = undefined
    client.close().catch(() => {})
    if (this.#catalog !== EMPTY_CATALOG) {
      this.#catalog = EMPTY_CATALOG
      this.#hooks.onCatalog(this)
    }
  }

  async #refreshCatalog (client: Client): Promise<void> {
    const capabilities = client.getServerCapabilities() ?? {}
    const tools = capabilities.tools ? await allPages(async (cursor) => { const page = await client.listTools({ cursor }); return [page.tools, page.nextCursor] }) : []
    const prompts = capabilities.prompts ? await allPages(async (cursor) => { const page = await client.listPrompts({ cursor }); return [page.prompts, page.nextCursor] }) : []
    const resources = capabilities.resources ? await allPages(async (cursor) => { const page = await client.listResources({ cursor }); return [page.resources, page.nextCursor] }) : []
    // Templates are optional even for servers with resources.
    const resourceTemplates = capabilities.resources
      ? await allPages(async (cursor) => { const page = await client.listResourceTemplates({ cursor }); return [page.resourceTemplates, page.nextCursor] }).catch(() => [])
      : []
    // The connection may have closed meanwhile (the child exited): a list that failed with it
    // is not an answer, and a dead child's catalog is not the server's.
    if (client.transport === undefined) throw new Error('the connection closed before the tools, prompts and resources were listed')
    this.#catalog = { tools, prompts, resources, resourceTemplates }
    this.#hooks.onCatalog(this)
  }

  #onExit (child: ChildProcess, code: number | null, signal: string | null): void {
    if (child !== this.#child) return
    const ranMs = this.#status.startedAt === null ? 0 : Date.now() - this.#status.startedAt.getTime()
    this.#status.lastExit = { code, signal, at: new Date() }
    const uptime = `after ${((Date.now() - this.#spawnedAt) / 1000).toFixed(1)} s`
    this.#event(code === 0 || this.#stopping ? 'info' : 'warning', `${exitDescription(this.#status.lastExit)} ${uptime}`)
    // Whatever the child left behind in its group goes with it.
    if (child.pid !== undefined && groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL')
    this.#hooks.onProcessGroup(this.spec.id, null)
    this.#client?.close().catch(() => {})
    this.#child = undefined
    this.#client = undefined
    this.#transport = undefined
    this.#catalog = EMPTY_CATALOG
    this.#hooks.onCatalog(this)
    if (this.#stopping || this.#state !== 'running') return
    if (ranMs >= this.#policy.healthyAfterMs) this.#failures = []
    this.#crashed(`${exitDescription(this.#status.lastExit)} ${uptime}`, 'crash')
  }

  /**
   * After a failed start or a crash: back off and retry, or give up. A failed start (timeout,
   * exit before initialize) always retries within the budget: someone asked the server to run.
   * A crash of a running server does only when it is enabled ("restart after crashes").
   */
  #crashed (reason: string, kind: 'start' | 'crash'): void {
    this.#status.lastError = reason
    this.#status.startedAt = null
    if (kind === 'crash' && !this.spec.enabled) {
      this.#fail(`crashed (not enabled, so not restarted): ${reason}`)
      return
    }
    const now = Date.now()
    this.#failures = [...this.#failures.filter((at) => now - at < this.#policy.failureWindowMs), now]
    if (this.#failures.length >= this.#policy.maxFailures) {
      this.#fail(`gave up after ${this.#failures.length} failures in ${Math.round(this.#policy.failureWindowMs / 60_000)} min: ${reason}`)
      return
    }
    const { backoffBaseMs, backoffMaxMs, backoffJitter } = this.#policy
    const base = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.#failures.length - 1))
    const delay = Math.round(base * (1 + backoffJitter * (2 * Math.random() - 1)))
    this.#status.nextRetryAt = new Date(now + delay)
    this.#problem('warning', `${kind === 'start' ? 'start failed' : 'crashed'}, restarting in ${delay} ms (failure ${this.#failures.length} of ${this.#policy.maxFailures}): ${reason}`)
    this.#state = 'backoff'
    this.#hooks.onStatus(this)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#enqueue(async () => {
        if (this.#state !== 'backoff') return
        this.#status.lastRestart = new Date()
        this.#status.restartCount++
        await this.#launch()
      }).catch(() => {})
    }, delay)
    this.#retryTimer.unref()
  }

  #clearRetry (): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  /** Ends the child and its whole process group, or a remote server's session, within bounded time. */
  async #terminate (graceful: boolean, timeoutMs: number): Promise<void> {
    const client = this.#client
    // Without a child, a client is a remote server's connection.
    if (this.#child === undefined) {
      if (client === undefined) return
      this.#stopping = true
      this.#setState('stopping')
      const transport = client.transport
      // Ends the upstream session (DELETE), bounded: the server may be gone.
      if (graceful && transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
        await Promise.race([transport.terminateSession().catch(() => {}), sleep(Math.min(timeoutMs, 2000))])
      }
      this.#disconnect(client)
      this.#stopping = false
      this.#event('info', 'disconnected')
      return
    }
    const child = this.#child
    if (child === undefined || child.pid === undefined) return
    const pid = child.pid
    this.#stopping = true
    this.#setState('stopping')
    const exited = this.#exited
    const waitExit = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)])
    if (graceful) {
      child.stdin?.end()
      if (!await waitExit(Math.min(this.#policy.stdinGraceMs, timeoutMs))) {
        signalGroup(pid, 'SIGTERM')
        if (!await waitExit(timeoutMs)) this.#problem('warning', `did not stop within ${timeoutMs} ms of SIGTERM; killing`)
      }
    }
    signalGroup(pid, 'SIGKILL')
    await waitExit(5000)
    await waitGroupGone(pid, 2000)
    this.#event('info', 'stopped')
  }
}
