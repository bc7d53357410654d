import { createHash } from 'node:crypto'

const KEY_LENGTH = 32

/**
 * A stable ASCII key for a server, derived from its name (names may be in any language): a
 * slug when the name has Latin letters or digits, `server-<hash>` otherwise; `-2`, `-3`… when
 * taken.
 */
export function deriveServerKey (name: string, taken: ReadonlySet<string>): string {
  const slug = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, KEY_LENGTH).replace(/-+$/, '')
  const base = slug === '' ? `server-${createHash('sha256').update(name).digest('hex').slice(0, 6)}` : slug
  if (!taken.has(base)) return base
  for (let n = 2; ; n++) {
    const candidate = `${base.slice(0, KEY_LENGTH - String(n).length - 1)}-${n}`
    if (!taken.has(candidate)) return candidate
  }
}

export const SERVER_KEY_PATTERN = '^[a-z0-9][a-z0-9-]{0,31}$'
