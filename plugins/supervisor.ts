import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import { Value } from 'typebox/value'
import { BatchWriter, driverMessage, permanentDatabaseError } from '../lib/batch-writer.ts'
import { McpServersDocument } from '../routes/servers/schemas.ts'
import type { LogEntry } from '../supervisor/log-buffer.ts'
import { DEFAULT_POLICY, type ManagedServer, type ServerState, type SupervisorPolicy } from '../supervisor/managed-server.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import { enabledServers, importServers, persistLogs, pruneLogs, specOf } from '../routes/servers/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    supervisor: Supervisor
    /** Writes the log lines still waiting for the next batch (never rejects: a failed write is retried later). */
    flushServerLogs(): Promise<void>
  }
}

export interface SupervisorPluginOptions {
  dataDir: string
  /** A `{ "mcpServers": {...} }` file imported at start; servers whose names exist are kept. */
  settingsFile?: string | undefined
  baseEnv: Record<string, string>
  policy?: Partial<SupervisorPolicy>
}

/** The log lines waiting to be written, at most (a flood or a database outage drops the rest, counted). */
const LOG_BACKLOG = { maxItems: 10_000, maxBytes: 2 * 1024 * 1024 }
/** How long closing waits for the last lines to be written. */
const CLOSE_FLUSH_MS = 2000
const PRUNE_INTERVAL_MS = 60_000
const KEEP_LINES_PER_SERVER = 10_000
const KEEP_LOGS_MS = 7 * 24 * 60 * 60_000

/**
 * Owns every MCP child process: starts the enabled servers when the hub is ready (in the
 * background, a few at a time), persists their logs in batches, and stops them all on close.
 */
export default fp<SupervisorPluginOptions>(async (app, options) => {
  const log = app.log.child({ source: 'supervisor' })
  const logs = new BatchWriter<{ serverId: string, entry: LogEntry }>({
    ...LOG_BACKLOG,
    sizeOf: ({ entry }) => Buffer.byteLength(entry.message),
    write: (batch) => persistLogs(app.db, batch),
    permanent: permanentDatabaseError,
    onError: (error, retrying) => log.warn({ err: { message: driverMessage(error) }, retrying }, 'could not persist server logs'),
    onDrop: (dropped) => log.warn({ dropped }, 'server log lines dropped: the backlog is full or the database refused them')
  })
  const supervisor = new Supervisor({
    policy: { ...DEFAULT_POLICY, ...options.policy },
    baseEnv: options.baseEnv,
    stateFile: join(options.dataDir, 'supervisor-groups.json'),
    onStatus: (server) => {
      log.debug({ serverId: server.spec.id, state: server.state }, 'server state')
      publishStatus(server)
    },
    onLog: (serverId, entry) => {
      logs.add({ serverId, entry })
      const name = supervisor.get(serverId)?.spec.name ?? ''
      app.events.publish('server-logs', { serverId, name, time: entry.time.toISOString(), level: entry.level, source: entry.source, message: entry.message })
    },
    onProblem: (server, level, message) => {
      const fields = { serverId: server.spec.id, server: server.spec.name }
      if (level === 'error') log.error(fields, `MCP server ${server.spec.name}: ${message}`)
      else log.warn(fields, `MCP server ${server.spec.name}: ${message}`)
    }
  })
  app.decorate('supervisor', supervisor)

  // What each server was before its change: `server-status` events say from where to where.
  const lastStates = new Map<string, ServerState>()
  function publishStatus (server: ManagedServer): void {
    const { spec, state } = server
    const from = lastStates.get(spec.id) ?? null
    // A new retry time is news; the same state again is not.
    if (from === state && state !== 'backoff') return
    lastStates.set(spec.id, state)
    // Backing off ends in a new start: the server is restarted after it exited or failed.
    if (from === 'backoff' && state === 'starting') app.metrics.count('serverRestarts', { server: spec.key }, 1, spec.id)
    const status = server.status()
    const failed = state === 'backoff' || state === 'error'
    app.events.publish('server-status', {
      serverId: spec.id,
      name: spec.name,
      key: spec.key,
      from,
      to: state,
      pid: status.pid,
      reason: failed ? { exitCode: status.lastExit?.code ?? null, signal: status.lastExit?.signal ?? null, lastError: status.lastError } : null,
      nextRetryAt: status.nextRetryAt?.toISOString() ?? null,
      at: new Date().toISOString()
    })
  }
  app.decorate('flushServerLogs', () => logs.flush())
  const pruner = setInterval(() => {
    pruneLogs(app.db, KEEP_LINES_PER_SERVER, KEEP_LOGS_MS).catch((error: unknown) => log.warn({ err: { message: (error as Error).message } }, 'could not prune server logs'))
  }, PRUNE_INTERVAL_MS)
  pruner.unref()

  const { reaped, allGone } = await supervisor.reapLeftovers()
  if (reaped > 0) log.warn({ reaped }, 'killed MCP server processes left over by a previous run')
  if (!allGone) log.error('MCP server processes left over by a previous run are still running after SIGKILL')

  app.addHook('onReady', async () => {
    if (options.settingsFile !== undefined) {
      const document: unknown = JSON.parse(readFileSync(options.settingsFile, 'utf8'))
      if (!Value.Check(McpServersDocument, document)) {
        const first = [...Value.Errors(McpServersDocument, document)][0]
        throw new Error(`MCPHUB_SETTINGS_FILE ${options.settingsFile}: ${first?.instancePath ?? ''} ${first?.message ?? 'is not a { "mcpServers": {...} } document'}`)
      }
      const file = options.settingsFile
      const { created, skipped, unsupported } = await importServers(app.db, app.auth.secrets, app.egress, document.mcpServers).catch((error: unknown) => {
        throw new Error(`MCPHUB_SETTINGS_FILE ${file}: ${(error as Error).message}`)
      })
      for (const { name, reason } of unsupported) log.warn({ file, server: name }, `MCPHUB_SETTINGS_FILE: skipped server "${name}": ${reason}`)
      log.info({ file, created: created.length, kept: skipped.length, unsupported: unsupported.length }, 'servers imported from the settings file')
    }
    const specs = (await enabledServers(app.db)).map((row) => specOf(app.auth.secrets, row))
    if (specs.length > 0) log.info({ servers: specs.length }, `starting ${specs.length} enabled MCP server${specs.length === 1 ? '' : 's'} in the background`)
    supervisor.startAll(specs).then(() => {
      const running = specs.filter((spec) => supervisor.get(spec.id)?.state === 'running').length
      if (specs.length > 0) log.info({ running, servers: specs.length }, `MCP servers started: ${running} of ${specs.length} running`)
    }, (error: unknown) => log.error({ err: error }, 'starting servers failed'))
  })

  // Children stop before the database closes (onClose hooks run in reverse order).
  app.addHook('onClose', async () => {
    clearInterval(pruner)
    await supervisor.stopAll(5000)
    await logs.close(CLOSE_FLUSH_MS)
  })
}, { name: 'supervisor', dependencies: ['db', 'auth', 'egress', 'events', 'metrics'] })
