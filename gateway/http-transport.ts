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
}

function event (message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`
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
      if ('method' in message && message.method === 'notifications/cancelled') this.#cancelled(message.params?.requestId)
      reply.code(202).header('mcp-session-id', this.sessionId).send()
      return
    }
    if (this.#open.has(message.id)) throw new McpReplyError(400, -32600, `Request id ${String(message.id)} is already in use`, { id: message.id })
    await new Promise<void>((resolve) => {
      this.#open.set(message.id, { reply, done: resolve })
      // A client that goes away gets no answer; the request itself is not cancelled by that (MCP transport rules).
      reply.raw.once('close', () => {
        if (this.#open.get(message.id)?.reply === reply) this.#forget(message.id)
        resolve()
      })
      this.onmessage?.(message, extra)
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
    const isAnswer = isResponse(message)
    const requestId = isAnswer ? message.id : options?.relatedRequestId
    const open = requestId === undefined ? undefined : this.#open.get(requestId)
    if (open === undefined) {
      // Unrelated messages (list changes…) go to the GET stream, or nowhere; answers to requests whose client left are dropped.
      if (!isAnswer) this.#standalone?.stream.write(event(message))
      return
    }
    if (!isAnswer) {
      open.stream ??= this.#startStream(open.reply)
      open.stream.write(event(message))
      return
    }
    this.#forget(requestId!)
    if (open.stream === undefined) {
      open.reply.header('mcp-session-id', this.sessionId).type('application/json').send(JSON.stringify(message))
    } else {
      open.stream.end(event(message))
    }
    open.done()
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const open of this.#open.values()) {
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
  #cancelled (id: unknown): void {
    const open = typeof id === 'string' || typeof id === 'number' ? this.#open.get(id) : undefined
    if (open === undefined) return
    this.#forget(id as RequestId)
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
