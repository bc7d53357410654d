/**
 * Whether a browser's `Origin` is the hub's own for this request: the same scheme, host and
 * port. `protocol` is the scheme the request came in on (`https` only over TLS), `host` its
 * `Host` header. Default ports count as given (`http://hub` is `http://hub:80`); an Origin that
 * is not a URL (`null`) is never the hub's.
 */
export function isOwnOrigin (origin: string, protocol: string, host: string | undefined): boolean {
  try {
    return new URL(origin).origin === new URL(`${protocol}://${host ?? ''}`).origin
  } catch {
    return false
  }
}
