import type { JSONRPCMessage, JSONRPCRequest, JSONRPCResponse } from '@modelcontextprotocol/server'

/**
 * JSON-RPC 2.0 messages told apart by their members. The SDK's guards validate whole messages
 * (results included) with zod on every call, which the gateway's hot path cannot afford: here a
 * message from outside is checked for the envelope once, and the SDK still validates each
 * method's params where it dispatches them.
 */
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isRequestId = (value: unknown) => typeof value === 'string' || Number.isInteger(value)
const hasOnly = (message: Record<string, unknown>, members: readonly string[]) => Object.keys(message).every((member) => members.includes(member))

const REQUEST_MEMBERS = ['jsonrpc', 'id', 'method', 'params']
const RESULT_MEMBERS = ['jsonrpc', 'id', 'result']
const ERROR_MEMBERS = ['jsonrpc', 'id', 'error']

/** The message `value` is (a request, notification, result or error), or undefined. */
export function asJsonRpcMessage (value: unknown): JSONRPCMessage | undefined {
  if (!isRecord(value) || value.jsonrpc !== '2.0') return undefined
  let valid: boolean
  if ('method' in value) {
    valid = typeof value.method === 'string' && (value.params === undefined || isRecord(value.params)) && (!('id' in value) || isRequestId(value.id)) && hasOnly(value, REQUEST_MEMBERS)
  } else if ('result' in value) {
    valid = isRequestId(value.id) && isRecord(value.result) && hasOnly(value, RESULT_MEMBERS)
  } else {
    const error = value.error
    valid = (value.id === undefined || isRequestId(value.id)) && isRecord(error) && Number.isInteger(error.code) && typeof error.message === 'string' && hasOnly(value, ERROR_MEMBERS)
  }
  return valid ? value as unknown as JSONRPCMessage : undefined
}

export const isRequest = (message: JSONRPCMessage): message is JSONRPCRequest => 'method' in message && 'id' in message
export const isResponse = (message: JSONRPCMessage): message is JSONRPCResponse => 'result' in message || 'error' in message
