import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import { Value } from 'typebox/value'
import { McpServersDocument } from '../routes/servers/schemas.ts'
import type { LogEntry } from '../supervisor/log-buffer.ts'
import { DEFAULT_POLICY, type SupervisorPolicy } from '../supervisor/managed-server.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import { enabledServers, importServers, persistLogs, pruneLogs, specOf } from '../routes/servers/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    supervisor: Supervisor
    /** Writes the log lines still waiting for the next batch. */
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

const FLUSH_INTERVAL_MS = 1000
const MAX_PENDING_LINES = 10_000
const KEEP_LINES_PER_SERVER = 10_000
const KEEP_LOGS_MS = 7 * 24 * 60 * 60_000

/**
 * Owns every MCP child process: starts the enabled servers when the hub is ready (in the
 * background, a few at a time), persists their logs in batches, and stops them all on close.
 */
export default fp<SupervisorPluginOptions>(async (app, options) => {
  let pending: Array<{ serverId: string, entry: LogEntry }> = []
  let dropped = 0
  const supervisor = new Supervisor({
    policy: { ...DEFAULT_POLICY, ...options.policy },
    baseEnv: options.baseEnv,
    stateFile: join(options.dataDir, 'supervisor-groups.json'),
    onStatus: (server) => app.log.debug({ serverId: server.spec.id, state: server.state }, 'server state'),
    onLog: (serverId, entry) => {
      if (pending.length >= MAX_PENDING_LINES) dropped++
      else pending.push({ serverId, entry })
    }
  })
  app.decorate('supervisor', supervisor)

  let flushes = 0
  const flush = async () => {
    const batch = pending
    pending = []
    if (dropped > 0) {
      app.log.warn({ dropped }, 'server log lines dropped: the database could not keep up')
      dropped = 0
    }
    try {
      await persistLogs(app.db, batch)
      if (++flushes % 60 === 0) await pruneLogs(app.db, KEEP_LINES_PER_SERVER, KEEP_LOGS_MS)
    } catch (error) {
      app.log.warn({ err: { message: (error as Error).message } }, 'could not persist server logs')
    }
  }
  let flushing: Promise<void> = Promise.resolve()
  app.decorate('flushServerLogs', () => {
    flushing = flushing.then(flush)
    return flushing
  })
  const timer = setInterval(() => { app.flushServerLogs().catch(() => {}) }, FLUSH_INTERVAL_MS)
  timer.unref()

  const { reaped, allGone } = await supervisor.reapLeftovers()
  if (reaped > 0) app.log.warn({ reaped }, 'killed MCP server processes left over by a previous run')
  if (!allGone) app.log.error('MCP server processes left over by a previous run are still running after SIGKILL')

  app.addHook('onReady', async () => {
    if (options.settingsFile !== undefined) {
      const document: unknown = JSON.parse(readFileSync(options.settingsFile, 'utf8'))
      if (!Value.Check(McpServersDocument, document)) {
        const first = [...Value.Errors(McpServersDocument, document)][0]
        throw new Error(`MCPHUB_SETTINGS_FILE ${options.settingsFile}: ${first?.instancePath ?? ''} ${first?.message ?? 'is not a { "mcpServers": {...} } document'}`)
      }
      const { created, skipped } = await importServers(app.db, app.auth.secrets, document.mcpServers)
      app.log.info({ file: options.settingsFile, created: created.length, kept: skipped.length }, 'servers imported from the settings file')
    }
    const specs = (await enabledServers(app.db)).map((row) => specOf(app.auth.secrets, row))
    supervisor.startAll(specs).catch((error: unknown) => app.log.error({ err: error }, 'starting servers failed'))
  })

  // Children stop before the database closes (onClose hooks run in reverse order).
  app.addHook('onClose', async () => {
    clearInterval(timer)
    await supervisor.stopAll(5000)
    await app.flushServerLogs()
  })
}, { name: 'supervisor', dependencies: ['db', 'auth'] })
