import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { Readable, Transform } from 'node:stream'
import ipaddr from 'ipaddr.js'

/** Why an outbound connection failed, in a word a caller can branch on. */
export type EgressFailure = 'refused' | 'dns' | 'connect' | 'tls' | 'timeout' | 'too-large' | 'protocol'

/** An outbound connection that was refused or failed; `message` says why in plain words and never holds a URL's secrets. */
export class EgressError extends Error {
  readonly kind: EgressFailure

  constructor (kind: EgressFailure, message: string) {
    super(message)
    this.name = 'EgressError'
    this.kind = kind
  }
}

export interface CheckedTarget {
  host: string
  address: string
  family: 4 | 6
}

export interface EgressRequest {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** ms to open the connection (TLS included); 5 s by default. */
  connectTimeoutMs?: number
  /** ms for the whole exchange; 15 s by default. */
  timeoutMs?: number
  /** Response bytes kept at most; more fails with `too-large`. 1 MiB by default. */
  maxResponseBytes?: number
}

export interface EgressResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

type Lookup = (host: string) => Promise<LookupAddress[]>

const systemLookup: Lookup = (host) => new Promise((resolve, reject) => {
  dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => { if (error === null) resolve(addresses); else reject(error) })
})

/** ipaddr.js's range names, in words. */
const RANGE_WORDS: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local (cloud metadata)',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT',
  private: 'a private',
  reserved: 'a reserved',
  uniqueLocal: 'a unique-local',
  benchmarking: 'a benchmarking',
  rfc6052: 'a NAT64 (IPv4-embedding)',
  rfc6145: 'an IPv4-translated',
  '6to4': 'a 6to4 (IPv4-embedding)',
  teredo: 'a Teredo (IPv4-embedding)'
}

/** IPv6 ranges that carry an IPv4 address or route to one (NAT64, 6to4, Teredo, SIIT): refused whatever they embed. */
const TRANSITION_RANGES = new Set(['rfc6052', 'rfc6145', '6to4', 'teredo'])

/** What kind of non-public address `address` is (`a loopback`…), or undefined for a public unicast one. */
export function privateRange (address: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6
    if (v6.isIPv4MappedAddress()) return privateRange(v6.toIPv4Address())
    const range = v6.range()
    if (TRANSITION_RANGES.has(range)) return RANGE_WORDS[range]
    return range === 'unicast' ? undefined : RANGE_WORDS[range] ?? `a ${range}`
  }
  const range = address.range()
  return range === 'unicast' ? undefined : RANGE_WORDS[range] ?? `a ${range}`
}

/**
 * Every outbound connection of the hub goes through here: the name is resolved once, every
 * address it resolves to is checked, and the connection is made to the checked address (no
 * second lookup a DNS rebinding could answer differently). Loopback, private, link-local (cloud
 * metadata), CGNAT, unique-local, multicast, reserved addresses and the IPv6 forms that embed an
 * IPv4 address are refused unless the allow-list (host names, addresses, CIDRs) admits them.
 * Redirects are never followed: a 3xx is the answer. `request()` makes one buffered exchange (a
 * webhook); `fetcher()` gives a streaming `fetch` (the MCP SDK's HTTP transports).
 */
export class EgressGuard {
  readonly #hosts = new Set<string>()
  readonly #ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = []
  readonly #lookup: Lookup

  constructor (allow: string[] = [], lookup: Lookup = systemLookup) {
    for (const entry of allow) {
      const bare = unbracket(entry.trim().toLowerCase())
      if (bare.includes('/')) this.#ranges.push(ipaddr.parseCIDR(bare))
      else if (ipaddr.isValid(bare)) this.#ranges.push([ipaddr.parse(bare), ipaddr.parse(bare).kind() === 'ipv4' ? 32 : 128])
      else this.#hosts.add(bare)
    }
    this.#lookup = lookup
  }

  /** The address to connect to for `host`, or an EgressError saying why not. */
  async resolve (host: string): Promise<CheckedTarget> {
    const name = unbracket(host.toLowerCase())
    let addresses: Array<{ address: string, family: number }>
    if (ipaddr.isValid(name)) {
      addresses = [{ address: name, family: ipaddr.parse(name).kind() === 'ipv4' ? 4 : 6 }]
    } else {
      try {
        addresses = await this.#lookup(name)
      } catch {
        throw new EgressError('dns', `cannot resolve ${name}`)
      }
      if (addresses.length === 0) throw new EgressError('dns', `${name} has no address`)
    }
    for (const { address } of addresses) {
      const reason = this.#refusal(name, address)
      if (reason !== undefined) throw new EgressError('refused', `${name} is refused: ${reason}; MCPHUB_EGRESS_ALLOW can admit it`)
    }
    const first = addresses[0]!
    return { host: name, address: normalized(first.address), family: first.family === 6 ? 6 : 4 }
  }

  /** Whether `address` (reached as `name`) is refused, and why. */
  #refusal (name: string, address: string): string | undefined {
    if (this.#hosts.has(name)) return undefined
    const parsed = ipaddr.parse(address)
    const candidates = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? [parsed, (parsed as ipaddr.IPv6).toIPv4Address()] : [parsed]
    for (const candidate of candidates) {
      if (this.#ranges.some(([range, bits]) => range.kind() === candidate.kind() && candidate.match(range, bits))) return undefined
    }
    const range = privateRange(parsed)
    return range === undefined ? undefined : `${address} is ${range} address`
  }

  /** One buffered HTTP(S) exchange with a checked, pinned address: bounded in time and size, redirects not followed. */
  async request (url: string, init: EgressRequest = {}): Promise<EgressResponse> {
    const { connectTimeoutMs = 5000, timeoutMs = 15_000, maxResponseBytes = 1024 * 1024 } = init
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new EgressError('timeout', `${hostOf(url)} did not answer within ${timeoutMs} ms`)), timeoutMs)
    try {
      const opened = await this.#open(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body, connectTimeoutMs, signal: deadline.signal })
      const body = bodyOf(opened, totalLimit(maxResponseBytes, opened.host), deadline.signal)
      const chunks: Buffer[] = await body.toArray()
      return { status: opened.response.statusCode ?? 0, headers: opened.response.headers, body: Buffer.concat(chunks) }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * A WHATWG `fetch` through this guard, for clients that take one (the MCP SDK's HTTP transports).
   * Each call resolves and checks the host again and connects to the checked address, one
   * connection per call. The answer's body streams as it arrives; a `text/event-stream` may stay
   * open for ever, but none of its events may grow over `maxMessageBytes`, and any other body may
   * not be longer than that. A 3xx is the answer, never followed (`redirect: 'error'` rejects it
   * with a TypeError, as fetch does). Failures are EgressErrors naming the host only; aborting
   * `init.signal` rejects, or errors the body, with the signal's reason (an `AbortError`).
   */
  fetcher ({ connectTimeoutMs = 10_000, responseTimeoutMs = 600_000, maxMessageBytes = 16 * 1024 * 1024 }: FetchLimits = {}): FetchLike {
    return async (url, init = {}) => {
      const method = (init.method ?? 'GET').toUpperCase()
      const body = requestBody(init.body)
      if (body !== undefined && (method === 'GET' || method === 'HEAD')) throw new TypeError(`a ${method} request cannot have a body`)
      const signal = init.signal ?? undefined
      const opened = await this.#open(url, { method, headers: requestHeaders(init.headers, body), body, connectTimeoutMs, responseTimeoutMs, signal })
      const { host, request, response } = opened
      const status = response.statusCode ?? 0
      if (init.redirect === 'error' && REDIRECT_STATUSES.has(status)) {
        request.destroy()
        throw new TypeError(`${host} answered with a redirect (HTTP ${status}) and this request refuses redirects`)
      }
      try {
        const headers = new Headers()
        for (let i = 0; i < response.rawHeaders.length; i += 2) headers.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!)
        if (method === 'HEAD' || NULL_BODY_STATUSES.has(status)) {
          request.destroy()
          return new Response(null, { status, statusText: response.statusMessage, headers })
        }
        const limit = headers.get('content-type')?.toLowerCase().startsWith('text/event-stream') === true ? eventLimit(maxMessageBytes, host) : totalLimit(maxMessageBytes, host)
        return new Response(Readable.toWeb(bodyOf(opened, limit, signal)) as ReadableStream, { status, statusText: response.statusMessage, headers })
      } catch {
        request.destroy()
        throw new EgressError('protocol', `${host} answered with an invalid status line or header`)
      }
    }
  }

  /** Connects to the checked, pinned address of `url`, sends the request, and resolves with the response's head. */
  async #open (url: string | URL, exchange: Exchange): Promise<Opened> {
    let target: URL
    try {
      target = new URL(url)
    } catch {
      throw new EgressError('protocol', 'the URL is not valid')
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new EgressError('protocol', `${target.protocol} URLs are not supported`)
    const { signal, connectTimeoutMs, responseTimeoutMs } = exchange
    signal?.throwIfAborted()
    const { host, address, family } = await this.resolve(target.hostname)
    signal?.throwIfAborted()
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if (options.all === true) (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, [{ address, family }])
      else callback(null, address, family)
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    return await new Promise<Opened>((resolve, reject) => {
      const request = send(target, { method: exchange.method, headers: exchange.headers, lookup: pinned, agent: false })
      const fail = (error: unknown) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', abort)
        request.destroy()
        reject(error)
      }
      const abort = () => fail(signal?.reason)
      let timer = setTimeout(() => fail(new EgressError('timeout', `cannot connect to ${host} within ${connectTimeoutMs} ms`)), connectTimeoutMs)
      signal?.addEventListener('abort', abort, { once: true })
      request.on('socket', (socket) => {
        socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(timer)
          if (responseTimeoutMs !== undefined) timer = setTimeout(() => fail(new EgressError('timeout', `${host} did not answer within ${responseTimeoutMs} ms`)), responseTimeoutMs)
        })
      })
      request.on('response', (response) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', abort)
        resolve({ host, request, response })
      })
      // Kept after the head: a socket error is emitted here as well as on the body, which reports it.
      request.on('error', (error) => fail(describe(error, host)))
      request.end(exchange.body)
    })
  }
}

/** A WHATWG-compatible `fetch`, as the MCP SDK's transports take it. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>

export interface FetchLimits {
  /** ms to open each connection (TLS included); 10 s by default. */
  connectTimeoutMs?: number
  /** ms from the connection being made (the request is sent then) to the response's head; 10 min by default, as a call may answer only when a long tool call ends. The body has no time limit. */
  responseTimeoutMs?: number
  /** Bytes an event of a `text/event-stream` body, or any other whole body, may have at most; more errors the body with `too-large`. 16 MiB by default. */
  maxMessageBytes?: number
}

interface Exchange {
  method: string
  headers: OutgoingHttpHeaders
  body: string | Uint8Array | undefined
  connectTimeoutMs: number
  responseTimeoutMs?: number
  /** Aborting it destroys the connection; the exchange rejects with its reason. */
  signal?: AbortSignal | undefined
}

interface Opened {
  host: string
  request: ClientRequest
  response: IncomingMessage
}

/** The statuses fetch follows as redirects. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
/** The statuses whose response has no body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304])
/**
 * Headers the connection sets, as fetch does: the Host header stays the URL's host (and the TLS
 * name with it); no content coding is asked for, as bodies are passed on undecoded.
 */
const CONNECTION_HEADERS = new Set(['host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer', 'accept-encoding'])

/** `init.headers` in any of fetch's forms, as node:http takes them. */
function requestHeaders (init: RequestInit['headers'], body: string | Uint8Array | undefined): OutgoingHttpHeaders {
  let headers: Headers
  try {
    headers = new Headers(init)
  } catch {
    // Its message would quote the value, which may be a token.
    throw new TypeError('a request header has an invalid name or value')
  }
  if (typeof body === 'string' && !headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8')
  const outgoing: OutgoingHttpHeaders = {}
  for (const [name, value] of headers) if (!CONNECTION_HEADERS.has(name)) outgoing[name] = value
  return outgoing
}

function requestBody (body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  throw new TypeError('the body can only be a string, an ArrayBuffer or a typed array')
}

/** The response's body through `limit`: its failures as EgressErrors, ended by `signal`, and the connection closed when it closes. */
function bodyOf ({ host, request, response }: Opened, limit: Transform, signal: AbortSignal | undefined): Transform {
  const abort = () => limit.destroy(signal?.reason)
  signal?.addEventListener('abort', abort, { once: true })
  limit.on('close', () => {
    signal?.removeEventListener('abort', abort)
    request.destroy()
  })
  response.on('error', (error) => limit.destroy(describe(error, host)))
  if (signal?.aborted === true) abort()
  return response.pipe(limit)
}

/** Passes a body of at most `max` bytes; a longer one fails with `too-large`. */
function totalLimit (max: number, host: string): Transform {
  let size = 0
  return new Transform({
    transform (chunk: Buffer, _encoding, done) {
      size += chunk.length
      if (size > max) done(new EgressError('too-large', `the response of ${host} is over ${max} bytes`))
      else done(null, chunk)
    }
  })
}

const LF = 0x0a
const CR = 0x0d

/**
 * Passes a `text/event-stream` of any length whose every event (its lines up to the blank line
 * that ends it, the unit an SSE parser holds in memory) has at most `max` bytes; a longer one
 * fails with `too-large`.
 */
function eventLimit (max: number, host: string): Transform {
  let line = 0
  let event = 0
  let previous = 0
  return new Transform({
    transform (chunk: Buffer, _encoding, done) {
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!
        if (byte === CR || (byte === LF && previous !== CR)) {
          if (line === 0) event = 0
          line = 0
        } else if (byte !== LF) {
          line++
          if (++event > max) return done(new EgressError('too-large', `an event from ${host} is over ${max} bytes`))
        }
        previous = byte
      }
      done(null, chunk)
    }
  })
}

const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|UNABLE_TO_|SELF_SIGNED|HOSTNAME_MISMATCH)/

/** A socket error in plain words, naming the host and never the URL (it may hold a token). */
function describe (error: Error & { code?: string }, host: string): EgressError {
  if (error instanceof EgressError) return error
  const code = error.code ?? ''
  if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(error.message)) return new EgressError('tls', `TLS with ${host} failed: ${error.message}`)
  if (code.startsWith('HPE_')) return new EgressError('protocol', `${host} did not answer in HTTP`)
  if (code === 'ECONNREFUSED') return new EgressError('connect', `${host} refused the connection`)
  if (code === 'ECONNRESET' || code === 'EPIPE') return new EgressError('connect', `${host} closed the connection`)
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new EgressError('connect', `${host} is unreachable`)
  if (code === 'ETIMEDOUT') return new EgressError('timeout', `${host} did not answer in time`)
  return new EgressError('connect', `connecting to ${host} failed: ${code === '' ? error.message : code}`)
}

/** A host as compared and resolved: without IPv6 brackets or the root's trailing dot. */
function unbracket (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host.replace(/\.$/, '')
}

/** The host of a valid `url`, as errors name it. */
function hostOf (url: string): string {
  return unbracket(new URL(url).hostname)
}

function normalized (address: string): string {
  return ipaddr.parse(address).toString()
}
