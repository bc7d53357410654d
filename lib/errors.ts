/** The contract's error catalogue: every failure the API reports is one of these codes. */
export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  AUTHENTICATION_FAILED: 401,
  AUTHORIZATION_FAILED: 403,
  RESOURCE_NOT_FOUND: 404,
  RESOURCE_CONFLICT: 409,
  VALIDATION_ERROR: 422,
  RATE_LIMIT_EXCEEDED: 429,
  SERVER_ERROR: 500
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

/** The `WWW-Authenticate` challenge of every 401 (RFC 6750; MCP clients rely on it). */
export const AUTHENTICATE_CHALLENGE = 'Bearer realm="mcphub"'
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[]

export type ErrorDetails = Record<string, unknown>

export class HubError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: ErrorDetails | undefined

  constructor (code: ErrorCode, message: string, details?: ErrorDetails, statusCode: number = ERROR_STATUS[code]) {
    super(message)
    this.name = 'HubError'
    this.code = code
    this.statusCode = statusCode
    this.details = details
  }
}

export const invalidRequest = (message: string, details?: ErrorDetails) => new HubError('INVALID_REQUEST', message, details)
export const authenticationFailed = (message = 'Authentication required') => new HubError('AUTHENTICATION_FAILED', message)
export const authorizationFailed = (message = 'Not allowed') => new HubError('AUTHORIZATION_FAILED', message)
export const notFound = (what = 'Resource') => new HubError('RESOURCE_NOT_FOUND', `${what} not found`)
export const conflict = (message: string, details?: ErrorDetails) => new HubError('RESOURCE_CONFLICT', message, details)
export const validationFailed = (field: string, reason: string) => new HubError('VALIDATION_ERROR', `Invalid ${field}: ${reason}`, { field, reason })
export const rateLimited = (message = 'Rate limit exceeded') => new HubError('RATE_LIMIT_EXCEEDED', message)
export const serverError = () => new HubError('SERVER_ERROR', 'Internal server error')
/** 503 for operations probes: the hub runs but cannot serve yet. */
export const notReady = (message: string) => new HubError('SERVER_ERROR', message, undefined, 503)
/** 408: a client that did not send its request (headers and body) in time. */
export const requestTimedOut = () => new HubError('INVALID_REQUEST', 'Request not received in time', undefined, 408)
/** 431: request headers past node's limit. */
export const headersTooLarge = () => new HubError('INVALID_REQUEST', 'Request headers too large', undefined, 431)
/** 503 when the database did not answer within its bound (locked tables, overload). */
export const databaseBusy = () => new HubError('SERVER_ERROR', 'The database did not answer in time; try again', undefined, 503)

interface AjvError {
  instancePath: string
  message?: string
  params: { missingProperty?: string, additionalProperty?: string }
}

interface FrameworkError {
  code?: string
  statusCode?: number
  message?: string
  validation?: AjvError[]
  validationContext?: string
  cause?: unknown
}

function fieldOf (error: AjvError): string {
  const path = error.instancePath.split('/').filter(Boolean)
  const leaf = error.params.missingProperty ?? error.params.additionalProperty
  if (leaf !== undefined) path.push(leaf)
  return path.join('.')
}

function validationReason (error: AjvError): string {
  if (error.params.additionalProperty !== undefined) return 'is not an allowed field'
  if (error.params.missingProperty !== undefined) return 'is required'
  return error.message ?? 'is invalid'
}

/** The database error itself (drizzle wraps the driver's error and keeps it on `.cause`). */
function driverError (error: unknown): { code?: unknown, constraint?: unknown } | undefined {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return current as { code: string, constraint?: unknown }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const REQUEST_SHAPE_ERRORS = new Set([
  'FST_ERR_CTP_INVALID_JSON_BODY',
  'FST_ERR_CTP_EMPTY_JSON_BODY',
  'FST_ERR_CTP_INVALID_MEDIA_TYPE',
  'FST_ERR_CTP_BODY_TOO_LARGE',
  'FST_ERR_CTP_INVALID_CONTENT_LENGTH'
])

/**
 * Maps anything thrown while serving a request to the contract's error. `uniqueFields` names
 * the API field behind each unique constraint, for the 409's details.
 */
export function toHubError (thrown: unknown, uniqueFields: Record<string, string> = {}): HubError {
  if (thrown instanceof HubError) return thrown
  const error = (thrown ?? {}) as FrameworkError
  const first = error.validation?.[0]
  if (first) {
    const field = fieldOf(first)
    return validationFailed(field === '' ? (error.validationContext ?? 'request') : field, validationReason(first))
  }
  if (error.code !== undefined && REQUEST_SHAPE_ERRORS.has(error.code)) {
    return invalidRequest(error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'Malformed JSON body' : (error.message ?? 'Invalid request'))
  }
  const dbError = driverError(thrown)
  if (dbError?.code === '23505') {
    const field = uniqueFields[String(dbError.constraint)]
    return field === undefined
      ? conflict('A resource with these values already exists')
      : conflict(`This ${field} is already taken`, { field, reason: 'is already taken' })
  }
  // Class 22 (data exception): a value the database cannot take; the schema should have said so first.
  if (typeof dbError?.code === 'string' && dbError.code.startsWith('22')) return invalidRequest('A value in the request cannot be stored')
  // 57014: statement_timeout; 55P03: lock_timeout.
  if (dbError?.code === '57014' || dbError?.code === '55P03') return databaseBusy()
  if (error.statusCode === 429) return rateLimited()
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 && error.code?.startsWith('FST_')) {
    return invalidRequest(error.message ?? 'Invalid request')
  }
  return serverError()
}
