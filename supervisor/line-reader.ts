import type { Readable } from 'node:stream'

export interface LineReaderOptions {
  /** A line longer than this is reported through `onOverflow` instead of `onLine`. */
  maxLineBytes: number
  onLine: (line: string) => void
  /** An overlong line: its first bytes (at most 16 KiB) and its whole length. */
  onOverflow: (head: string, bytes: number) => void
}

const HEAD_BYTES = 16 * 1024

/**
 * Splits a stream into lines without ever holding more than `maxLineBytes` of a partial line:
 * the rest of an overlong line is skipped and reported once, with its head.
 */
export function readLines (stream: Readable, options: LineReaderOptions): void {
  let pending: Buffer[] = []
  let pendingBytes = 0
  let overflow: { head: Buffer, bytes: number } | undefined
  stream.on('data', (chunk: Buffer) => {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start)
      const end = newline === -1 ? chunk.length : newline
      const piece = chunk.subarray(start, end)
      if (overflow !== undefined) {
        overflow.bytes += piece.length
      } else if (pendingBytes + piece.length > options.maxLineBytes) {
        const head = Buffer.concat([...pending, piece]).subarray(0, Math.min(HEAD_BYTES, options.maxLineBytes))
        overflow = { head: Buffer.from(head), bytes: pendingBytes + piece.length }
        pending = []
        pendingBytes = 0
      } else if (piece.length > 0) {
        pending.push(piece)
        pendingBytes += piece.length
      }
      if (newline === -1) break
      if (overflow !== undefined) {
        options.onOverflow(overflow.head.toString('utf8'), overflow.bytes)
        overflow = undefined
      } else {
        const line = Buffer.concat(pending, pendingBytes).toString('utf8').replace(/\r$/, '')
        pending = []
        pendingBytes = 0
        options.onLine(line)
      }
      start = newline + 1
    }
  })
}
