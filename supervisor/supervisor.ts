import { readFileSync, writeFileSync } from 'node:fs'
import type { LogEntry } from './log-buffer.ts'
import { ManagedServer, type ServerSpec, type SupervisorPolicy } from './managed-server.ts'
import { isOurProcess, signalGroup } from './process-group.ts'

export interface SupervisorOptions {
  policy: SupervisorPolicy
  baseEnv: Record<string, string>
  /** Where the process groups of running children are recorded, to reap them after a crash of the hub. */
  stateFile: string
  onStatus?: (server: ManagedServer) => void
  onCatalog?: (server: ManagedServer) => void
  onLog?: (serverId: string, entry: LogEntry) => void
}

/** How many servers start at once when the hub starts. */
const START_CONCURRENCY = 4

/** The registry of managed servers: one ManagedServer per stored server record. */
export class Supervisor {
  readonly #options: SupervisorOptions
  readonly #servers = new Map<string, ManagedServer>()
  readonly #groups = new Map<string, number>()
  readonly #catalogListeners = new Set<(server: ManagedServer) => void>()
  readonly #resourceListeners = new Set<(server: ManagedServer, uri: string) => void>()
  #catalogVersion = 0
  #closed = false

  constructor (options: SupervisorOptions) {
    this.#options = options
  }

  get (id: string): ManagedServer | undefined {
    return this.#servers.get(id)
  }

  /** Changes whenever a server is added or removed or its catalog changes. */
  get catalogVersion (): number {
    return this.#catalogVersion
  }

  list (): ManagedServer[] {
    return [...this.#servers.values()]
  }

  /** Registers a server or updates its spec; a running child picks the change up on restart. */
  upsert (spec: ServerSpec): ManagedServer {
    const existing = this.#servers.get(spec.id)
    if (existing !== undefined) {
      existing.spec = spec
      return existing
    }
    const server = new ManagedServer(spec, this.#options.policy, {
      baseEnv: this.#options.baseEnv,
      onStatus: (changed) => this.#options.onStatus?.(changed),
      onCatalog: (changed) => {
        this.#catalogVersion++
        this.#options.onCatalog?.(changed)
        for (const listener of this.#catalogListeners) listener(changed)
      },
      onResourceUpdated: (changed, uri) => {
        for (const listener of this.#resourceListeners) listener(changed, uri)
      },
      onProcessGroup: (serverId, pgid) => this.#recordGroup(serverId, pgid)
    })
    server.logs.subscribe((entry) => this.#options.onLog?.(spec.id, entry))
    this.#servers.set(spec.id, server)
    this.#catalogVersion++
    return server
  }

  /** Called whenever a server's tools, prompts or resources change (it started, stopped or said so). */
  onCatalogChange (listener: (server: ManagedServer) => void): () => void {
    this.#catalogListeners.add(listener)
    return () => this.#catalogListeners.delete(listener)
  }

  /** Called when a server says one of its resources changed. */
  onResourceUpdated (listener: (server: ManagedServer, uri: string) => void): () => void {
    this.#resourceListeners.add(listener)
    return () => this.#resourceListeners.delete(listener)
  }

  /** Stops a server and forgets it. */
  async remove (id: string): Promise<void> {
    const server = this.#servers.get(id)
    if (server === undefined) return
    await server.stop({ graceful: true })
    this.#servers.delete(id)
    this.#catalogVersion++
  }

  /** Starts servers with bounded concurrency; failures end in each server's own state. */
  async startAll (specs: ServerSpec[]): Promise<void> {
    const queue = [...specs]
    const worker = async () => {
      for (let spec = queue.shift(); spec !== undefined && !this.#closed; spec = queue.shift()) await this.upsert(spec).start()
    }
    await Promise.all(Array.from({ length: START_CONCURRENCY }, worker))
  }

  /** Stops every server; no further server starts afterwards. */
  async stopAll (timeoutMs: number): Promise<void> {
    this.#closed = true
    await Promise.all(this.list().map((server) => server.stop({ graceful: true, timeoutMs })))
  }

  /**
   * Kills the process groups a previous run of the hub left behind (it was killed before it
   * could stop them). Only groups whose leader still carries our marker are touched.
   */
  reapLeftovers (): number {
    let recorded: Record<string, number> = {}
    try {
      recorded = JSON.parse(readFileSync(this.#options.stateFile, 'utf8')) as Record<string, number>
    } catch {}
    let reaped = 0
    for (const [serverId, pgid] of Object.entries(recorded)) {
      if (isOurProcess(pgid, serverId) && signalGroup(pgid, 'SIGKILL')) reaped++
    }
    this.#writeGroups()
    return reaped
  }

  #recordGroup (serverId: string, pgid: number | null): void {
    if (pgid === null) this.#groups.delete(serverId)
    else this.#groups.set(serverId, pgid)
    this.#writeGroups()
  }

  #writeGroups (): void {
    writeFileSync(this.#options.stateFile, JSON.stringify(Object.fromEntries(this.#groups)), { mode: 0o600 })
  }
}
