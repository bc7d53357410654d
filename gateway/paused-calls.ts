import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import { randomToken } from '../lib/crypto.ts'
import type { ClientRequestMethod } from '../supervisor/callers.ts'

interface Question {
  id: string
  method: ClientRequestMethod
  params: Record<string, unknown> | undefined
  answer: (result: unknown) => void
}

export type Step<T> = { done: true, result: T } | { done: false, questions: Array<Pick<Question, 'id' | 'method' | 'params'>> }

/**
 * A call to a server on behalf of a 2026-07-28 client, which has no channel for the server's own
 * requests: when the server asks (sampling, elicitation, roots), the hub answers the client with
 * `input_required` and the call waits here until the client retries with the answers.
 */
export class PausedCall<T> {
  readonly userId: string
  readonly #outcome: Promise<{ ok: true, result: T } | { ok: false, error: unknown }>
  readonly #asked: Question[] = []
  readonly #open = new Map<string, Question>()
  #wake: () => void = () => {}
  #questions = 0

  constructor (userId: string, run: (ask: (method: ClientRequestMethod, params: Record<string, unknown> | undefined) => Promise<unknown>) => Promise<T>) {
    this.userId = userId
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

/** Paused calls by their `requestState`: 256 random bits, owned by the user, kept for the call's timeout. */
export class PausedCalls {
  readonly #calls = new Map<string, { call: PausedCall<unknown>, timer: NodeJS.Timeout }>()

  park (call: PausedCall<unknown>, timeoutMs: number): string {
    const token = randomToken(32)
    const timer = setTimeout(() => this.#calls.delete(token), timeoutMs)
    timer.unref()
    this.#calls.set(token, { call, timer })
    return token
  }

  /** The call a retry resumes; another user's token is unknown. */
  take (token: string, userId: string): PausedCall<unknown> | undefined {
    const entry = this.#calls.get(token)
    if (entry === undefined || entry.call.userId !== userId) return undefined
    this.#calls.delete(token)
    clearTimeout(entry.timer)
    return entry.call
  }
}
