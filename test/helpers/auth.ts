import type { App } from '../../app.ts'
import { totpCode, totpStep } from '../../lib/totp.ts'
import { rememberSecret, type SignedIn } from '../helper.ts'

/** Creates an API key through the API, as `owner`. */
export async function createApiKey (app: App, owner: SignedIn, fields: Record<string, unknown> = {}): Promise<{ id: string, key: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: owner.headers, payload: { name: 'k', ...fields } })
  if (res.statusCode !== 201) throw new Error(`creating a key failed: ${res.statusCode} ${res.body}`)
  rememberSecret(res.json().data.key)
  return res.json().data
}

/** GET /api/auth/verify with these headers, from this address. */
export const verifyWith = (app: App, headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
  app.inject({ method: 'GET', url: '/api/auth/verify', headers, remoteAddress })

/** Enrols MFA for a signed-in user; returns the TOTP secret. */
export async function enrolMfa (app: App, user: SignedIn, clock: number): Promise<string> {
  const secret = (await app.inject({ method: 'POST', url: '/api/auth/mfa/enroll', headers: user.headers })).json().data.secret
  const confirm = await app.inject({ method: 'POST', url: '/api/auth/mfa/confirm', headers: user.headers, payload: { code: totpCode(secret, totpStep(clock)) } })
  if (confirm.statusCode !== 200) throw new Error(`MFA confirmation failed: ${confirm.body}`)
  return secret
}

/** A wrong code for `secret` at `clock` (none of the steps a check accepts). */
export function wrongCode (secret: string, clock: number): string {
  const accepted = new Set([-1, 0, 1].map((offset) => totpCode(secret, totpStep(clock) + offset)))
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0')
    if (!accepted.has(code)) return code
  }
}
