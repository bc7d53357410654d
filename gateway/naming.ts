import { createHash } from 'node:crypto'

/** What LLM providers accept for tool names (the strictest common rule). */
export const MAX_NAME_LENGTH = 64
const VALID_NAME = /^[a-zA-Z0-9_-]{1,64}$/
const SEPARATOR = '__'

function shortHash (text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length)
}

/**
 * The name a server's tool or prompt gets on an aggregate endpoint: `{serverKey}__{name}` when
 * that is a valid name of at most 64 characters; otherwise the valid characters, shortened, and
 * a hash of the original, so the result is deterministic and distinct originals stay distinct.
 */
export function namespacedName (serverKey: string, name: string, hashLength = 8): string {
  const plain = `${serverKey}${SEPARATOR}${name}`
  if (VALID_NAME.test(plain) && hashLength === 8) return plain
  const suffix = `_${shortHash(plain, hashLength)}`
  const readable = plain.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, MAX_NAME_LENGTH - suffix.length)
  return readable + suffix
}

export interface NamedItem {
  serverId: string
  serverKey: string
  name: string
}

/**
 * The exposed names of one aggregate view and the way back to the owning server. A collision
 * (two originals giving one exposed name) is resolved with a longer hash, never by dropping.
 */
export class NameTable<T extends NamedItem> {
  readonly #byExposed = new Map<string, T>()
  readonly #byOriginal = new Map<string, T>()

  constructor (items: Iterable<T>) {
    for (const item of items) {
      this.#byOriginal.set(`${item.serverId}\n${item.name}`, item)
      let exposed = namespacedName(item.serverKey, item.name)
      for (let hashLength = 12; this.#byExposed.has(exposed) && hashLength <= 40; hashLength += 4) {
        exposed = namespacedName(item.serverKey, item.name, hashLength)
      }
      this.#byExposed.set(exposed, item)
    }
  }

  resolve (exposed: string): T | undefined {
    return this.#byExposed.get(exposed)
  }

  /** The item a server calls `name` (on endpoints that keep the server's own names). */
  original (serverId: string, name: string): T | undefined {
    return this.#byOriginal.get(`${serverId}\n${name}`)
  }

  entries (): Array<[string, T]> {
    return [...this.#byExposed.entries()]
  }
}
