import type { RequestId } from '@modelcontextprotocol/server'
import { failure } from '../lib/envelope.ts'
import { toHubError } from '../lib/errors.ts'

/** A JSON-RPC error answer; `id` is null when the request could not be read. */
export function rpcError (code: number, message: string, options: { id?: RequestId | null, data?: unknown } = {}) {
  return { jsonrpc: '2.0' as const, id: options.id ?? null, error: { code, message, ...(options.data === undefined ? {} : { data: options.data }) } }
}

/**
 * Every error reply of the MCP endpoints: a JSON-RPC error with the HTTP status the problem
 * calls for. Thrown like the catalogue's errors, and rendered by the gateway's error handler.
 */
export class McpReplyError extends Error {
  readonly statusCode: number
  readonly rpcCode: number
  readonly id: RequestId | null
  readonly data: unknown

  constructor (statusCode: number, rpcCode: number, message: string, options: { id?: RequestId, data?: unknown } = {}) {
    super(message)
    this.name = 'McpReplyError'
    this.statusCode = statusCode
    this.rpcCode = rpcCode
    this.id = options.id ?? null
    this.data = options.data
  }

  /** The reply's body. */
  body () {
    return rpcError(this.rpcCode, this.message, { id: this.id, data: this.data })
  }
}

/** What anything thrown while serving an MCP request replies: the catalogue's errors keep their status, and their envelope as `data`. */
export function toMcpReplyError (thrown: unknown): McpReplyError {
  if (thrown instanceof McpReplyError) return thrown
  const error = toHubError(thrown)
  return new McpReplyError(error.statusCode, -32000, error.message, { data: failure(error).error })
}
