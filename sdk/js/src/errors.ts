/** The error codes of the hub's error envelope (the API contract). */
export type ApiErrorCode =
  | 'INVALID_REQUEST'
  | 'AUTHENTICATION_FAILED'
  | 'AUTHORIZATION_FAILED'
  | 'RESOURCE_NOT_FOUND'
  | 'RESOURCE_CONFLICT'
  | 'VALIDATION_ERROR'
  | 'RATE_LIMIT_EXCEEDED'
  | 'SERVER_ERROR'

/**
 * The codes the SDK gives errors that did not come from the hub:
 * - `NETWORK_ERROR`: the request did not get an answer (connection refused or reset, DNS…); `cause` is the underlying error.
 * - `TIMEOUT`: no complete answer within the client's `timeout`.
 * - `ABORTED`: the caller's `AbortSignal` ended the request; `cause` is the signal's reason.
 * - `INVALID_RESPONSE`: an answer that is not the hub's JSON (a proxy's error page, a cut-off body).
 */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'ABORTED' | 'INVALID_RESPONSE'

export type ErrorCode = ApiErrorCode | ClientErrorCode

const CODE_OF_STATUS: Record<number, ApiErrorCode> = {
  400: 'INVALID_REQUEST',
  401: 'AUTHENTICATION_FAILED',
  403: 'AUTHORIZATION_FAILED',
  404: 'RESOURCE_NOT_FOUND',
  409: 'RESOURCE_CONFLICT',
  422: 'VALIDATION_ERROR',
  429: 'RATE_LIMIT_EXCEEDED'
}

/** The contract's code for an HTTP status, for answers that carry no envelope. */
export const codeOfStatus = (status: number): ErrorCode => CODE_OF_STATUS[status] ?? (status >= 500 ? 'SERVER_ERROR' : 'INVALID_RESPONSE')

export interface MCPHubErrorInit {
  code: ErrorCode
  message: string
  /** The HTTP status; 0 when there was no answer. */
  status?: number
  details?: Record<string, unknown>
  /** Seconds to wait before trying again (429). */
  retryAfter?: number
  cause?: unknown
}

/** Every error the SDK throws: the hub's error envelopes, and failures to reach the hub. */
export class MCPHubError extends Error {
  readonly code: ErrorCode
  /** The HTTP status; 0 when there was no answer (`NETWORK_ERROR`, `TIMEOUT`, `ABORTED`). */
  readonly status: number
  readonly details: Record<string, unknown> | undefined
  /** Seconds the hub asked to wait before trying again (its `Retry-After`, with 429). */
  readonly retryAfter: number | undefined

  constructor (init: MCPHubErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'MCPHubError'
    this.code = init.code
    this.status = init.status ?? 0
    this.details = init.details
    this.retryAfter = init.retryAfter
  }
}
