import { isDeepStrictEqual } from 'node:util'
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import { randomToken } from '../lib/crypto.ts'
import type { ClientRequestMethod } from '../supervisor/callers.ts'

interface Question {
  id: string
  method: ClientRequestMethod
  params: Record<string, unknown> | undefined
  answer: (result: unknown) => void
}

/** The request a paused call serves: only a retry of the same request, by the same user on the same endpoint, resumes it. */
export interface CallRequest {
  userId: string
  endpoint: string
  method: string
  /** The request's params without `_meta` (the tool or prompt name and arguments, the URI…). */
  params: unknown
}

export type Step<T> = { done: true, result: T } | { done: false, questions: Array<Pick<Question, 'id' | 'method' | 'params'>> }

/**
 * A call to a server on behalf of a 2026-07-28 client, which has no channel for the server's own
 * requests: when the server asks (sampling, elicitation, roots), the hub answers the client with
 * `input_required` and the call waits here until the client retries with the answers.
 */
export class PausedCall<T> {
  readonly request: CallRequest
  readonly #outcome: Promise<{ ok: true, result: T } | { ok: false, error: unknown }>
  readonly #asked: Question[] = []
  readonly #open = new Map<string, Question>()
  #wake: () => void = () => {}
  #questions = 0

  constructor (request: CallRequest, run: (ask: (method: ClientRequestMethod, params: Record<string, unknown> | undefined) => Promise<unknown>) => Promise<T>) {
    this.request = request
    this.#outcome = run(async (method, params) => await new Promise((resolve) => {
      this.#asked.push({ id: `q${++this.#questions}`, method, params, answer: resolve })
      this.#wake()
    })).then((result) => ({ ok: true as const, result }), (error: unknown) => ({ ok: false as const, error }))
  }

  /** What the client must do next: take the result, or answer the server's questions. */
  async next (): Promise<Step<T>> {
    if (this.#asked.length === 0) {
      const asked = new Promise<void>((resolve) => { this.#wake = resolve })
      const outcome = await Promise.race([this.#outcome, asked.then(() => undefined)])
      if (outcome !== undefined) {
        if (!outcome.ok) throw outcome.error
        return { done: true, result: outcome.result }
      }
    }
    // Questions asked together go out together.
    await new Promise((resolve) => setImmediate(resolve))
    const questions = this.#asked.splice(0)
    for (const question of questions) this.#open.set(question.id, question)
    return { done: false, questions: questions.map(({ id, method, params }) => ({ id, method, params })) }
  }

  /** The client's answers, from its retry. */
  answer (responses: Record<string, unknown>): void {
    for (const [id, question] of this.#open) {
      if (!(id in responses)) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `inputResponses lacks "${id}"`)
      question.answer(responses[id])
    }
    this.#open.clear()
  }
}

/** Paused calls by their `requestState`: 256 random bits, owned by the user, bound to the request, kept for the call's timeout. */
export class PausedCalls {
  readonly #calls = new Map<string, { call: PausedCall<unknown>, timer: NodeJS.Timeout }>()

  park (call: PausedCall<unknown>, timeoutMs: number): string {
    const token = randomToken(32)
    const timer = setTimeout(() => this.#calls.delete(token), timeoutMs)
    timer.unref()
    this.#calls.set(token, { call, timer })
    return token
  }

  /**
   * The call a retry resumes; another user's token is unknown. A retry of another request
   * (method, name, arguments or endpoint) is refused, and the call stays paused for its own.
   */
  take (token: string, retry: CallRequest): PausedCall<unknown> | undefined {
    const entry = this.#calls.get(token)
    if (entry === undefined || entry.call.request.userId !== retry.userId) return undefined
    if (!isDeepStrictEqual(entry.call.request, retry)) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'This requestState was issued for another request: retry the same method, name and arguments on the same endpoint')
    }
    this.#calls.delete(token)
    clearTimeout(entry.timer)
    return entry.call
  }
}
