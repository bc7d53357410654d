import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import type { FetchLike } from '@modelcontextprotocol/client'
import type { LogEntry } from './log-buffer.ts'
import { ManagedServer, type ServerSpec, type SupervisorPolicy } from './managed-server.ts'
import { hasEnv, killAll, killUntilGone, listProcesses, processesWithEnv } from './process-group.ts'

export interface SupervisorOptions {
  policy: SupervisorPolicy
  baseEnv: Record<string, string>
  /** Where the process groups of running children are recorded, to reap them after a crash of the hub. */
  stateFile: string
  onStatus?: (server: ManagedServer) => void
  onCatalog?: (server: ManagedServer) => void
  onLog?: (serverId: string, entry: LogEntry) => void
  /** A failed start, a crash, a give-up, a stop that needed SIGKILL (for the hub's own log). */
  onProblem?: (server: ManagedServer, level: 'warning' | 'error', message: string) => void
  /** How remote servers are reached: the egress guard's fetch. */
  fetch?: FetchLike
}

/** How many servers start at once when the hub starts. */
const START_CONCURRENCY = 4

/**
 * Every child gets its hub's id (kept in the state file, so the same across restarts) in this
 * variable, and passes it on to what it spawns: how the hub finds processes that left their group.
 */
export const HUB_ID_VARIABLE = 'MCPHUB_HUB_ID'

/** What the state file holds: this hub's id and the process group of each running child. */
interface State {
  hub: string | undefined
  groups: Record<string, number>
}

function readState (file: string): State {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return { hub: undefined, groups: {} }
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>
  // Before hub ids, the file was only the groups: { serverId: pgid }.
  const groups = (typeof record.groups === 'object' && record.groups !== null ? record.groups : record) as Record<string, unknown>
  return {
    hub: typeof record.hub === 'string' ? record.hub : undefined,
    groups: Object.fromEntries(Object.entries(groups).filter(([, pgid]) => isGroupId(pgid))) as Record<string, number>
  }
}

/** process.kill(-0) or (-1) would signal our own group or every process: only real group ids. */
function isGroupId (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 1
}

/** The registry of managed servers: one ManagedServer per stored server record. */
export class Supervisor {
  readonly #options: SupervisorOptions
  readonly #servers = new Map<string, ManagedServer>()
  readonly #groups = new Map<string, number>()
  readonly #hubId: string
  /** The groups recorded by the previous run, until they are reaped. */
  #leftovers: Record<string, number>
  readonly #catalogListeners = new Set<(server: ManagedServer) => void>()
  readonly #resourceListeners = new Set<(server: ManagedServer, uri: string) => void>()
  #catalogVersion = 0
  #closed = false

  constructor (options: SupervisorOptions) {
    this.#options = options
    const state = readState(options.stateFile)
    this.#hubId = state.hub ?? randomUUID()
    this.#leftovers = state.groups
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
      baseEnv: { ...this.#options.baseEnv, [HUB_ID_VARIABLE]: this.#hubId },
      onStatus: (changed) => this.#options.onStatus?.(changed),
      onCatalog: (changed) => {
        this.#catalogVersion++
        this.#options.onCatalog?.(changed)
        for (const listener of this.#catalogListeners) listener(changed)
      },
      onResourceUpdated: (changed, uri) => {
        for (const listener of this.#resourceListeners) listener(changed, uri)
      },
      onProcessGroup: (serverId, pgid) => this.#recordGroup(serverId, pgid),
      onProblem: (changed, level, message) => this.#options.onProblem?.(changed, level, message),
      fetch: this.#options.fetch
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
   * Kills what a previous run of the hub left behind (it was killed before it could stop its
   * children): every process of each recorded group in which a process of that server still
   * runs (its leader or any other: a grandchild outlives a leader that exited), and every
   * process carrying this hub's id (those that left their group). Waits, bounded, until they
   * are gone. Groups without our marker (their ids reused by others) are left alone.
   */
  async reapLeftovers (timeoutMs = 2000): Promise<{ reaped: number, allGone: boolean }> {
    const processes = listProcesses().filter((info) => !info.zombie)
    const groups = Object.entries(this.#leftovers)
      .filter(([serverId, pgid]) => processes.some((info) => info.pgid === pgid && hasEnv(info.pid, `MCPHUB_SERVER_ID=${serverId}`)))
      .map(([, pgid]) => pgid)
    const find = () => ({ groups, pids: processesWithEnv([`${HUB_ID_VARIABLE}=${this.#hubId}`]) })
    const found = new Set([...processes.filter((info) => groups.includes(info.pgid)).map((info) => info.pid), ...find().pids])
    const allGone = await killUntilGone(find, timeoutMs)
    this.#leftovers = {}
    this.#writeGroups()
    return { reaped: found.size, allGone }
  }

  #recordGroup (serverId: string, pgid: number | null): void {
    if (pgid === null) {
      this.#groups.delete(serverId)
      // The child is gone and its group killed; what left the group (setsid) goes with it.
      killAll(processesWithEnv([`MCPHUB_SERVER_ID=${serverId}`, `${HUB_ID_VARIABLE}=${this.#hubId}`]))
    } else {
      this.#groups.set(serverId, pgid)
    }
    this.#writeGroups()
  }

  #writeGroups (): void {
    const state: State = { hub: this.#hubId, groups: { ...this.#leftovers, ...Object.fromEntries(this.#groups) } }
    writeFileSync(this.#options.stateFile, JSON.stringify(state), { mode: 0o600 })
  }
}
