import type { EgressGuard } from '../../lib/egress.ts'
import { DeliveryError } from '../failure.ts'

const CONNECT_TIMEOUT_MS = 5000
const TIMEOUT_MS = 15_000
/** Receivers answer a line or two; more is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024

/**
 * POSTs `body` as JSON through the egress guard: 2xx is delivered, anything else (a redirect
 * included: they are not followed) fails with its HTTP status. `what` names the receiver in
 * errors, which never hold the URL.
 */
export async function postJson (egress: EgressGuard, what: string, url: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  let host: string
  try {
    host = new URL(url).host
  } catch {
    throw new DeliveryError(`the ${what} URL is not a valid URL`)
  }
  let status: number
  try {
    const response = await egress.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'MCPHub', ...headers },
      body,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES
    })
    status = response.status
  } catch (error) {
    // The guard's messages name the host, never the URL.
    throw new DeliveryError(`${what}: ${(error as Error).message}`)
  }
  if (status < 200 || status >= 300) throw new DeliveryError(`${what}: ${host} answered HTTP ${status}`)
}
