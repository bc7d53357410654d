import { codeOfStatus, MCPHubError, type ErrorCode } from './errors.js'

/** What every method takes last. */
export interface RequestOptions {
  /** Aborts the request (it fails with `ABORTED`). */
  signal?: AbortSignal | undefined
  /** Called with the successful answer before its body is read: for its headers (the config's `ETag`). */
  onResponse?: ((response: Response) => void) | undefined
}

/** One API call, as the generated resources describe it. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** `/api/servers/{serverId}`: `{name}` is filled from `pathParams`. */
  path: string
  pathParams?: Record<string, string>
  /** Sent as the query string; undefined values are left out, arrays joined by commas. */
  query?: object
  /** Sent as JSON. */
  body?: unknown
  headers?: Record<string, string | undefined>
  options?: RequestOptions
  /** `json`: the envelope's `data` (or the whole body when not `enveloped`); `text`; `none` (204). */
  resultType: 'json' | 'text' | 'none'
  /** false for the few answers that are not `{ success, data }` (health, readiness). */
  enveloped?: boolean
  /** false for the public operations (sign-in, refresh, health): sent without a credential. */
  authenticated?: boolean
}

/** Where requests get their credential from: the client's session. */
export interface Authenticator {
  /** The headers carrying the credential, and the access token among them (none for an API key). */
  credentials (signal?: AbortSignal): Promise<{ headers: Record<string, string>, token?: string | undefined }>
  /** After a 401 to a request sent with `token`: whether a fresh token makes a retry worth it. */
  recover (token: string, signal?: AbortSignal): Promise<boolean>
}

export interface TransportOptions {
  /** The hub's address, e.g. `https://hub.example.com`. */
  baseURL: string
  /** The fetch to use (the global one by default). */
  fetch?: typeof fetch
  /** ms a request may take before it fails with `TIMEOUT` (default 30 000; 0 for none). For log streams, until the answer starts. */
  timeout?: number
  /** How many times a request is retried after a 429 or a connection reset (default 2). */
  maxRetries?: number
  /** Whether a 429 is retried after its `Retry-After` (default true). */
  retryOnRateLimit?: boolean
  /** The longest `Retry-After` (seconds) the client waits for; a longer one fails at once (default 60). */
  maxRetryAfter?: number
}

const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE'])
/** Errors of a connection that broke (rather than one that never opened). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

const causeCode = (error: unknown): string | undefined => {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause
  return typeof cause?.code === 'string' ? cause.code : undefined
}

/** Whether a failed fetch broke on an open connection; a browser does not say, so there it counts as one. */
const isConnectionReset = (error: unknown): boolean => {
  const code = causeCode(error)
  return code === undefined ? error instanceof TypeError : RESET_CODES.has(code)
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date. */
function parseRetryAfter (value: string | null): number | undefined {
  if (value === null) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

/** Waits `ms`, or fails with `ABORTED` as soon as `signal` aborts. */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortedError(signal))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortedError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

const abortedError = (signal: AbortSignal) => new MCPHubError({ code: 'ABORTED', message: 'The request was aborted', cause: signal.reason })

/** One attempt's signal: aborted by the caller's signal, or by the timeout. */
class Deadline {
  readonly controller = new AbortController()
  readonly #signal: AbortSignal | undefined
  readonly #onAbort = () => this.controller.abort(this.#signal?.reason)
  #timer: ReturnType<typeof setTimeout> | undefined
  #timedOut = false

  constructor (timeout: number, signal: AbortSignal | undefined) {
    this.#signal = signal
    if (signal?.aborted === true) this.controller.abort(signal.reason)
    else signal?.addEventListener('abort', this.#onAbort, { once: true })
    if (timeout > 0) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true
        this.controller.abort(new Error(`no answer within ${timeout} ms`))
      }, timeout)
    }
  }

  /** Ends the timeout (the caller's signal still aborts). */
  stopTimer (): void {
    clearTimeout(this.#timer)
  }

  release (): void {
    this.stopTimer()
    this.#signal?.removeEventListener('abort', this.#onAbort)
  }

  /** What a failure of this attempt is, as an MCPHubError. */
  failure (error: unknown, origin: string): MCPHubError {
    if (error instanceof MCPHubError) return error
    if (this.#timedOut) return new MCPHubError({ code: 'TIMEOUT', message: `${origin} did not answer in time`, cause: error })
    if (this.#signal?.aborted === true) return abortedError(this.#signal)
    const reason = causeCode(error) ?? (error instanceof Error ? error.message : String(error))
    return new MCPHubError({ code: 'NETWORK_ERROR', message: `Cannot reach ${origin}: ${reason}`, cause: error })
  }
}

/** The error an answer that is not a success stands for. */
async function errorOf (response: Response): Promise<MCPHubError> {
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'))
  let body: unknown
  try {
    body = JSON.parse(await response.text())
  } catch {}
  const error = (body as { success?: unknown, error?: { code?: unknown, message?: unknown, details?: unknown } } | undefined)?.error
  if (typeof error?.code === 'string' && typeof error.message === 'string') {
    return new MCPHubError({
      code: error.code as ErrorCode,
      message: error.message,
      status: response.status,
      details: error.details as Record<string, unknown> | undefined,
      retryAfter
    })
  }
  return new MCPHubError({ code: codeOfStatus(response.status), message: `HTTP ${response.status} ${response.statusText}`.trim(), status: response.status, retryAfter })
}

/** The one function the generated resources call: builds the request, authenticates it, retries it, reads the answer. */
export class Transport {
  readonly baseURL: string
  readonly origin: string
  /** Set by the client: where credentials come from. */
  authenticator: Authenticator | undefined
  readonly #fetch: typeof fetch
  readonly #timeout: number
  readonly #maxRetries: number
  readonly #retryOnRateLimit: boolean
  readonly #maxRetryAfter: number

  constructor (options: TransportOptions) {
    this.baseURL = options.baseURL.replace(/\/+$/, '')
    this.origin = new URL(this.baseURL).origin
    const fetchFunction = options.fetch ?? globalThis.fetch
    this.#fetch = (input, init) => fetchFunction(input, init)
    this.#timeout = options.timeout ?? 30_000
    this.#maxRetries = options.maxRetries ?? 2
    this.#retryOnRateLimit = options.retryOnRateLimit ?? true
    this.#maxRetryAfter = options.maxRetryAfter ?? 60
  }

  /** The full URL of a request. */
  url (spec: Pick<RequestSpec, 'path' | 'pathParams' | 'query'>): string {
    const path = spec.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = spec.pathParams?.[name]
      if (value === undefined || value === '') throw new TypeError(`${name} is required`)
      return encodeURIComponent(value)
    })
    const search = new URLSearchParams()
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value === undefined || value === null) continue
      search.append(name, Array.isArray(value) ? value.join(',') : String(value))
    }
    const query = search.toString()
    return `${this.baseURL}${path}${query === '' ? '' : `?${query}`}`
  }

  /** Sends one API call and answers its result. */
  async request<T> (spec: RequestSpec): Promise<T> {
    return await this.#exchange(spec, false, async (response) => {
      spec.options?.onResponse?.(response)
      if (spec.resultType === 'none') {
        await response.body?.cancel()
        return undefined as T
      }
      const text = await response.text()
      if (spec.resultType === 'text') return text as T
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch (error) {
        throw new MCPHubError({ code: 'INVALID_RESPONSE', message: `${this.origin} answered ${response.status} with a body that is not JSON`, status: response.status, cause: error })
      }
      if (spec.enveloped === false) return body as T
      const envelope = body as { success?: unknown, data?: unknown }
      if (envelope.success !== true) throw new MCPHubError({ code: 'INVALID_RESPONSE', message: `${this.origin} answered ${response.status} without the API's envelope`, status: response.status })
      return envelope.data as T
    })
  }

  /** Sends a request whose answer is a stream: the response, once it starts (the timeout stops there). */
  async stream (spec: Omit<RequestSpec, 'resultType'>): Promise<Response> {
    return await this.#exchange({ ...spec, resultType: 'none' }, true, async (response) => response)
  }

  async #exchange<T> (spec: RequestSpec, streaming: boolean, read: (response: Response) => Promise<T>): Promise<T> {
    const url = this.url(spec)
    const signal = spec.options?.signal
    let retries = 0
    let recovered = false
    for (;;) {
      const credentials = spec.authenticated === false || this.authenticator === undefined ? undefined : await this.authenticator.credentials(signal)
      const headers: Record<string, string> = { accept: streaming ? 'application/x-ndjson' : spec.resultType === 'text' ? 'text/plain' : 'application/json', ...credentials?.headers }
      for (const [name, value] of Object.entries(spec.headers ?? {})) if (value !== undefined) headers[name] = value
      if (spec.body !== undefined) headers['content-type'] = 'application/json'
      const deadline = new Deadline(this.#timeout, signal)
      let response: Response
      try {
        response = await this.#fetch(url, {
          method: spec.method,
          headers,
          signal: deadline.controller.signal,
          ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) })
        })
      } catch (error) {
        deadline.release()
        const failure = deadline.failure(error, this.origin)
        if (failure.code === 'NETWORK_ERROR' && IDEMPOTENT.has(spec.method) && isConnectionReset(error) && retries < this.#maxRetries) {
          retries++
          await sleep(100 * 2 ** retries * (0.5 + Math.random() / 2), signal)
          continue
        }
        throw failure
      }
      if (streaming) deadline.stopTimer()
      try {
        if (response.ok) return await read(response)
        const error = await errorOf(response)
        if (response.status === 401 && credentials?.token !== undefined && !recovered && await this.authenticator!.recover(credentials.token, signal)) {
          recovered = true
          continue
        }
        const wait = error.retryAfter ?? 1
        if (response.status === 429 && this.#retryOnRateLimit && retries < this.#maxRetries && wait <= this.#maxRetryAfter) {
          retries++
          await sleep(wait * 1000, signal)
          continue
        }
        throw error
      } catch (error) {
        throw deadline.failure(error, this.origin)
      } finally {
        if (!streaming) deadline.release()
      }
    }
  }
}
