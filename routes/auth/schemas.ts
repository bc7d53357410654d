import { Type } from 'typebox'
import { MAX_PASSWORD_LENGTH } from '../../lib/passwords.ts'
import { Envelope, Id, Nullable, Ref, Timestamp } from '../../lib/schemas.ts'

export const MfaCode = Type.String({ pattern: '^[0-9]{6}$', description: 'Current 6-digit TOTP code', examples: ['123456'] })

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 128 }),
  password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }),
  mfaCode: Type.Optional(MfaCode)
}, { $id: 'Login', additionalProperties: false, examples: [{ username: 'admin', password: 'correct horse battery staple' }] })

export const SessionUser = Type.Object({
  id: Id,
  username: Type.String(),
  role: Type.Enum(['admin', 'user']),
  permissions: Type.Array(Type.String(), { description: '`["*"]` for admins' })
}, { $id: 'SessionUser' })

const USER_EXAMPLE = { id: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10', username: 'admin', role: 'admin' as const, permissions: ['*'] }

export const TokenPair = Type.Object({
  token: Type.String({ description: 'Access token (JWT) for `Authorization: Bearer`' }),
  refreshToken: Type.String({ description: 'Opaque; spent by POST /api/auth/refresh' }),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  user: Ref(SessionUser)
}, { $id: 'TokenPair' })
export const TOKEN_PAIR_EXAMPLE = { token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...', refreshToken: 'q8T0...', expiresIn: 900, user: USER_EXAMPLE }

export const BrowserSession = Type.Object({
  token: Type.String({ description: 'Access token (JWT) for `Authorization: Bearer`; keep it in memory only' }),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  tokenType: Type.Literal('Bearer'),
  user: Ref(SessionUser)
}, { $id: 'BrowserSession', description: 'A token pair without its refresh token, which travels in the `mcphub_refresh` cookie' })
const BROWSER_SESSION_EXAMPLE = { token: TOKEN_PAIR_EXAMPLE.token, expiresIn: 900, tokenType: 'Bearer' as const, user: USER_EXAMPLE }

export const CsrfHeaders = Type.Object({
  'x-csrf-token': Type.Optional(Type.String({ description: 'The `mcphub_csrf` cookie\'s value (double-submit CSRF token): refused with a 403 when missing or different' }))
})

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 200 })
}, { $id: 'Refresh', additionalProperties: false, examples: [{ refreshToken: 'q8T0...' }] })

export const Verification = Type.Object({
  user: Ref(SessionUser),
  method: Type.Enum(['token', 'apiKey']),
  expiresAt: Nullable(Timestamp)
}, { $id: 'Verification' })
export const VERIFICATION_EXAMPLE = { user: USER_EXAMPLE, method: 'token' as const, expiresAt: '2026-01-01T12:15:00.000Z' }

export const MfaStatus = Type.Object({
  enabled: Type.Boolean(),
  pending: Type.Boolean({ description: 'Enrolment started and awaiting a first code' })
}, { $id: 'MfaStatus' })

export const MfaEnrolment = Type.Object({
  secret: Type.String({ description: 'Base32 TOTP secret, shown once' }),
  otpauthUrl: Type.String({ description: 'For authenticator apps (QR code)' })
}, { $id: 'MfaEnrolment' })

export const MfaCodeBody = Type.Object({ code: MfaCode }, { $id: 'MfaCode', additionalProperties: false })

export const ApiKey = Type.Object({
  id: Id,
  userId: Id,
  name: Type.String(),
  prefix: Type.String({ description: 'Public part, shown in lists' }),
  readOnly: Type.Boolean(),
  createdAt: Timestamp,
  lastUsedAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp)
}, { $id: 'ApiKey' })
const API_KEY_EXAMPLE = {
  id: '7d9e1a52-0f0b-4c43-9f5e-2a1b3c4d5e6f',
  userId: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10',
  name: 'ci',
  prefix: 'Ab12Cd34Ef56',
  readOnly: true,
  createdAt: '2026-01-01T12:00:00.000Z',
  lastUsedAt: null,
  expiresAt: null,
  revokedAt: null
}
export const API_KEY_EXAMPLES = { one: API_KEY_EXAMPLE, created: { ...API_KEY_EXAMPLE, key: 'mcphub_Ab12Cd34Ef56_...' } }

export const CreatedApiKey = Type.Intersect([Ref(ApiKey), Type.Object({ key: Type.String({ description: 'The whole key, shown only in this response' }) })], { $id: 'CreatedApiKey' })

export const CreateApiKeyBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  readOnly: Type.Optional(Type.Boolean({ default: false, description: 'Only GET requests' })),
  expiresAt: Type.Optional(Type.String({ format: 'date-time' }))
}, { $id: 'CreateApiKey', additionalProperties: false, examples: [{ name: 'ci', readOnly: true }] })

export const ApiKeyListQuery = Type.Object({
  userId: Type.Optional(Type.String({ format: 'uuid', description: 'Admins: only this user\'s keys (default: everyone\'s)' }))
}, { additionalProperties: false })

export const KeyIdParams = Type.Object({ keyId: Type.String({ format: 'uuid' }) })
export const UserIdParams = Type.Object({ userId: Type.String({ format: 'uuid' }) })

export const TokenPairEnvelope = Envelope('TokenPairEnvelope', Ref(TokenPair), TOKEN_PAIR_EXAMPLE)
export const BrowserSessionEnvelope = Envelope('BrowserSessionEnvelope', Ref(BrowserSession), BROWSER_SESSION_EXAMPLE)
export const VerificationEnvelope = Envelope('VerificationEnvelope', Ref(Verification), VERIFICATION_EXAMPLE)
export const MfaStatusEnvelope = Envelope('MfaStatusEnvelope', Ref(MfaStatus), { enabled: true, pending: false })
export const MfaEnrolmentEnvelope = Envelope('MfaEnrolmentEnvelope', Ref(MfaEnrolment), { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', otpauthUrl: 'otpauth://totp/MCPHub%3Aadmin?secret=...' })
export const ApiKeyListEnvelope = Envelope('ApiKeyListEnvelope', Type.Array(Ref(ApiKey)), [API_KEY_EXAMPLES.one])
export const CreatedApiKeyEnvelope = Envelope('CreatedApiKeyEnvelope', Ref(CreatedApiKey), API_KEY_EXAMPLES.created)

/** The named schemas of the auth API: registered by its routes, referenced by `$ref` (components in the document). */
export const SCHEMAS = [
  LoginBody, SessionUser, TokenPair, BrowserSession, RefreshBody, Verification, MfaStatus, MfaEnrolment, MfaCodeBody, ApiKey, CreatedApiKey, CreateApiKeyBody,
  TokenPairEnvelope, BrowserSessionEnvelope, VerificationEnvelope, MfaStatusEnvelope, MfaEnrolmentEnvelope, ApiKeyListEnvelope, CreatedApiKeyEnvelope
]
