import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

export function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Compares two strings in time independent of where they differ (digests of equal length). */
export function safeEqual (a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest()
  const right = createHash('sha256').update(b).digest()
  return timingSafeEqual(left, right)
}

export function randomToken (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * Encrypts secrets at rest (TOTP secrets, server env values) with AES-256-GCM under a key
 * derived from the hub's secret. Output: `v1.<iv>.<tag>.<ciphertext>`, base64url parts.
 */
export class SecretBox {
  readonly #key: Buffer

  constructor (hubSecret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', hubSecret, 'mcphub', 'secret-box-v1', 32))
  }

  seal (plaintext: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return ['v1', iv, cipher.getAuthTag(), data].map((part) => typeof part === 'string' ? part : part.toString('base64url')).join('.')
  }

  open (sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.')
    if (version !== 'v1' || iv === undefined || tag === undefined || data === undefined) throw new Error('not a sealed secret')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
  }
}
