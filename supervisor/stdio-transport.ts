import type { Readable, Writable } from 'node:stream'
import { serializeMessage, type JSONRPCMessage, type JSONRPCResponse, type Transport } from '@modelcontextprotocol/client'
import { asJsonRpcMessage, isResponse } from '../lib/jsonrpc.ts'
import { readLines } from './line-reader.ts'

export interface ChildStdioOptions {
  stdin: Writable
  stdout: Readable
  /** Largest MCP message accepted from the child. */
  maxMessageBytes: number
  /** A stdout line that is not a JSON-RPC message: counted and logged, never forwarded. */
  onNoise: (line: string) => void
  /** A message over the size limit: the child must be stopped. */
  onOversize: (bytes: number) => void
}

/** What becomes of a request sent past the SDK client (`ChildStdioTransport.claim`). */
export interface Claim {
  /** Its answer, and the line the child wrote it on. */
  answer: (message: JSONRPCResponse, line: string) => void
  /** A progress notification with the request's own id as its token. */
  progress: (params: Record<string, unknown>) => void
  /** The connection closed before the answer came. */
  closed: () => void
}

/**
 * MCP over the stdio of a child the supervisor spawned itself (the SDK's own stdio transport
 * spawns its own process, without process groups or limits).
 */
export class ChildStdioTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage) => void
  readonly #options: ChildStdioOptions
  #closed = false
  /** Requests sent past the SDK client, by id: ids of their own (strings), never the client's (numbers). */
  readonly #claims = new Map<string, Claim>()
  #claimed = 0

  constructor (options: ChildStdioOptions) {
    this.#options = options
  }

  async start (): Promise<void> {
    const { stdout, maxMessageBytes, onNoise, onOversize } = this.#options
    readLines(stdout, {
      maxLineBytes: maxMessageBytes,
      onLine: (line) => {
        if (line.trim() === '') return
        let message: JSONRPCMessage | undefined
        try {
          message = asJsonRpcMessage(JSON.parse(line))
        } catch {}
        if (message === undefined) {
          onNoise(line)
          return
        }
        if (this.#claims.size > 0 && this.#claimedBy(message, line)) return
        // The SDK handles notifications a microtask later but answers at once: an answer waits its
        // turn, so that the progress sent just before it is not dropped.
        if (isResponse(message)) queueMicrotask(() => this.onmessage?.(message))
        else this.onmessage?.(message)
      },
      onOverflow: (_head, bytes) => onOversize(bytes)
    })
    stdout.on('close', () => this.#finish())
  }

  async send (message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('The server process is not running')
    const { stdin } = this.#options
    // Messages sent in the same turn of the event loop (say, calls arriving together on many
    // connections) leave in one write.
    if (stdin.writableCorked === 0) {
      stdin.cork()
      setImmediate(() => stdin.uncork())
    }
    await new Promise<void>((resolve, reject) => {
      stdin.write(serializeMessage(message), (error) => error ? reject(error) : resolve())
    })
  }

  /**
   * A new id for a request sent past the SDK client: its answer and its progress (the id is its
   * progress token too) go to `claim`, never to the client. Released by its answer, by the
   * connection's end, or by `release`.
   */
  claim (claim: Claim): string {
    const id = `mcphub-${++this.#claimed}`
    this.#claims.set(id, claim)
    return id
  }

  release (id: string): void {
    this.#claims.delete(id)
  }

  async close (): Promise<void> {
    this.#finish()
  }

  #claimedBy (message: JSONRPCMessage, line: string): boolean {
    if ('id' in message && !('method' in message)) {
      const claim = typeof message.id === 'string' ? this.#claims.get(message.id) : undefined
      if (claim === undefined) return false
      this.#claims.delete(message.id as string)
      // After the notifications read just before it, as the client's answers (see start).
      queueMicrotask(() => { claim.answer(message, line) })
      return true
    }
    if (!('method' in message) || message.method !== 'notifications/progress') return false
    const { progressToken, ...progress } = message.params ?? {}
    const claim = typeof progressToken === 'string' ? this.#claims.get(progressToken) : undefined
    claim?.progress(progress)
    return claim !== undefined
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    const claims = [...this.#claims.values()]
    this.#claims.clear()
    for (const claim of claims) claim.closed()
    this.onclose?.()
  }
}
