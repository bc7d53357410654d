import type { Duplex, Writable } from 'node:stream'

/**
 * Writes lines to a stream whose reader may be slow (a follow stream, an event stream) without
 * ever holding more than `maxBufferedBytes` for it: past that, lines are skipped and counted;
 * once the reader has caught up (half the bound is free again), a line made by `skippedLine`
 * tells it how many it missed, and lines flow again.
 */
export class SkippingWriter {
  readonly #stream: Writable | Duplex
  readonly #maxBufferedBytes: number
  readonly #skippedLine: (count: number) => string
  /** Lines skipped since the reader last heard of it. */
  #missed = 0
  #skipped = 0

  constructor (stream: Writable | Duplex, maxBufferedBytes: number, skippedLine: (count: number) => string) {
    this.#stream = stream
    this.#maxBufferedBytes = maxBufferedBytes
    this.#skippedLine = skippedLine
  }

  /** Lines skipped so far. */
  get skipped (): number {
    return this.#skipped
  }

  /** What the stream holds for its reader: what waits to be written and, for a duplex, to be read. */
  get buffered (): number {
    return this.#stream.writableLength + ('readableLength' in this.#stream ? this.#stream.readableLength : 0)
  }

  /** Writes a line, or skips it when the reader is too far behind; false when skipped. */
  write (line: string): boolean {
    if (this.#stream.writableEnded || this.#stream.destroyed) return false
    const bound = this.#missed > 0 ? this.#maxBufferedBytes / 2 : this.#maxBufferedBytes
    if (this.buffered + Buffer.byteLength(line) > bound) {
      this.skip()
      return false
    }
    if (this.#missed > 0) {
      this.#stream.write(this.#skippedLine(this.#missed))
      this.#missed = 0
    }
    this.#stream.write(line)
    return true
  }

  /** Counts a line skipped before it reached the writer. */
  skip (): void {
    this.#missed++
    this.#skipped++
  }
}
