import { Type } from 'typebox'
import { SERVER_KEY_PATTERN } from './key.ts'
import { DEFAULT_KEEP_ALIVE_MS, SERVER_STATES, SERVER_TYPES } from '../../supervisor/managed-server.ts'
import { Envelope, Id, Nullable, PageEnvelope, Ref, Timestamp } from '../../lib/schemas.ts'

export const MASK = '********'

const EnvMap = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 16_384 }), {
  maxProperties: 100,
  // A record compiles to patternProperties: without this, keys that break the pattern pass.
  additionalProperties: false,
  description: `Variables for the server (secrets: stored encrypted, shown as "${MASK}"; sending "${MASK}" back keeps the stored value)`
})
const Args = Type.Array(Type.String({ maxLength: 8192 }), { maxItems: 200 })
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 20, uniqueItems: true })
const Command = Type.String({ minLength: 1, maxLength: 4096, description: 'The program to run (no shell): arguments go in `args`' })
const CallTimeout = Type.Integer({ minimum: 1000, maximum: 600_000, description: 'ms a tool call through the MCP endpoints may take before it is cancelled upstream (default 60000)' })
const StartTimeout = Type.Integer({ minimum: 1000, maximum: 600_000, description: 'ms a start may take (spawn, MCP initialize, first listing) before it counts as failed (null on update: back to the default); default 120000 for package runners (npx, pnpx, bunx, uvx, pipx, pnpm/yarn dlx, npm exec, bun x), whose first start may download the package, 30000 otherwise' })
const Key = Type.String({ pattern: SERVER_KEY_PATTERN, description: 'ASCII key: `/mcp/servers/{key}` and the `{key}__` prefix of its tools; derived from the name when not given' })
const ServerType = Type.Enum(SERVER_TYPES, {
  description: 'How the hub reaches the server: `stdio` runs `command` and speaks MCP over its stdin/stdout; `streamable-http` and `sse` connect to `url` (default: `streamable-http` when a `url` is given, `stdio` otherwise)'
})
const Url = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: 'A remote server\'s MCP endpoint: an http or https URL in visible ASCII, without `user:pass@` (credentials go in `headers`); private, loopback and link-local addresses need MCPHUB_EGRESS_ALLOW',
  examples: ['https://mcp.example.com/mcp']
})
/** An HTTP header name (an RFC 9110 token). */
export const HEADER_NAME_PATTERN = '^[!#$%&\'*+.^_`|~0-9A-Za-z-]{1,256}$'
const HeaderMap = Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String({ maxLength: 8192 }), {
  maxProperties: 50,
  additionalProperties: false,
  description: `Headers sent with every request to a remote server, such as \`Authorization\`. Names are case-insensitive and stored in lower case; values are secrets (stored encrypted, shown as "${MASK}"; sending "${MASK}" back keeps the stored value): printable ASCII (spaces and tabs allowed) without CR, LF, NUL or other control characters, 8192 characters at most. Refused: the headers the transport manages (host, content-length, content-type, accept, connection, keep-alive, transfer-encoding, te, trailer, upgrade, expect, proxy-*, mcp-* such as mcp-session-id and mcp-protocol-version, last-event-id). Cookie is allowed: it is the hub's own credential, like Authorization; a client's credentials are never forwarded.`,
  examples: [{ Authorization: 'Bearer <token>' }]
})
const KeepAlive = Type.Integer({ minimum: 1000, maximum: 3_600_000, description: `ms between pings that check a remote server is alive (default ${DEFAULT_KEEP_ALIVE_MS}; null on update: back to the default); remote servers only` })
const Cwd = Nullable(Type.String({ minLength: 1, maxLength: 4096, description: 'Absolute path of an existing directory' }))

export const ServerState = Type.Enum(SERVER_STATES, {
  description: '`running` = process up and MCP initialize done; `starting`/`stopping` in between; `backoff` = waiting to restart after a crash; `error` = gave up (see lastError) until started again'
})

export const Server = Type.Object({
  id: Id,
  name: Type.String(),
  key: Type.String(),
  description: Nullable(Type.String()),
  type: ServerType,
  command: Nullable(Type.String({ description: 'The program of a stdio server; null for a remote one' })),
  args: Type.Array(Type.String()),
  env: Type.Record(Type.String(), Type.String()),
  cwd: Nullable(Type.String()),
  enabled: Type.Boolean(),
  tags: Type.Array(Type.String()),
  callTimeout: Type.Integer(),
  startTimeout: Type.Integer({ description: 'The start timeout in force, ms: the server\'s own or the default for its command' }),
  url: Nullable(Type.String({ description: 'A remote server\'s URL; null for stdio' })),
  headers: Type.Record(Type.String(), Type.String(), { description: `A remote server's header names, each value shown as "${MASK}"` }),
  keepAlive: Nullable(Type.Integer({ description: 'The keep-alive interval in force for a remote server, ms; null for stdio' })),
  status: ServerState,
  pid: Nullable(Type.Integer()),
  uptime: Nullable(Type.Integer({ description: 'ms since the server became running' })),
  lastRestart: Nullable(Timestamp),
  lastExit: Nullable(Type.Object({ code: Nullable(Type.Integer()), signal: Nullable(Type.String()), at: Timestamp })),
  restartCount: Type.Integer(),
  nextRetryAt: Nullable(Timestamp),
  lastError: Nullable(Type.String()),
  tools: Type.Integer({ description: 'Number of tools the running server offers' }),
  createdAt: Timestamp,
  updatedAt: Timestamp
}, { $id: 'Server' })

export const SERVER_EXAMPLE = {
  id: '9a4e2b1c-7d6f-4e3a-8b2c-1d0e9f8a7b6c',
  name: 'filesystem',
  key: 'filesystem',
  description: 'Files under /data',
  type: 'stdio' as const,
  command: 'npx',
  args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'],
  env: { NODE_ENV: MASK },
  cwd: null,
  enabled: true,
  tags: ['files'],
  callTimeout: 60_000,
  startTimeout: 120_000,
  url: null,
  headers: {},
  keepAlive: null,
  status: 'running' as const,
  pid: 12345,
  uptime: 3_600_000,
  lastRestart: null,
  lastExit: null,
  restartCount: 0,
  nextRetryAt: null,
  lastError: null,
  tools: 11,
  createdAt: '2026-01-01T10:00:00.000Z',
  updatedAt: '2026-01-01T12:00:00.000Z'
}

export const CreateServerBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  key: Type.Optional(Key),
  type: Type.Optional(ServerType),
  command: Type.Optional(Command),
  args: Type.Optional(Args),
  env: Type.Optional(EnvMap),
  cwd: Type.Optional(Cwd),
  enabled: Type.Optional(Type.Boolean({ default: true, description: 'Start with the hub and restart after crashes' })),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  tags: Type.Optional(Tags),
  callTimeout: Type.Optional(CallTimeout),
  startTimeout: Type.Optional(StartTimeout),
  url: Type.Optional(Url),
  headers: Type.Optional(HeaderMap),
  keepAlive: Type.Optional(KeepAlive)
}, {
  $id: 'CreateServer',
  additionalProperties: false,
  description: 'A stdio server has a `command` (and `args`, `env`, `cwd`); a remote server (`streamable-http` or `sse`) has a `url` (and `headers`, `keepAlive`) instead. Fields of the other kind are refused.',
  examples: [
    { name: 'filesystem', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'], env: { NODE_ENV: 'production' }, enabled: true, tags: ['files'] },
    { name: 'issues', type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer <token>' }, tags: ['remote'] }
  ]
})

export const UpdateServerBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  key: Type.Optional(Key),
  type: Type.Optional(ServerType),
  command: Type.Optional(Command),
  args: Type.Optional(Args),
  env: Type.Optional(EnvMap),
  cwd: Type.Optional(Cwd),
  enabled: Type.Optional(Type.Boolean()),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  tags: Type.Optional(Tags),
  callTimeout: Type.Optional(CallTimeout),
  startTimeout: Type.Optional(Nullable(StartTimeout)),
  url: Type.Optional(Url),
  headers: Type.Optional(HeaderMap),
  keepAlive: Type.Optional(Nullable(KeepAlive))
}, {
  $id: 'UpdateServer',
  additionalProperties: false,
  description: 'Fields left out keep their value. `type` defaults to the current one; changing it between stdio and remote needs the new kind\'s `command` or `url`, and clears the other kind\'s fields. type, command, args, env, cwd, url and headers: admins only.',
  examples: [{ description: 'Shared files', tags: ['files', 'prod'] }, { headers: { Authorization: MASK, 'X-Team': 'platform' } }]
})

export const StopBody = Type.Object({
  graceful: Type.Optional(Type.Boolean({ default: true, description: 'false: SIGKILL at once' })),
  timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 300_000, default: 10_000, description: 'ms between SIGTERM and SIGKILL' }))
}, { $id: 'StopServer', additionalProperties: false, examples: [{ graceful: true, timeout: 30000 }] })

export const LogLevelParam = Type.Enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'])

export const LogsQuery = Type.Object({
  level: Type.Optional(Type.Enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'], { description: 'Minimum level' })),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  follow: Type.Optional(Type.Boolean({ default: false, description: 'Keep the response open and stream new entries as NDJSON' }))
}, { additionalProperties: false })

export const LogLine = Type.Object({
  time: Timestamp,
  level: LogLevelParam,
  source: Type.Enum(['stderr', 'mcp', 'supervisor']),
  message: Type.String()
}, { $id: 'LogLine' })
export const LOG_EXAMPLE = { time: '2026-01-01T12:00:00.000Z', level: 'info' as const, source: 'supervisor' as const, message: 'started pid 12345' }

const ImportedServer = Type.Object({
  command: Type.Optional(Command),
  args: Type.Optional(Args),
  env: Type.Optional(EnvMap),
  cwd: Type.Optional(Cwd),
  disabled: Type.Optional(Type.Boolean({ description: '`true`, or `enabled: false`: imported without starting' })),
  enabled: Type.Optional(Type.Boolean()),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  startTimeout: Type.Optional(StartTimeout),
  url: Type.Optional(Url),
  headers: Type.Optional(HeaderMap),
  keepAlive: Type.Optional(KeepAlive),
  type: Type.Optional(Type.String({ maxLength: 100, description: '`stdio` (or none, with a `command`); `streamable-http`, `http` or `streamableHttp` (or none, with a `url`); `sse`. Other types (`ws`…) are skipped and listed in `unsupported`' }))
})

export const McpServersDocument = Type.Object({
  mcpServers: Type.Record(Type.String({ minLength: 1, maxLength: 100 }), ImportedServer, { maxProperties: 500 })
}, { $id: 'McpServers', examples: [{ mcpServers: { filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'] }, issues: { type: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer <token>' } } } }] })

export const ImportResult = Type.Object({
  created: Type.Array(Type.String()),
  skipped: Type.Array(Type.String({ description: 'Names that already exist' })),
  unsupported: Type.Array(Type.Object({ name: Type.String(), reason: Type.String() }), { description: 'Entries of a type the hub does not support (`ws`…): skipped' })
}, { $id: 'ImportResult' })

export const ServerParams = Type.Object({ serverId: Type.String({ format: 'uuid' }) })

const ItemState = {
  name: Type.String(),
  enabled: Type.Boolean(),
  /** Whether the server currently offers it (settings survive while it is stopped). */
  offered: Type.Boolean()
}

export const ServerItems = Type.Object({
  tools: Type.Array(Type.Object({ ...ItemState, description: Nullable(Type.String({ description: 'As clients see it' })), descriptionOverride: Nullable(Type.String()) })),
  prompts: Type.Array(Type.Object(ItemState)),
  resources: Type.Array(Type.Object({ ...ItemState, name: Type.String({ description: 'The resource URI' }) }))
}, { $id: 'ServerItems' })
export const SERVER_ITEMS_EXAMPLE = {
  tools: [{ name: 'read_file', enabled: true, offered: true, description: 'Read a file under /data', descriptionOverride: 'Read a file under /data' }],
  prompts: [],
  resources: [{ name: 'file:///data/README.md', enabled: false, offered: true }]
}

export const ItemSettingBody = Type.Object({
  kind: Type.Enum(['tool', 'prompt', 'resource']),
  name: Type.String({ minLength: 1, maxLength: 2048, description: 'Tool or prompt name, or resource URI' }),
  enabled: Type.Optional(Type.Boolean()),
  description: Type.Optional(Nullable(Type.String({ maxLength: 4096, description: 'Tools only; null restores the server\'s own' })))
}, { $id: 'UpdateServerItem', additionalProperties: false, examples: [{ kind: 'tool', name: 'delete_file', enabled: false }] })

export const ServerEnvelope = Envelope('ServerEnvelope', Ref(Server), SERVER_EXAMPLE)
export const ServerPage = PageEnvelope('ServerPage', Ref(Server), SERVER_EXAMPLE)
export const ImportResultEnvelope = Envelope('ImportResultEnvelope', Ref(ImportResult), { created: ['filesystem', 'issues'], skipped: [], unsupported: [{ name: 'socket', reason: 'type "ws": the hub supports stdio, streamable-http and sse' }] })
export const McpServersEnvelope = Envelope('McpServersEnvelope', Ref(McpServersDocument), {
  mcpServers: {
    filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'], env: { NODE_ENV: MASK } },
    issues: { type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: { authorization: MASK } }
  }
})
export const ServerItemsEnvelope = Envelope('ServerItemsEnvelope', Ref(ServerItems), SERVER_ITEMS_EXAMPLE)
export const LogLinesEnvelope = Envelope('LogLinesEnvelope', Type.Array(Ref(LogLine)), [LOG_EXAMPLE])

/** The named schemas of the servers API: registered by its routes, referenced by `$ref` (components in the document). */
export const SCHEMAS = [
  Server, CreateServerBody, UpdateServerBody, StopBody, LogLine, McpServersDocument, ImportResult, ServerItems, ItemSettingBody,
  ServerEnvelope, ServerPage, ImportResultEnvelope, McpServersEnvelope, ServerItemsEnvelope, LogLinesEnvelope
]
