import t from 'tap'
import { parseJSONRPCMessage } from '@modelcontextprotocol/server'
import { asJsonRpcMessage, isRequest, isResponse } from '../lib/jsonrpc.ts'

const sdkAccepts = (value: unknown) => {
  try {
    parseJSONRPCMessage(value)
    return true
  } catch {
    return false
  }
}

t.test('the envelope check agrees with the SDK\'s schema on valid and broken messages', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['request', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } }],
    ['request with a string id, no params', { jsonrpc: '2.0', id: 'a', method: 'ping' }],
    ['notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
    ['result', { jsonrpc: '2.0', id: 1, result: { content: [] } }],
    ['error', { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not found', data: { x: 1 } } }],
    ['error without an id', { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' } }],
    ['wrong version', { jsonrpc: '1.0', id: 1, method: 'ping' }],
    ['no version', { id: 1, method: 'ping' }],
    ['a batch', [{ jsonrpc: '2.0', id: 1, method: 'ping' }]],
    ['not an object', 'ping'],
    ['null', null],
    ['method not a string', { jsonrpc: '2.0', id: 1, method: 7 }],
    ['params an array', { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }],
    ['fractional id', { jsonrpc: '2.0', id: 1.5, method: 'ping' }],
    ['null id on a request', { jsonrpc: '2.0', id: null, method: 'ping' }],
    ['result not an object', { jsonrpc: '2.0', id: 1, result: 'ok' }],
    ['result without an id', { jsonrpc: '2.0', result: {} }],
    ['error without a code', { jsonrpc: '2.0', id: 1, error: { message: 'x' } }],
    ['error with a text code', { jsonrpc: '2.0', id: 1, error: { code: '1', message: 'x' } }],
    ['an unknown member', { jsonrpc: '2.0', id: 1, method: 'ping', extra: true }],
    ['result and error', { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }],
    ['nothing but the version', { jsonrpc: '2.0' }]
  ]
  for (const [name, value] of cases) t.equal(asJsonRpcMessage(value) !== undefined, sdkAccepts(value), name)
})

t.test('requests and responses are told apart by their members', async (t) => {
  t.ok(isRequest({ jsonrpc: '2.0', id: 1, method: 'ping' }))
  t.notOk(isRequest({ jsonrpc: '2.0', method: 'notifications/initialized' }), 'a notification is no request')
  t.ok(isResponse({ jsonrpc: '2.0', id: 1, result: {} }))
  t.ok(isResponse({ jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } }))
  t.notOk(isResponse({ jsonrpc: '2.0', id: 1, method: 'ping' }))
})
