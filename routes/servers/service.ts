import { statSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { and, desc, eq, gt, inArray, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { deriveServerKey } from './key.ts'
import { serverItemSettings, serverLogs, servers, type ServerItemSetting, type ServerRow } from '../../db/schema.ts'
import type { SecretBox } from '../../lib/crypto.ts'
import { EgressError, type EgressGuard } from '../../lib/egress.ts'
import { authorizationFailed, notFound, validationFailed } from '../../lib/errors.ts'
import { listPage, requestedStatuses, type ListQuery, type ListSpec, type ListPages } from '../../lib/list.ts'
import { LOG_LEVELS, type LogEntry, type LogLevel } from '../../supervisor/log-buffer.ts'
import { DEFAULT_KEEP_ALIVE_MS, SERVER_STATES, startTimeoutOf, type Catalog, type ServerSpec, type ServerState, type ServerStatus, type ServerType } from '../../supervisor/managed-server.ts'
import { groupByRef, isAdmin, readableServerIds, serversInScope, type Principal } from '../../access/index.ts'
import { HEADER_NAME_PATTERN, MASK } from './schemas.ts'

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
  type?: ServerType
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
  url?: string
  headers?: Record<string, string>
  /** null: back to the default. */
  keepAlive?: number | null
}

const PROCESS_FIELDS = ['command', 'args', 'env', 'cwd'] as const
const REMOTE_FIELDS = ['url', 'headers', 'keepAlive'] as const
/** What only admins set: what runs on the host, and where the hub connects with which credentials. */
const ADMIN_FIELDS = ['type', ...PROCESS_FIELDS, 'url', 'headers'] as const
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

/**
 * Headers the transport sets itself, hop-by-hop headers and the MCP protocol's own: refused in a
 * server's headers. Cookie and Authorization are allowed: they are the hub's own credentials.
 */
const MANAGED_HEADERS = new Set(['host', 'content-length', 'content-type', 'accept', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'last-event-id'])
const MANAGED_HEADER_FAMILIES = [/^proxy-/, /^mcp-/]
const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN)
/** Visible ASCII, spaces and tabs: no CR, LF, NUL or other control character. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/

/** A remote server's headers with lower-case names, checked (the schema's name pattern is not enforced on a record's keys). */
function headerMap (headers: Record<string, string>, field: string): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    const at = `${field}headers.${name}`
    if (!HEADER_NAME.test(name)) throw validationFailed(at, 'must be an HTTP header name: letters, digits and !#$%&\'*+.^_`|~-')
    if (MANAGED_HEADERS.has(lower) || MANAGED_HEADER_FAMILIES.some((family) => family.test(lower))) throw validationFailed(at, 'is managed by the hub\'s transport and cannot be set')
    if (!HEADER_VALUE.test(value)) throw validationFailed(at, 'must be printable ASCII (spaces and tabs allowed), without CR, LF, NUL or other control characters')
    if (result[lower] !== undefined) throw validationFailed(at, 'is given twice (header names are case-insensitive)')
    result[lower] = value
  }
  return result
}

/**
 * Checks a remote server's URL: http or https without credentials, to a host the egress guard
 * does not refuse. A host it cannot resolve now is accepted: every connection checks again.
 */
async function checkUrl (guard: EgressGuard, url: string, field: string): Promise<void> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw validationFailed(field, 'must be an absolute http or https URL')
  }
  // The URL parser drops tabs and newlines silently: the stored text must be what is checked.
  if (!/^[\x21-\x7e]+$/.test(url)) throw validationFailed(field, 'must be visible ASCII: no spaces or control characters (percent-encode them)')
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw validationFailed(field, 'must be an http or https URL')
  if (parsed.username !== '' || parsed.password !== '') throw validationFailed(field, 'must not hold credentials (user:pass@): send them in headers')
  try {
    await guard.resolve(parsed.hostname)
  } catch (error) {
    if (error instanceof EgressError && error.kind === 'refused') throw validationFailed(field, error.message)
  }
}

/** Seals new secret values (env, headers); a masked value keeps what is stored. */
function sealSecrets (box: SecretBox, field: string, values: Record<string, string>, stored: Record<string, string> = {}): Record<string, string> {
  const sealed: Record<string, string> = {}
  for (const [key, value] of Object.entries(values)) {
    if (value !== MASK) sealed[key] = box.seal(value)
    else if (stored[key] !== undefined) sealed[key] = stored[key]
    else throw validationFailed(`${field}.${key}`, 'is the mask but no value is stored for it')
  }
  return sealed
}

const masked = (secrets: Record<string, string>) => Object.fromEntries(Object.keys(secrets).map((key) => [key, MASK]))

const opened = (box: SecretBox, sealed: Record<string, string>) => Object.fromEntries(Object.entries(sealed).map(([key, value]) => [key, box.open(value)]))

/** The columns that say how the hub reaches a server: a program it runs, or a URL it connects to. */
type Connection = Pick<ServerRow, 'type' | 'command' | 'args' | 'env' | 'cwd' | 'url' | 'headers' | 'keepAliveMs'>

/**
 * How the hub reaches a server: the input over what `current` has (nothing for a new server),
 * checked, secrets sealed. A server has the fields of its kind only: the other kind's are refused
 * in the input, and cleared when the type changes kind. `field` prefixes error fields (imports).
 */
async function connectionOf (box: SecretBox, guard: EgressGuard, input: ServerInput, current?: ServerRow, field = ''): Promise<Connection> {
  const type = input.type ?? current?.type ?? (input.url === undefined ? 'stdio' : 'streamable-http')
  const remote = type !== 'stdio'
  const foreign = (remote ? PROCESS_FIELDS : REMOTE_FIELDS).find((name) => input[name] !== undefined)
  if (foreign !== undefined) throw validationFailed(`${field}${foreign}`, remote ? `is for stdio servers; a ${type} server has a url` : 'is for remote servers (type streamable-http or sse)')
  // Fields of the same kind carry over; a change of kind starts from nothing.
  const kept = current !== undefined && (current.type !== 'stdio') === remote ? current : undefined
  if (!remote) {
    validateProcessFields(input, field)
    const command = input.command ?? kept?.command ?? null
    if (command === null) throw validationFailed(`${field}command`, 'is required for a stdio server')
    return {
      type,
      command,
      args: input.args ?? kept?.args ?? [],
      env: input.env === undefined ? kept?.env ?? {} : sealSecrets(box, `${field}env`, input.env, kept?.env),
      cwd: input.cwd === undefined ? kept?.cwd ?? null : input.cwd,
      url: null,
      headers: {},
      keepAliveMs: null
    }
  }
  const url = input.url ?? kept?.url ?? null
  if (url === null) throw validationFailed(`${field}url`, `is required for a ${type} server`)
  const headers = input.headers === undefined ? undefined : headerMap(input.headers, field)
  if (input.url !== undefined) await checkUrl(guard, input.url, `${field}url`)
  return {
    type,
    command: null,
    args: [],
    env: {},
    cwd: null,
    url,
    headers: headers === undefined ? kept?.headers ?? {} : sealSecrets(box, `${field}headers`, headers, kept?.headers),
    keepAliveMs: input.keepAlive === undefined ? kept?.keepAliveMs ?? null : input.keepAlive
  }
}

export function specOf (box: SecretBox, row: ServerRow): ServerSpec {
  const spec: ServerSpec = { id: row.id, name: row.name, key: row.key, command: row.command ?? '', args: row.args, env: opened(box, row.env), cwd: row.cwd, enabled: row.enabled, startTimeoutMs: row.startTimeoutMs }
  if (row.type === 'stdio' || row.url === null) return spec
  return { ...spec, remote: { type: row.type, url: row.url, headers: opened(box, row.headers), keepAliveMs: row.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS } }
}

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null

export function toDto (row: ServerRow, status: ServerStatus | undefined, toolCount: number) {
  const state = status?.state ?? 'stopped'
  return {
    id: row.id,
    name: row.name,
    key: row.key,
    description: row.description,
    type: row.type,
    command: row.command,
    args: row.args,
    env: masked(row.env),
    cwd: row.cwd,
    enabled: row.enabled,
    tags: row.tags,
    callTimeout: row.callTimeoutMs,
    startTimeout: status?.startTimeoutMs ?? startTimeoutOf({ command: row.command ?? '', args: row.args, startTimeoutMs: row.startTimeoutMs }),
    url: row.url,
    headers: masked(row.headers),
    keepAlive: row.type === 'stdio' ? null : row.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
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

export async function createServer (db: Database, box: SecretBox, guard: EgressGuard, input: ServerInput & { name: string }): Promise<ServerRow> {
  return await insertServer(db, input, await connectionOf(box, guard, input))
}

/** Stores a new server whose connection is checked already. */
async function insertServer (db: Database, input: ServerInput & { name: string }, connection: Connection): Promise<ServerRow> {
  const [row] = await db.insert(servers).values({
    name: input.name,
    key: await keyFor(db, input),
    ...connection,
    enabled: input.enabled ?? true,
    description: input.description ?? null,
    tags: input.tags ?? [],
    ...(input.callTimeout === undefined ? {} : { callTimeoutMs: input.callTimeout }),
    startTimeoutMs: input.startTimeout ?? null
  }).returning()
  return row!
}

/** Updates a server; what runs (type, command, args, env, cwd) and where it connects (url, headers) are for admins only. */
export async function updateServer (db: Database, box: SecretBox, guard: EgressGuard, principal: Principal, current: ServerRow, input: ServerInput): Promise<ServerRow> {
  const adminField = ADMIN_FIELDS.find((field) => input[field] !== undefined)
  if (adminField !== undefined && !isAdmin(principal)) throw authorizationFailed(`Only admins may change ${adminField}`)
  const [row] = await db.update(servers).set({
    ...(input.name === undefined ? {} : { name: input.name }),
    ...(input.key === undefined ? {} : { key: input.key }),
    ...await connectionOf(box, guard, input, current),
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
  headers?: Record<string, string>
  keepAlive?: number
  type?: string
}

/** The names MCP clients give each transport in their `mcpServers` files. */
const IMPORTED_TYPES = new Map<string, ServerType>([
  ['stdio', 'stdio'], ['streamable-http', 'streamable-http'], ['http', 'streamable-http'], ['streamableHttp', 'streamable-http'], ['sse', 'sse']
])

/** An `mcpServers` entry as a server to create, or undefined for a type the hub does not support. */
function inputOf (name: string, entry: ImportedServer): ServerInput & { name: string } | undefined {
  const { disabled, enabled, type, description, ...connection } = entry
  const known = type === undefined ? undefined : IMPORTED_TYPES.get(type)
  if (type !== undefined && known === undefined) return undefined
  return { name, ...connection, ...(known === undefined ? {} : { type: known }), enabled: disabled !== true && enabled !== false, description: description ?? null }
}

/**
 * Imports `{ mcpServers }`: all valid or nothing; names that exist already are kept as they are
 * (and their entries not checked), entries of a type the hub does not support are skipped and
 * listed with the reason.
 */
export async function importServers (db: Database, box: SecretBox, guard: EgressGuard, document: Record<string, ImportedServer>) {
  const unsupported: Array<{ name: string, reason: string }> = []
  const skipped: string[] = []
  const existing = await existingNames(db, Object.keys(document))
  const checked: Array<[ServerInput & { name: string }, Connection]> = []
  for (const [name, entry] of Object.entries(document)) {
    // The schema's name bounds are not enforced on record keys either.
    if (name.length < 1 || name.length > 100) throw validationFailed(`mcpServers.${name}`, 'a server name must have 1 to 100 characters')
    const input = inputOf(name, entry)
    if (input === undefined) {
      unsupported.push({ name, reason: `type ${JSON.stringify(entry.type)}: the hub supports stdio, streamable-http (http) and sse` })
      continue
    }
    if (existing.has(name)) skipped.push(name)
    else checked.push([input, await connectionOf(box, guard, input, undefined, `mcpServers.${name}.`)])
  }
  const created: ServerRow[] = []
  await db.transaction(async (tx) => {
    for (const [input, connection] of checked) created.push(await insertServer(tx, input, connection))
  })
  return { created, skipped, unsupported }
}

export async function exportServers (db: Database) {
  const rows = await db.select().from(servers).orderBy(servers.name)
  return {
    mcpServers: Object.fromEntries(rows.map((row) => [row.name, {
      ...(row.type === 'stdio'
        ? { command: row.command ?? '', args: row.args, env: masked(row.env), ...(row.cwd === null ? {} : { cwd: row.cwd }) }
        : { type: row.type, url: row.url ?? '', headers: masked(row.headers), ...(row.keepAliveMs === null ? {} : { keepAlive: row.keepAliveMs }) }),
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
