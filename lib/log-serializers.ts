/**
 * Serializers that keep values out of the hub's log: database errors lose their query
 * parameters (drizzle puts them in the message) and the row values PostgreSQL quotes, and URLs
 * lose credential-like query values.
 */

/** Fields of database errors that carry values: parameters, failing rows, internal queries. */
const VALUE_FIELDS = new Set(['params', 'parameters', 'detail', 'where', 'internalQuery'])

/** Query parameters whose values are credentials, whatever the API calls them. */
const CREDENTIAL_PARAM = /key|token|secret|pass|pwd|auth|credential|session|signature|jwt|code/i

const MAX_CAUSES = 5

/**
 * Drizzle's "Failed query: <sql>\nparams: <values>" keeps the statement only; PostgreSQL's
 * `...: "<value>"` (invalid input syntax, out of range) keeps the reason only.
 */
export function scrubMessage (message: string): string {
  const params = message.startsWith('Failed query: ') ? message.indexOf('\nparams: ') : -1
  const statement = params === -1 ? message : message.slice(0, params)
  return statement.replace(/: ".*"$/s, ': "[redacted]"')
}

export interface SerializedError {
  type: string
  message: string
  stack: string
  [key: string]: unknown
}

/** An error (or error-like object) as a plain object, with its causes, minus every value it carries. */
export function serializeError (value: unknown, depth = 0): SerializedError {
  if (value === null || typeof value !== 'object') return { type: typeof value, message: scrubMessage(String(value)), stack: '' }
  const error = value as Record<string, unknown>
  const out: SerializedError = { type: value.constructor?.name ?? 'Object', message: '', stack: '' }
  for (const [key, field] of Object.entries(error)) {
    if (!VALUE_FIELDS.has(key) && key !== 'cause' && key !== 'errors') out[key] = field
  }
  out.message = typeof error.message === 'string' ? scrubMessage(error.message) : ''
  if (typeof error.stack === 'string') {
    // The stack's first line repeats the message: rebuild it from the scrubbed one.
    const frames = error.stack.split('\n').filter((line) => /^\s+at /.test(line))
    out.stack = [`${String(error.name ?? 'Error')}: ${out.message}`, ...frames].join('\n')
  }
  if (Array.isArray(error.errors) && depth < MAX_CAUSES) out.errors = error.errors.map((item) => serializeError(item, depth + 1))
  if (error.cause !== undefined && depth < MAX_CAUSES) out.cause = serializeError(error.cause, depth + 1)
  return out
}

/** A URL with the values of credential-like query parameters replaced. */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return url
  const pairs = url.slice(query + 1).split('&').map((pair) => {
    const equals = pair.indexOf('=')
    if (equals === -1) return pair
    const name = pair.slice(0, equals)
    let decoded = name
    try {
      decoded = decodeURIComponent(name.replaceAll('+', ' '))
    } catch {}
    return CREDENTIAL_PARAM.test(decoded) ? `${name}=[redacted]` : pair
  })
  return `${url.slice(0, query)}?${pairs.join('&')}`
}

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  headers?: Record<string, unknown>
  socket?: { remotePort?: number }
}

/** Fastify's request serializer, with the URL's credentials redacted. */
export function serializeRequest (request: LoggedRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    version: typeof request.headers?.['accept-version'] === 'string' ? request.headers['accept-version'] : undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
