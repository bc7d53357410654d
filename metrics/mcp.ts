import type { MetricRecorder } from './recorder.ts'

/** The requests an MCP client may send; any other method is counted as `other` (a label per made-up name would grow without end). */
const CLIENT_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list',
  'resources/templates/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe',
  'completion/complete', 'logging/setLevel', 'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel'
])

/** A message a client sent to the gateway: counted by method when it is a request (notifications and answers are not). */
export function countMcpRequest (recorder: MetricRecorder, message: unknown): void {
  if (!recorder.enabled || typeof message !== 'object' || message === null) return
  const { method, id } = message as { method?: unknown, id?: unknown }
  if (typeof method !== 'string' || id === undefined) return
  recorder.count('mcpRequests', { method: CLIENT_METHODS.has(method) ? method : 'other' })
}

/** One `tools/call` answered (or failed) through the hub, as the gateway records it. */
export function countToolCall (recorder: MetricRecorder, server: { id: string, key: string }, tool: string, durationMs: number, ok: boolean): void {
  if (!recorder.enabled) return
  const labels = { server: server.key, tool }
  recorder.count('toolCalls', labels, 1, server.id)
  if (!ok) recorder.count('toolErrors', labels, 1, server.id)
  recorder.observe('toolLatency', labels, durationMs, server.id)
}

/** A server's request (sampling, elicitation, roots) relayed to the calling client. */
export function countRelayedRequest (recorder: MetricRecorder, server: { id: string, key: string }, method: string): void {
  recorder.count('relayedRequests', { server: server.key, method }, 1, server.id)
}
