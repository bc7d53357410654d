import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { JSONRPCMessage, MessageExtraInfo, RequestId, Transport, TransportSendOptions } from '@modelcontextprotocol/server'
import { isRequest, isResponse } from '../lib/jsonrpc.ts'
import { McpReplyError, rpcError } from './errors.ts'

const KEEP_ALIVE_MS = 25_000

/** A POST waiting for the answer to its request: plain JSON, unless something related has to go first. */
interface OpenRequest {
  reply: FastifyReply
  /** Set once the answer became an event stream. */
  stream?: ServerResponse
  done: () => void
  /** Of a request served past the SDK server: aborted when the client cancels it or the session closes. */
  cancel?: AbortController
}

function event (json: string): string {
  return `event: message\ndata: ${json}\n\n`
}

/**
 * One Streamable HTTP session (2025-06-18 / 2025-11-25), served straight from Fastify. A request
 * is answered with JSON when its result is the only thing to say, and switches to an event
 * stream as soon as a related notification (progress, log) or request (sampling, elicitation,
 * roots) has to reach the client first. Messages unrelated to any request go to the `GET`
 * stream, if the client holds one.
 */
export class StreamableHttpTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void
  readonly sessionId: string
  readonly #open = new Map<RequestId, OpenRequest>()
  #standalone: { stream: ServerResponse, keepAlive: NodeJS.Timeout } | undefined
  #closed = false
  /** Who waits for every request to be answered (shutdown). */
  #whenIdle: Array<() => void> = []

  constructor (sessionId: string) {
    this.sessionId = sessionId
  }

  async start (): Promise<void> {}

  /** One JSON-RPC message POSTed by the client; resolves once the reply is complete or streaming. */
  async post (reply: FastifyReply, message: JSONRPCMessage, extra: MessageExtraInfo): Promise<void> {
    if (!isRequest(message)) {
      this.onmessage?.(message, extra)
      if ('method' in message && message.method === 'notifications/cancelled') this.#cancelled(message.params?.requestId, message.params?.reason)
      reply.code(202).header('mcp-session-id', this.sessionId).send()
      return
    }
    await this.#waitForAnswer(reply, message.id, undefined, () => { this.onmessage?.(message, extra) })
  }

  /**
   * A request the gateway serves itself, past the SDK server (the pass-through): `serve` gets
   * the signal of its cancellation, and answers with `answer` after any `send` related to it.
   * Resolves like `post`.
   */
  async serve (reply: FastifyReply, id: RequestId, serve: (cancelled: AbortSignal) => void): Promise<void> {
    const cancel = new AbortController()
    await this.#waitForAnswer(reply, id, cancel, () => { serve(cancel.signal) })
  }

  async #waitForAnswer (reply: FastifyReply, id: RequestId, cancel: AbortController | undefined, deliver: () => void): Promise<void> {
    if (this.#open.has(id)) throw new McpReplyError(400, -32600, `Request id ${String(id)} is already in use`, { id })
    await new Promise<void>((resolve) => {
      this.#open.set(id, { reply, done: resolve, ...(cancel === undefined ? {} : { cancel }) })
      // A client that goes away gets no answer; the request itself is not cancelled by that (MCP transport rules).
      reply.raw.once('close', () => {
        if (this.#open.get(id)?.reply === reply) this.#forget(id)
        resolve()
      })
      deliver()
    })
  }

  /** The client's `GET`: one event stream per session for messages unrelated to a request. */
  listen (reply: FastifyReply): boolean {
    if (this.#standalone !== undefined) return false
    const stream = this.#startStream(reply)
    const keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS)
    keepAlive.unref()
    this.#standalone = { stream, keepAlive }
    stream.once('close', () => {
      clearInterval(keepAlive)
      if (this.#standalone?.stream === stream) this.#standalone = undefined
    })
    return true
  }

  async send (message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isResponse(message)) {
      this.answer(message.id, JSON.stringify(message))
      return
    }
    const open = options?.relatedRequestId === undefined ? undefined : this.#open.get(options.relatedRequestId)
    if (open === undefined) {
      // Unrelated messages (list changes…) go to the GET stream, or nowhere.
      this.#standalone?.stream.write(event(JSON.stringify(message)))
      return
    }
    open.stream ??= this.#startStream(open.reply)
    open.stream.write(event(JSON.stringify(message)))
  }

  /** The answer to a request, as JSON (text, or its UTF-8 bytes): the reply's body, or the last event of its stream. Dropped when the request's client has left. */
  answer (id: RequestId | undefined, json: string | Buffer): void {
    const open = id === undefined ? undefined : this.#open.get(id)
    if (open === undefined) return
    this.#forget(id)
    if (open.stream === undefined) {
      open.reply.header('mcp-session-id', this.sessionId).type('application/json').send(json)
    } else {
      open.stream.end(event(json.toString()))
    }
    open.done()
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const open of this.#open.values()) {
      open.cancel?.abort(new Error('Session closed'))
      if (open.stream === undefined) open.reply.code(404).send(rpcError(-32001, 'Session closed'))
      else open.stream.end()
      open.done()
    }
    this.#open.clear()
    this.#forget(undefined)
    this.#standalone?.stream.end()
    this.onclose?.()
  }

  /** Resolves once no request of the client waits for its answer (answered, or its client gone). */
  async idle (): Promise<void> {
    if (this.#open.size > 0) await new Promise<void>((resolve) => { this.#whenIdle.push(resolve) })
  }

  /** A cancelled request gets no answer (MCP cancellation): its reply ends as an empty event stream instead of staying open. */
  #cancelled (id: unknown, reason: unknown): void {
    const open = typeof id === 'string' || typeof id === 'number' ? this.#open.get(id) : undefined
    if (open === undefined) return
    this.#forget(id as RequestId)
    open.cancel?.abort(new Error(typeof reason === 'string' ? reason : 'The client cancelled the request'))
    const stream = open.stream ?? this.#startStream(open.reply)
    stream.end()
    open.done()
  }

  #forget (id: RequestId | undefined): void {
    if (id !== undefined) this.#open.delete(id)
    if (this.#open.size === 0) for (const resolve of this.#whenIdle.splice(0)) resolve()
  }

  #startStream (reply: FastifyReply): ServerResponse {
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      'mcp-session-id': this.sessionId
    })
    raw.flushHeaders()
    return raw
  }
}
