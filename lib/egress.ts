import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
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
 * Redirects are never followed: a 3xx is the answer.
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

  /** One HTTP(S) exchange with a checked, pinned address: bounded in time and size, redirects not followed. */
  async request (url: string, init: EgressRequest = {}): Promise<EgressResponse> {
    const target = new URL(url)
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new EgressError('protocol', `${target.protocol} URLs are not supported`)
    const checked = await this.resolve(target.hostname)
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if (options.all === true) (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, [{ address: checked.address, family: checked.family }])
      else callback(null, checked.address, checked.family)
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const { connectTimeoutMs = 5000, timeoutMs = 15_000, maxResponseBytes = 1024 * 1024 } = init
    return await new Promise<EgressResponse>((resolve, reject) => {
      let settled = false
      const fail = (error: EgressError) => {
        if (settled) return
        settled = true
        clearTimeout(total)
        clearTimeout(connecting)
        request.destroy()
        reject(error)
      }
      const request = send(target, {
        method: init.method ?? 'GET',
        headers: init.headers,
        lookup: pinned,
        agent: false
      }, (response) => {
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > maxResponseBytes) fail(new EgressError('too-large', `the response of ${checked.host} is over ${maxResponseBytes} bytes`))
          else chunks.push(chunk)
        })
        response.on('error', (error) => fail(describe(error, checked.host)))
        response.on('end', () => {
          if (settled) return
          settled = true
          clearTimeout(total)
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) })
        })
      })
      const total = setTimeout(() => fail(new EgressError('timeout', `${checked.host} did not answer within ${timeoutMs} ms`)), timeoutMs)
      const connecting = setTimeout(() => fail(new EgressError('timeout', `cannot connect to ${checked.host} within ${connectTimeoutMs} ms`)), connectTimeoutMs)
      request.on('socket', (socket) => {
        socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connecting))
      })
      request.on('error', (error) => fail(describe(error, checked.host)))
      request.end(init.body)
    })
  }
}

const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|UNABLE_TO_|SELF_SIGNED|HOSTNAME_MISMATCH)/

/** A socket error in plain words, naming the host and never the URL (it may hold a token). */
function describe (error: Error & { code?: string }, host: string): EgressError {
  if (error instanceof EgressError) return error
  const code = error.code ?? ''
  if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(error.message)) return new EgressError('tls', `TLS with ${host} failed: ${error.message}`)
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

function normalized (address: string): string {
  return ipaddr.parse(address).toString()
}
