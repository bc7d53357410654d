import type { JSONRPCMessage, MessageExtraInfo, RequestId, Transport } from '@modelcontextprotocol/server'
import { serializeMessage } from '@modelcontextprotocol/server'
import type { PassThrough } from 'node:stream'
import { isRequest, isResponse } from '../lib/jsonrpc.ts'

/**
 * The older HTTP+SSE transport (2024-11-05): the client holds one `GET` event stream, learns
 * where to POST from its `endpoint` event, and every answer comes back on the stream.
 */
export class SseServerTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void
  readonly sessionId: string
  readonly #stream: PassThrough
  readonly #endpoint: string
  #closed = false
  /** Requests of the client not answered yet, and who waits for there to be none (shutdown). */
  readonly #open = new Set<RequestId>()
  #whenIdle: Array<() => void> = []

  constructor (sessionId: string, stream: PassThrough, endpoint: string) {
    this.sessionId = sessionId
    this.#stream = stream
    this.#endpoint = endpoint
    stream.on('close', () => this.#finish())
  }

  async start (): Promise<void> {
    this.#stream.write(`event: endpoint\ndata: ${this.#endpoint}\n\n`)
  }

  /** A message POSTed by the client, with the caller's request scope. */
  receive (message: JSONRPCMessage, extra: MessageExtraInfo): void {
    if (isRequest(message) && !this.#closed) this.#open.add(message.id)
    this.onmessage?.(message, extra)
    // A cancelled request gets no answer (MCP cancellation): nothing to wait for.
    if ('method' in message && message.method === 'notifications/cancelled') {
      const id = message.params?.requestId
      if (typeof id === 'string' || typeof id === 'number') this.#answered(id)
    }
  }

  async send (message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('The event stream is closed')
    this.#stream.write(`event: message\ndata: ${serializeMessage(message).trimEnd()}\n\n`)
    if (isResponse(message) && message.id !== undefined) this.#answered(message.id)
  }

  /** Resolves once every request of the client has been answered on the stream (or the stream is gone). */
  async idle (): Promise<void> {
    if (this.#open.size > 0) await new Promise<void>((resolve) => { this.#whenIdle.push(resolve) })
  }

  #answered (id: RequestId | undefined): void {
    if (id === undefined) this.#open.clear()
    else this.#open.delete(id)
    if (this.#open.size === 0) for (const resolve of this.#whenIdle.splice(0)) resolve()
  }

  async close (): Promise<void> {
    this.#stream.end()
    this.#finish()
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    this.#answered(undefined)
    this.onclose?.()
  }
}
