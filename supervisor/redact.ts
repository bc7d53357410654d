/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]'

/** Shorter values are not redacted: they would blank ordinary words everywhere. */
const MIN_VALUE_LENGTH = 4
/** Nor shorter lines of a multi-line value (a `}` or a blank line is in every log). */
const MIN_LINE_LENGTH = 8
/** ` …[cut, 12345678 bytes]` */
const CUT_MARK_BYTES = 32

/** The value as JSON writes it inside a string, escaping non-ASCII too (Python's default). */
function asciiJson (value: string): string {
  return JSON.stringify(value).slice(1, -1).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Removes configured secret values from captured output in every form they can take there: as
 * they are, JSON-escaped (an MCP log message's object `data` is stored as JSON; a value with
 * `"`, `\` or a tab changes), each line of a multi-line value (output is split into lines), and
 * the start of a value that a line cut off.
 */
export class Redactor {
  /** Every form of every value, longest first, so that none is half-replaced. */
  readonly #forms: string[]
  readonly #longest: number

  constructor (values: Iterable<string>) {
    const forms = new Set<string>()
    for (const value of values) {
      if (value.length < MIN_VALUE_LENGTH) continue
      for (const form of [value, JSON.stringify(value).slice(1, -1), asciiJson(value)]) forms.add(form)
      for (const line of value.split(/\r\n|\r|\n/)) if (line.length >= MIN_LINE_LENGTH) forms.add(line)
    }
    this.#forms = [...forms].sort((a, b) => b.length - a.length)
    this.#longest = this.#forms[0]?.length ?? 0
  }

  /** Replaces every form of every value. */
  redact (text: string): string {
    let out = text
    for (const form of this.#forms) if (out.includes(form)) out = out.split(form).join(REDACTED)
    return out
  }

  /**
   * A captured line, redacted, at most `maxBytes` long (cut mark included). A line cut here, or
   * before (`cutFromBytes`: its whole length), also loses the characters where a value may have
   * been cut in two — all of them, whatever they are, so that what is kept never tells how a
   * value begins.
   */
  line (text: string, maxBytes: number, cutFromBytes?: number): string {
    let head = text
    let total = cutFromBytes
    if (total === undefined && Buffer.byteLength(text) <= maxBytes) return this.redact(text)
    // Room for the cut mark within the limit.
    const room = Math.max(0, maxBytes - CUT_MARK_BYTES)
    if (Buffer.byteLength(text) > room) {
      head = Buffer.from(text).subarray(0, room).toString('utf8')
      total ??= Buffer.byteLength(text)
    }
    let out = this.redact(head.replace(/\uFFFD$/, ''))
    if (this.#longest > 1) out = out.slice(0, Math.max(0, out.length - (this.#longest - 1)))
    return `${out} …[cut, ${total} bytes]`
  }
}
