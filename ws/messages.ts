import type { Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { RawData } from 'ws'
import {
  WsAuth, WsAuthenticated, WsDropped, WsError, WsPing, WsPong, WsReset, WsSubscribe, WsSubscribed, WsUnsubscribe, WsUnsubscribed
} from '../events/schemas.ts'
import { HubError, invalidRequest, validationFailed } from '../lib/errors.ts'
import type { AnyEvent } from './filters.ts'

/** The largest message a client may send (bytes); a larger one closes the socket (1009). */
export const MAX_MESSAGE_BYTES = 64 * 1024

/** The messages a client may send, by `type`. */
const CLIENT_MESSAGES = { auth: WsAuth, subscribe: WsSubscribe, unsubscribe: WsUnsubscribe, ping: WsPing }
type ClientType = keyof typeof CLIENT_MESSAGES
/** A message from a client, checked against its schema. */
export type ClientMessage = { [T in ClientType]: Static<typeof CLIENT_MESSAGES[T]> }[ClientType]

const validators = {
  auth: Compile(WsAuth),
  subscribe: Compile(WsSubscribe),
  unsubscribe: Compile(WsUnsubscribe),
  ping: Compile(WsPing)
} satisfies Record<ClientType, unknown>

/** A message to a client (events have their own frames: `eventFrame`). */
export type HubMessage =
  Static<typeof WsAuthenticated> | Static<typeof WsSubscribed> | Static<typeof WsUnsubscribed> | Static<typeof WsReset> |
  Static<typeof WsDropped> | Static<typeof WsPong> | Static<typeof WsError>

/**
 * Reads one message: JSON, an object, a known `type` (INVALID_REQUEST otherwise), with the fields
 * its schema allows (VALIDATION_ERROR naming the first wrong field otherwise).
 */
export function parseMessage (data: RawData, isBinary: boolean): ClientMessage | HubError {
  if (isBinary) return invalidRequest('Messages are JSON text frames')
  let value: unknown
  try {
    value = JSON.parse(data.toString())
  } catch {
    return invalidRequest('Malformed JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalidRequest('A message is a JSON object')
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string' || !Object.hasOwn(CLIENT_MESSAGES, type)) {
    return invalidRequest(`Unknown message type; send one of ${Object.keys(CLIENT_MESSAGES).join(', ')}`, { field: 'type' })
  }
  const validator = validators[type as ClientType]
  if (validator.Check(value)) return value as ClientMessage
  const [first] = validator.Errors(value)
  return first === undefined ? invalidRequest('Invalid message') : validationFailed(...describe(first))
}

/** The dotted field and the reason of a schema error, as the REST API's validation errors say them. */
function describe (error: { keyword: string, instancePath: string, params: Record<string, unknown>, message: string }): [string, string] {
  const path = error.instancePath.split('/').filter(Boolean)
  const { requiredProperties, additionalProperties } = error.params as { requiredProperties?: string[], additionalProperties?: string[] }
  if (error.keyword === 'required' && requiredProperties?.[0] !== undefined) return [[...path, requiredProperties[0]].join('.'), 'is required']
  if (error.keyword === 'additionalProperties' && additionalProperties?.[0] !== undefined) return [[...path, additionalProperties[0]].join('.'), 'is not an allowed field']
  // `additionalProperties: false` reports the unknown field itself as a schema that is false.
  if (error.keyword === 'boolean') return [path.join('.'), 'is not an allowed field']
  return [path.join('.') || 'message', error.message]
}

/** An event as sent: one JSON text, shared by every socket that receives it unchanged. */
export function eventFrame (event: AnyEvent, data: unknown = event.data): Buffer {
  return Buffer.from(JSON.stringify({ type: 'event', channel: event.channel, seq: event.seq, timestamp: event.timestamp, data }))
}

/** The `error` message of a refusal. */
export function errorMessage (error: HubError): Static<typeof WsError> {
  return { type: 'error', code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) }
}
