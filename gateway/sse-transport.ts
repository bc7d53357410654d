import type { JSONRPCMessage, MessageExtraInfo, Transport } from '@modelcontextprotocol/server'
import { serializeMessage } from '@modelcontextprotocol/server'
import type { PassThrough } from 'node:stream'

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
    this.onmessage?.(message, extra)
  }

  async send (message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('The event stream is closed')
    this.#stream.write(`event: message\ndata: ${serializeMessage(message).trimEnd()}\n\n`)
  }

  async close (): Promise<void> {
    this.#stream.end()
    this.#finish()
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    this.onclose?.()
  }
}
