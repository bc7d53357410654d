import { performance } from 'node:perf_hooks'
import type { EventBus } from '../events/bus.ts'
import type { ChannelData } from '../events/schemas.ts'
import { SERVER_STATES, type ServerState } from '../supervisor/managed-server.ts'
import { ChildProcesses, HubProcess } from './process-stats.ts'
import type { MetricRecorder } from './recorder.ts'

/** The gauges other parts of the hub report by a function the sampler reads. */
export type ReportedGauge = 'mcpSessions' | 'wsConnections'

/** What the sampler needs to know of a server. */
export interface ServerSample {
  id: string
  key: string
  state: ServerState
  /** Its child's pid (the id of the child's process group), while it has one. */
  pid: number | null
}

export interface SamplerOptions {
  recorder: MetricRecorder
  events: EventBus
  /** ms between samples of the gauges; while someone listens to `monitoring`, a sample every second. */
  sampleMs: number
  now: () => number
  servers: () => readonly ServerSample[]
  database: () => { size: number, waiting: number }
  onError: (error: Error) => void
}

/** The shortest `interval` of a `monitoring` subscription. */
const MONITORING_TICK_MS = 1000
/** A tick a few ms early still takes its sample. */
const TICK_SLACK = 0.9

/**
 * Samples every gauge of the catalog: the hub's process, its children (CPU and memory of their
 * process groups), the servers' states, the database pool and what the gateway and `/ws` report.
 * Each sample goes to the recorder and, while someone listens, to the `monitoring` channel.
 */
export class Sampler {
  readonly #options: SamplerOptions
  readonly #reported = new Map<ReportedGauge, () => number>()
  #hub: HubProcess | undefined
  readonly #children = new ChildProcesses()
  #timer: NodeJS.Timeout | undefined
  #lastSampleAt = -Infinity
  #requests = 0
  #busy = false
  /** Series of the previous sample that may vanish (a server removed or stopped): removed from `/metrics` then. */
  #serverKeys = new Set<string>()
  #childKeys = new Set<string>()

  constructor (options: SamplerOptions) {
    this.#options = options
  }

  /** Reports a gauge by the function that reads it. */
  report (name: ReportedGauge, read: () => number): void {
    this.#reported.set(name, read)
  }

  /** One more HTTP request answered (for the `monitoring` channel's rate). */
  requestAnswered (): void {
    this.#requests++
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#hub = new HubProcess()
    this.#timer = setInterval(() => { this.#tick() }, Math.min(this.#options.sampleMs, MONITORING_TICK_MS))
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#hub?.stop()
  }

  get running (): boolean {
    return this.#timer !== undefined
  }

  #tick (): void {
    const listening = this.#options.events.hasListeners('monitoring')
    if (this.#busy || (!listening && performance.now() - this.#lastSampleAt < this.#options.sampleMs * TICK_SLACK)) return
    this.#busy = true
    this.sample(listening).catch((error: unknown) => { this.#options.onError(error as Error) }).finally(() => { this.#busy = false })
  }

  /** Takes one sample now; publishes it on `monitoring` when `publish`. */
  async sample (publish: boolean): Promise<void> {
    const { recorder } = this.#options
    const elapsedMs = Math.max(1, performance.now() - this.#lastSampleAt)
    this.#lastSampleAt = performance.now()
    const hub = this.#hub!.sample()
    recorder.set('cpu', {}, hub.cpu)
    recorder.set('memory', {}, hub.memory)
    recorder.set('heapUsed', {}, hub.heapUsed)
    recorder.set('eventLoopDelay', {}, hub.eventLoopDelay)
    recorder.set('eventLoopUtilization', {}, hub.eventLoopUtilization)
    const reported: Partial<Record<ReportedGauge, number>> = {}
    for (const [name, read] of this.#reported) {
      reported[name] = read()
      recorder.set(name, {}, reported[name])
    }
    const pool = this.#options.database()
    recorder.set('dbPoolSize', {}, pool.size)
    recorder.set('dbPoolWaiting', {}, pool.waiting)
    await this.#sampleServers()

    if (!publish) {
      this.#requests = 0
      return
    }
    const requestsPerMinute = Math.round(this.#requests * 60_000 / elapsedMs * 10) / 10
    this.#requests = 0
    const metrics: ChannelData['monitoring']['metrics'] = {
      ...hub,
      uptime: Math.floor(process.uptime()),
      requests: Number.isFinite(requestsPerMinute) ? requestsPerMinute : 0,
      ...reported
    }
    this.#options.events.publish('monitoring', { at: new Date(this.#options.now()).toISOString(), metrics })
  }

  async #sampleServers (): Promise<void> {
    const { recorder } = this.#options
    const servers = this.#options.servers()
    const inState = new Map<ServerState, number>(SERVER_STATES.map((state) => [state, 0]))
    const keys = new Set<string>()
    for (const server of servers) {
      inState.set(server.state, inState.get(server.state)! + 1)
      recorder.set('serverUp', { server: server.key }, server.state === 'running' ? 1 : 0, server.id)
      keys.add(server.key)
    }
    for (const [state, count] of inState) recorder.set('servers', { state }, count)
    for (const key of this.#serverKeys) if (!keys.has(key)) recorder.removeGauge('serverUp', { server: key })
    this.#serverKeys = keys

    const withChild = servers.filter((server) => server.pid !== null)
    const figures = await this.#children.sample(withChild.map((server) => server.pid!))
    const childKeys = new Set<string>()
    for (const server of withChild) {
      const group = figures.get(server.pid!)
      if (group === undefined) continue
      childKeys.add(server.key)
      if (group.cpu !== undefined) recorder.set('serverCpu', { server: server.key }, group.cpu, server.id)
      recorder.set('serverMemory', { server: server.key }, group.memory, server.id)
    }
    for (const key of this.#childKeys) {
      if (childKeys.has(key)) continue
      recorder.removeGauge('serverCpu', { server: key })
      recorder.removeGauge('serverMemory', { server: key })
    }
    this.#childKeys = childKeys
  }
}
