import { safeEqual } from '../lib/crypto.ts'

/** Whether an Authorization header carries the `/metrics` scrape token (MCPHUB_METRICS_TOKEN), compared in constant time. */
export function carriesScrapeToken (authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return false
  const bearer = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1]
  return bearer !== undefined && safeEqual(bearer, token)
}
