import { EnvSchema } from './config.ts'

/**
 * One line on each variable, unless its schema has a `description`; the names and defaults come
 * from EnvSchema, so the list never drifts.
 */
const DESCRIPTIONS: Partial<Record<string, string>> = {
  PORT: 'TCP port to listen on',
  HOST: 'address to listen on (beyond loopback: put the hub behind TLS)',
  DATABASE_URL: 'PostgreSQL URL; unset: the embedded database in MCPHUB_DATA_DIR',
  MCPHUB_DATA_DIR: 'where the embedded database, the JWT secret and state live',
  MCPHUB_JWT_SECRET: 'at least 32 characters; unset: generated once and kept in the data dir',
  MCPHUB_ADMIN_USERNAME: 'name of the first admin, created on the first start',
  MCPHUB_ADMIN_PASSWORD: 'password of the first admin; unset: generated and printed once',
  LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent; unset: info',
  LOG_FORMAT: 'pretty or json; unset: pretty on a terminal, JSON otherwise',
  MCPHUB_RATE_LIMIT_ANON: 'requests per minute per IP without credentials (0: off)',
  MCPHUB_RATE_LIMIT_USER: 'requests per minute per user (0: off)',
  MCPHUB_RATE_LIMIT_ADMIN: 'requests per minute per admin (0: off)',
  MCPHUB_RATE_LIMIT_MCP: 'MCP requests per minute per user (0: off)',
  REDIS_URL: 'Redis shared by several hubs for rate limits; unset: in memory',
  MCPHUB_REDIS_PREFIX: 'prefix of every Redis key',
  MCPHUB_SETTINGS_FILE: 'a { "mcpServers": {...} } file imported at start',
  MCPHUB_REQUEST_TIMEOUT: 'ms a client has to send a request',
  MCPHUB_DB_STATEMENT_TIMEOUT: 'ms one PostgreSQL statement may take',
  MCPHUB_ALLOWED_HOSTS: 'comma-separated Host names the MCP endpoints answer to'
}

/** What `node server.ts --help` prints. */
export function usage (): string {
  const variables = Object.entries(EnvSchema.properties).map(([name, schema]) => {
    const { default: fallback, description = DESCRIPTIONS[name] } = schema as { default?: unknown, description?: string }
    const shown = fallback === undefined ? '(unset)' : `default ${String(fallback)}`
    return `  ${name.padEnd(28)} ${shown}${description === undefined ? '' : `\n  ${''.padEnd(28)} ${description}`}`
  })
  return [
    'Usage: node server.ts [--help | --version]',
    '',
    'MCPHub runs MCP servers as child processes, supervises them, and serves them behind one',
    'authenticated API: REST under /api (documented at /docs), MCP under /mcp.',
    '',
    'Configuration comes from the environment:',
    '',
    ...variables,
    '',
    'See README.md for the quick start, every variable and deployment.',
    ''
  ].join('\n')
}
