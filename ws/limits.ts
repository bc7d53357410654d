import { WS_MAX_SOCKETS_PER_USER } from '../lib/config.ts'

/** The bounds and timings of `/ws` sockets (tests shorten them). */
export interface WsLimits {
  /** ms a socket has to authenticate; closed with 4401 after. */
  authTimeoutMs: number
  /** ms between pings; a peer that has not answered the previous ping by the next is cut off. */
  heartbeatMs: number
  /** Bytes queued for a socket past which its log lines are dropped (and counted). */
  softBytes: number
  /** Bytes queued past which a socket is closed (1013) instead of queueing more. */
  hardBytes: number
  /** ms a socket may stay past `softBytes` before it is closed (1013). */
  lagMs: number
  /** ms a closing socket may take to answer the close before it is cut off. */
  closeTimeoutMs: number
  maxSubscriptions: number
  maxSocketsPerUser: number
}

export const DEFAULT_LIMITS: WsLimits = {
  authTimeoutMs: 10_000,
  heartbeatMs: 30_000,
  softBytes: 1024 * 1024,
  hardBytes: 4 * 1024 * 1024,
  lagMs: 5000,
  closeTimeoutMs: 5000,
  maxSubscriptions: 64,
  maxSocketsPerUser: WS_MAX_SOCKETS_PER_USER
}
