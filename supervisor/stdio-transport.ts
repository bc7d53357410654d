import type { Readable, Writable } from 'node:stream'
import { serializeMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/client'
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

  async close (): Promise<void> {
    this.#finish()
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    this.onclose?.()
  }
}
