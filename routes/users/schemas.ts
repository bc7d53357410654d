import { Type } from 'typebox'
import { MAX_PASSWORD_LENGTH } from '../../lib/passwords.ts'
import { Envelope, Id, Nullable, PageEnvelope, Ref, Timestamp } from '../../lib/schemas.ts'

export const Role = Type.Enum(['admin', 'user'])
export const Username = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'Letters, digits, `.`, `_`, `-`; unique ignoring case' })
export const Email = Type.String({ format: 'email', maxLength: 254, description: 'Unique ignoring case' })
export const Password = Type.String({ minLength: 12, maxLength: MAX_PASSWORD_LENGTH, description: `12 to ${MAX_PASSWORD_LENGTH} characters (Unicode code points)` })

export const Profile = Type.Object({
  firstName: Type.Optional(Type.String({ maxLength: 100 })),
  lastName: Type.Optional(Type.String({ maxLength: 100 })),
  department: Type.Optional(Type.String({ maxLength: 100 }))
}, { additionalProperties: false })

export const GroupNames = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100, uniqueItems: true, description: 'Group names' })

export const User = Type.Object({
  id: Id,
  username: Type.String(),
  email: Nullable(Type.String()),
  role: Role,
  groups: Type.Array(Type.String()),
  profile: Profile,
  mfaEnabled: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp
}, { $id: 'User' })

export const USER_EXAMPLE = {
  id: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10',
  username: 'newuser',
  email: 'user@example.com',
  role: 'user' as const,
  groups: [],
  profile: { firstName: 'Zhang', lastName: 'San', department: 'Engineering' },
  mfaEnabled: false,
  createdAt: '2026-01-01T12:00:00.000Z',
  updatedAt: '2026-01-01T12:00:00.000Z'
}

export const CreateUserBody = Type.Object({
  username: Username,
  email: Type.Optional(Email),
  password: Password,
  role: Type.Optional(Type.Enum(['admin', 'user'], { default: 'user' })),
  groups: Type.Optional(GroupNames),
  profile: Type.Optional(Profile)
}, {
  $id: 'CreateUser',
  additionalProperties: false,
  examples: [{ username: 'newuser', email: 'user@example.com', password: 'a-secure-password', role: 'user', groups: [], profile: { firstName: 'Zhang', lastName: 'San', department: 'Engineering' } }]
})

export const UpdateUserBody = Type.Object({
  username: Type.Optional(Username),
  email: Type.Optional(Nullable(Email)),
  password: Type.Optional(Password),
  currentPassword: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH, description: 'Required when changing one\'s own password' })),
  keepApiKeys: Type.Optional(Type.Boolean({ description: 'With `password`: keep the user\'s API keys (by default a new password revokes them)' })),
  role: Type.Optional(Role),
  groups: Type.Optional(GroupNames),
  profile: Type.Optional(Profile)
}, { $id: 'UpdateUser', additionalProperties: false, examples: [{ profile: { department: 'Platform' } }] })

export const UserIdParams = Type.Object({ userId: Type.String({ format: 'uuid' }) })

export const UserEnvelope = Envelope('UserEnvelope', Ref(User), USER_EXAMPLE)
export const UserPage = PageEnvelope('UserPage', Ref(User), USER_EXAMPLE)

/** The named schemas of the users API: registered by its routes, referenced by `$ref` (components in the document). */
export const SCHEMAS = [User, CreateUserBody, UpdateUserBody, UserEnvelope, UserPage]
