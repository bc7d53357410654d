import { statSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { and, desc, eq, gt, inArray, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { deriveServerKey } from './key.ts'
import { serverItemSettings, serverLogs, servers, type ServerItemSetting, type ServerRow } from '../../db/schema.ts'
import type { SecretBox } from '../../lib/crypto.ts'
import { authorizationFailed, notFound, validationFailed } from '../../lib/errors.ts'
import { listPage, requestedStatuses, type ListQuery, type ListSpec, type ListPages } from '../../lib/list.ts'
import { LOG_LEVELS, type LogEntry, type LogLevel } from '../../supervisor/log-buffer.ts'
import { SERVER_STATES, startTimeoutOf, type Catalog, type ServerSpec, type ServerState, type ServerStatus } from '../../supervisor/managed-server.ts'
import { groupByRef, isAdmin, readableServerIds, serversInScope, type Principal } from '../../access/index.ts'
import { MASK } from './schemas.ts'

export const SERVER_LIST: ListSpec = {
  table: servers,
  sort: { name: servers.name, createdAt: servers.createdAt, updatedAt: servers.updatedAt },
  filters: { name: servers.name, enabled: servers.enabled },
  search: [servers.name, servers.description],
  liveStatus: SERVER_STATES,
  createdAt: servers.createdAt,
  id: servers.id
}

/**
 * Variables that hijack a runtime or make a tool run another program (code injection through
 * the environment), or point a package manager at another index; refused by family, whatever
 * their case.
 */
const FORBIDDEN_ENV = [
  // Runtimes: preloaded code, module paths, interpreter options.
  /^NODE_OPTIONS$/, /^NODE_PATH$/, /^NODE_REPL_EXTERNAL_MODULE$/, /^LD_/, /^DYLD_/, /^PYTHON/, /^JAVA_TOOL_OPTIONS$/,
  /^_JAVA_OPTIONS$/, /^JDK_JAVA_OPTIONS$/, /^PERL5(LIB|OPT)$/, /^PERLLIB$/, /^RUBY(OPT|LIB)$/, /^GCONV_PATH$/, /^OPENSSL_/,
  // Shells: startup files, functions, options.
  /^BASH_ENV$/, /^ENV$/, /^BASH_FUNC_/, /^SHELLOPTS$/, /^BASHOPTS$/, /^ZDOTDIR$/, /^PS4$/, /^PROMPT_COMMAND$/, /^IFS$/,
  // git: configuration from the environment, and every program it may run.
  /^GIT_CONFIG/, /^GIT_SSH/, /^GIT_EXEC_PATH$/, /^GIT_ASKPASS$/, /^SSH_ASKPASS/, /^GIT_PROXY_COMMAND$/, /^GIT_EXTERNAL_DIFF$/,
  /^GIT_PAGER$/, /^GIT_EDITOR$/, /^GIT_SEQUENCE_EDITOR$/,
  // Programs other tools run on the user's behalf.
  /^PAGER$/, /^MANPAGER$/, /^EDITOR$/, /^VISUAL$/, /^BROWSER$/, /^LESSOPEN$/, /^LESSCLOSE$/,
  // Package managers: configuration and package indexes (npx and uvx fetch code from them).
  /^NPM_CONFIG_/, /^PIP_/, /^UV_.*INDEX/, /^UV_FIND_LINKS$/,
  // The hub's own marker.
  /^MCPHUB_/
]

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

export function forbiddenEnvKey (key: string): boolean {
  const upper = key.toUpperCase()
  return FORBIDDEN_ENV.some((pattern) => pattern.test(upper))
}

export interface ServerInput {
  name?: string
  key?: string
  command?: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string | null
  enabled?: boolean
  description?: string | null
  tags?: string[]
  callTimeout?: number
  /** null: back to the default for the command. */
  startTimeout?: number | null
}

const PROCESS_FIELDS = ['command', 'args', 'env', 'cwd'] as const
const NUL_REASON = 'must not contain a NUL character'

/** Checks what the schema cannot: a program (not a shell line), safe variables, an existing directory. */
export function validateProcessFields (input: ServerInput, field = ''): void {
  if (input.command !== undefined && (/[\s;&|`$<>(){}]/.test(input.command) || input.command.includes('\0'))) {
    throw validationFailed(`${field}command`, 'must be a program name or path, without shell syntax; put arguments in args')
  }
  // A NUL byte cannot be passed to a program: the spawn would fail on every start.
  input.args?.forEach((arg, index) => {
    if (arg.includes('\0')) throw validationFailed(`${field}args.${index}`, NUL_REASON)
  })
  for (const [key, value] of Object.entries(input.env ?? {})) {
    if (value.includes('\0')) throw validationFailed(`${field}env.${key}`, NUL_REASON)
  }
  if (input.cwd?.includes('\0') === true) throw validationFailed(`${field}cwd`, NUL_REASON)
  for (const key of Object.keys(input.env ?? {})) {
    if (forbiddenEnvKey(key)) throw validationFailed(`${field}env.${key}`, 'can take over the program\'s runtime and is not allowed')
    // The schema's key pattern is not enforced (a Record compiles to patternProperties only), and
    // a key such as `NODE_OPTIONS=--require x` would set NODE_OPTIONS in the child.
    if (!ENV_KEY.test(key)) throw validationFailed(`${field}env.${key}`, 'must be a variable name: a letter or _, then letters, digits or _ (128 at most)')
  }
  if (input.cwd !== undefined && input.cwd !== null) {
    let directory = false
    try {
      directory = isAbsolute(input.cwd) && statSync(input.cwd).isDirectory()
    } catch {}
    if (!directory) throw validationFailed(`${field}cwd`, 'must be the absolute path of an existing directory')
  }
}

/** Seals new env values; a masked value keeps what is stored. */
function sealEnv (box: SecretBox, env: Record<string, string>, stored: Record<string, string> = {}): Record<string, string> {
  const sealed: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== MASK) sealed[key] = box.seal(value)
    else if (stored[key] !== undefined) sealed[key] = stored[key]
    else throw validationFailed(`env.${key}`, 'is the mask but no value is stored for it')
  }
  return sealed
}

export function specOf (box: SecretBox, row: ServerRow): ServerSpec {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(row.env)) env[key] = box.open(value)
  return { id: row.id, name: row.name, key: row.key, command: row.command, args: row.args, env, cwd: row.cwd, enabled: row.enabled, startTimeoutMs: row.startTimeoutMs }
}

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null

export function toDto (row: ServerRow, status: ServerStatus | undefined, toolCount: number) {
  const state = status?.state ?? 'stopped'
  return {
    id: row.id,
    name: row.name,
    key: row.key,
    description: row.description,
    command: row.command,
    args: row.args,
    env: Object.fromEntries(Object.keys(row.env).map((key) => [key, MASK])),
    cwd: row.cwd,
    enabled: row.enabled,
    tags: row.tags,
    callTimeout: row.callTimeoutMs,
    startTimeout: status?.startTimeoutMs ?? startTimeoutOf({ command: row.command, args: row.args, startTimeoutMs: row.startTimeoutMs }),
    status: state,
    pid: status?.pid ?? null,
    uptime: state === 'running' && status?.startedAt ? Date.now() - status.startedAt.getTime() : null,
    lastRestart: iso(status?.lastRestart),
    lastExit: status?.lastExit ? { code: status.lastExit.code, signal: status.lastExit.signal, at: status.lastExit.at.toISOString() } : null,
    restartCount: status?.restartCount ?? 0,
    nextRetryAt: iso(status?.nextRetryAt),
    lastError: status?.lastError ?? null,
    tools: toolCount,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

export async function getServer (db: Database, id: string): Promise<ServerRow> {
  const [row] = await db.select().from(servers).where(eq(servers.id, id))
  if (row === undefined) throw notFound('Server')
  return row
}

/** A server the supervisor knows, in its live state: servers it does not know are `stopped`. */
export interface LiveServer {
  id: string
  state: ServerState
}

/**
 * The servers in a live state, as a condition on `servers`: few servers are not stopped, so
 * `stopped` is "not among those", and any other state is "among those in it".
 */
function statusCondition (status: string, live: LiveServer[]): SQL | undefined {
  if (status === 'stopped') {
    const notStopped = live.filter((server) => server.state !== 'stopped').map((server) => server.id)
    return notStopped.length === 0 ? undefined : notInArray(servers.id, notStopped)
  }
  const inState = live.filter((server) => server.state === status).map((server) => server.id)
  return inState.length === 0 ? sql`false` : inArray(servers.id, inState)
}

/**
 * Lists the servers the caller may read, one page read in SQL. `status` is live state: it
 * narrows to the ids the supervisor has in that state (`live`); `group` takes a group's name or
 * id, and narrows to the servers that group serves the caller: a group it is not in answers
 * like one that does not exist. Servers are written only through the API: their pages are
 * reused from `pages`.
 */
export async function listServers (db: Database, principal: Principal, query: ListQuery & { group?: string }, live: () => LiveServer[], pages: ListPages) {
  const scope: SQL[] = []
  const readable = await readableServerIds(db, principal)
  if (readable !== undefined) scope.push(readable.length === 0 ? sql`false` : inArray(servers.id, readable))
  if (query.group !== undefined) {
    const group = await groupByRef(db, query.group)
    const inGroup = group === undefined ? undefined : await serversInScope(db, principal, { kind: 'group', groupId: group.id })
    scope.push(inGroup === undefined || inGroup.length === 0 ? sql`false` : inArray(servers.id, inGroup.map((server) => server.id)))
  }
  const statuses = requestedStatuses(query)
  if (statuses.length > 0) {
    const known = live()
    for (const status of statuses) {
      const condition = statusCondition(status, known)
      if (condition !== undefined) scope.push(condition)
    }
  }
  return await listPage<ServerRow>(db, SERVER_LIST, query, scope, pages)
}

/** The key a new server gets: the one asked for, or one derived from its name that is free. */
async function keyFor (db: Database, input: { name: string, key?: string }): Promise<string> {
  if (input.key !== undefined) return input.key
  const taken = new Set((await db.select({ key: servers.key }).from(servers)).map((row) => row.key))
  return deriveServerKey(input.name, taken)
}

export async function createServer (db: Database, box: SecretBox, input: ServerInput & { name: string, command: string }): Promise<ServerRow> {
  validateProcessFields(input)
  const [row] = await db.insert(servers).values({
    name: input.name,
    key: await keyFor(db, input),
    command: input.command,
    args: input.args ?? [],
    env: sealEnv(box, input.env ?? {}),
    cwd: input.cwd ?? null,
    enabled: input.enabled ?? true,
    description: input.description ?? null,
    tags: input.tags ?? [],
    ...(input.callTimeout === undefined ? {} : { callTimeoutMs: input.callTimeout }),
    startTimeoutMs: input.startTimeout ?? null
  }).returning()
  return row!
}

/** Updates a server; what runs (command, args, env, cwd) is for admins only. */
export async function updateServer (db: Database, box: SecretBox, principal: Principal, current: ServerRow, input: ServerInput): Promise<ServerRow> {
  const processField = PROCESS_FIELDS.find((field) => input[field] !== undefined)
  if (processField !== undefined && !isAdmin(principal)) throw authorizationFailed(`Only admins may change ${processField}`)
  validateProcessFields(input)
  const [row] = await db.update(servers).set({
    ...(input.name === undefined ? {} : { name: input.name }),
    ...(input.key === undefined ? {} : { key: input.key }),
    ...(input.command === undefined ? {} : { command: input.command }),
    ...(input.args === undefined ? {} : { args: input.args }),
    ...(input.env === undefined ? {} : { env: sealEnv(box, input.env, current.env) }),
    ...(input.cwd === undefined ? {} : { cwd: input.cwd }),
    ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    ...(input.description === undefined ? {} : { description: input.description }),
    ...(input.tags === undefined ? {} : { tags: input.tags }),
    ...(input.callTimeout === undefined ? {} : { callTimeoutMs: input.callTimeout }),
    ...(input.startTimeout === undefined ? {} : { startTimeoutMs: input.startTimeout }),
    updatedAt: new Date()
  }).where(eq(servers.id, current.id)).returning()
  return row!
}

export async function deleteServer (db: Database, id: string): Promise<void> {
  await db.delete(servers).where(eq(servers.id, id))
}

export async function enabledServers (db: Database): Promise<ServerRow[]> {
  return await db.select().from(servers).where(eq(servers.enabled, true))
}

// Logs: persisted in batches by the supervisor plugin, read back here.

export async function persistLogs (db: Database, batch: Array<{ serverId: string, entry: LogEntry }>): Promise<void> {
  if (batch.length === 0) return
  const known = new Set((await db.select({ id: servers.id }).from(servers).where(inArray(servers.id, [...new Set(batch.map((item) => item.serverId))]))).map((row) => row.id))
  // PostgreSQL text cannot hold NUL: such a line would fail its whole batch.
  const rows = batch.filter((item) => known.has(item.serverId))
    .map(({ serverId, entry }) => ({ serverId, time: entry.time, level: entry.level, source: entry.source, message: entry.message.replaceAll('\0', '\uFFFD') }))
  if (rows.length > 0) await db.insert(serverLogs).values(rows)
}

/** Keeps at most `keep` lines per server and nothing older than `maxAgeMs`. */
export async function pruneLogs (db: Database, keep: number, maxAgeMs: number): Promise<void> {
  await db.delete(serverLogs).where(sql`${serverLogs.time} < ${new Date(Date.now() - maxAgeMs)}`)
  await db.execute(sql`delete from ${serverLogs} where ${serverLogs.id} in (
    select id from (select id, row_number() over (partition by server_id order by id desc) as n from ${serverLogs}) ranked where n > ${keep})`)
}

export function levelsFrom (level: LogLevel | undefined): LogLevel[] {
  return level === undefined ? [...LOG_LEVELS] : LOG_LEVELS.slice(LOG_LEVELS.indexOf(level))
}

/** The newest `limit` lines (at `level` or above, after `since`), oldest first. */
export async function readLogs (db: Database, serverId: string, query: { level?: LogLevel, since?: string, limit?: number }) {
  const rows = await db.select().from(serverLogs)
    .where(and(
      eq(serverLogs.serverId, serverId),
      inArray(serverLogs.level, levelsFrom(query.level)),
      query.since === undefined ? undefined : gt(serverLogs.time, new Date(query.since))
    ))
    .orderBy(desc(serverLogs.id)).limit(query.limit ?? 100)
  return rows.reverse().map((row) => ({ time: row.time.toISOString(), level: row.level as LogLevel, source: row.source as LogEntry['source'], message: row.message }))
}

export async function existingNames (db: Database, names: string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set()
  return new Set((await db.select({ name: servers.name }).from(servers).where(inArray(servers.name, names))).map((row) => row.name))
}

export interface ImportedServer {
  command?: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string | null
  disabled?: boolean
  enabled?: boolean
  description?: string
  startTimeout?: number
  url?: string
  type?: string
}

/** Why the hub cannot run an entry yet (a remote server), or undefined when it can. */
function unsupportedReason (entry: ImportedServer): string | undefined {
  if (entry.url !== undefined) return 'a remote server (url): the hub runs local (stdio) servers only for now'
  if (entry.type !== undefined && entry.type !== 'stdio') return `type ${JSON.stringify(entry.type)}: the hub runs local (stdio) servers only for now`
  return undefined
}

/**
 * Imports `{ mcpServers }`: all valid or nothing; names that exist already are kept as they are,
 * entries the hub cannot run yet (remote servers) are skipped and listed with the reason.
 */
export async function importServers (db: Database, box: SecretBox, document: Record<string, ImportedServer>) {
  const unsupported: Array<{ name: string, reason: string }> = []
  const runnable: Array<[string, ImportedServer & { command: string }]> = []
  for (const [name, entry] of Object.entries(document)) {
    // The schema's name bounds are not enforced on record keys either.
    if (name.length < 1 || name.length > 100) throw validationFailed(`mcpServers.${name}`, 'a server name must have 1 to 100 characters')
    const reason = unsupportedReason(entry)
    if (reason !== undefined) {
      unsupported.push({ name, reason })
      continue
    }
    const { command } = entry
    if (command === undefined) throw validationFailed(`mcpServers.${name}.command`, 'is required (a remote server has a url instead)')
    validateProcessFields(entry, `mcpServers.${name}.`)
    runnable.push([name, { ...entry, command }])
  }
  const existing = await existingNames(db, runnable.map(([name]) => name))
  const created: ServerRow[] = []
  await db.transaction(async (tx) => {
    for (const [name, entry] of runnable) {
      if (existing.has(name)) continue
      created.push(await createServer(tx, box, {
        name,
        command: entry.command,
        args: entry.args ?? [],
        env: entry.env ?? {},
        cwd: entry.cwd ?? null,
        enabled: entry.disabled !== true && entry.enabled !== false,
        description: entry.description ?? null,
        ...(entry.startTimeout === undefined ? {} : { startTimeout: entry.startTimeout })
      }))
    }
  })
  return { created, skipped: [...existing], unsupported }
}

export async function exportServers (db: Database) {
  const rows = await db.select().from(servers).orderBy(servers.name)
  return {
    mcpServers: Object.fromEntries(rows.map((row) => [row.name, {
      command: row.command,
      args: row.args,
      env: Object.fromEntries(Object.keys(row.env).map((key) => [key, MASK])),
      ...(row.cwd === null ? {} : { cwd: row.cwd }),
      ...(row.enabled ? {} : { disabled: true }),
      ...(row.description === null ? {} : { description: row.description }),
      ...(row.startTimeoutMs === null ? {} : { startTimeout: row.startTimeoutMs })
    }]))
  }
}

// Per-item settings: admins hide single tools, prompts or resources, or redescribe a tool.

export async function settingsByServer (db: Database, serverIds: string[]): Promise<Map<string, ServerItemSetting[]>> {
  const result = new Map<string, ServerItemSetting[]>(serverIds.map((id) => [id, []]))
  if (serverIds.length === 0) return result
  for (const row of await db.select().from(serverItemSettings).where(inArray(serverItemSettings.serverId, serverIds))) {
    result.get(row.serverId)?.push(row)
  }
  return result
}

/** The catalog as clients get it, and the resources admins disabled (listed by the server or not: a template may still match them). */
export interface EffectiveCatalog extends Catalog {
  disabledResources: string[]
}

/** The catalog as clients get it: disabled items left out, tool descriptions overridden. */
export function effectiveCatalog (catalog: Catalog, settings: ServerItemSetting[]): EffectiveCatalog {
  const setting = (kind: ServerItemSetting['kind'], name: string) => settings.find((row) => row.kind === kind && row.name === name)
  return {
    disabledResources: settings.filter((row) => row.kind === 'resource' && !row.enabled).map((row) => row.name),
    tools: catalog.tools.filter((tool) => setting('tool', tool.name)?.enabled !== false).map((tool) => {
      const description = setting('tool', tool.name)?.description
      return description === null || description === undefined ? tool : { ...tool, description }
    }),
    prompts: catalog.prompts.filter((prompt) => setting('prompt', prompt.name)?.enabled !== false),
    resources: catalog.resources.filter((resource) => setting('resource', resource.uri)?.enabled !== false),
    resourceTemplates: catalog.resourceTemplates.filter((template) => setting('resource', template.uriTemplate)?.enabled !== false)
  }
}

export interface ItemSettingInput {
  kind: ServerItemSetting['kind']
  name: string
  enabled?: boolean
  description?: string | null
}

export async function setItemSetting (db: Database, serverId: string, input: ItemSettingInput): Promise<ServerItemSetting> {
  if (input.description !== undefined && input.kind !== 'tool') throw validationFailed('description', 'only tools have a description to override')
  const changes = {
    ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    ...(input.description === undefined ? {} : { description: input.description }),
    updatedAt: new Date()
  }
  const [row] = await db.insert(serverItemSettings).values({ serverId, kind: input.kind, name: input.name, ...changes })
    .onConflictDoUpdate({ target: [serverItemSettings.serverId, serverItemSettings.kind, serverItemSettings.name], set: changes })
    .returning()
  return row!
}
