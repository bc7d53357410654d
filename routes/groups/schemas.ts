import { Type } from 'typebox'
import { Envelope, Id, Nullable, PageEnvelope, Ref, Timestamp } from '../../lib/schemas.ts'

export const GroupName = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$', description: 'Slug: lowercase letters, digits and `-`', examples: ['dev-team'] })
const ServerAction = Type.Enum(['read', 'write', 'execute'])
const ToolAction = Type.Enum(['read', 'execute'])
export const ServerActions = Type.Array(ServerAction, { uniqueItems: true, maxItems: 3 })

export const Permissions = Type.Object({
  servers: Type.Optional(ServerActions),
  tools: Type.Optional(Type.Array(ToolAction, { uniqueItems: true, maxItems: 2 }))
}, { additionalProperties: false })

export const Settings = Type.Object({
  autoAssign: Type.Optional(Type.Boolean({ description: 'New users join this group' })),
  maxMembers: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'null: no limit' }))),
  requireApproval: Type.Optional(Type.Boolean({ description: 'Members added by a group admin wait for approval' }))
}, { additionalProperties: false })

export const Group = Type.Object({
  id: Id,
  name: Type.String(),
  displayName: Nullable(Type.String()),
  description: Nullable(Type.String()),
  parentGroup: Nullable(Type.String({ description: 'Name of the parent group' })),
  permissions: Type.Object({ servers: Type.Array(ServerAction), tools: Type.Array(ToolAction) }),
  settings: Type.Object({ autoAssign: Type.Boolean(), maxMembers: Nullable(Type.Integer()), requireApproval: Type.Boolean() }),
  createdAt: Timestamp,
  updatedAt: Timestamp
}, { $id: 'Group' })

export const GROUP_EXAMPLE = {
  id: '5b0b7c1e-3f3a-4d0e-9a51-8f1f6c2d4e71',
  name: 'dev-team',
  displayName: 'Development team',
  description: 'Frontend and backend developers',
  parentGroup: null,
  permissions: { servers: ['read', 'write', 'execute'] as Array<'read' | 'write' | 'execute'>, tools: ['read', 'execute'] as Array<'read' | 'execute'> },
  settings: { autoAssign: false, maxMembers: 50, requireApproval: true },
  createdAt: '2026-01-01T12:00:00.000Z',
  updatedAt: '2026-01-01T12:00:00.000Z'
}

export const CreateGroupBody = Type.Object({
  name: GroupName,
  displayName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  parentGroup: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64, description: 'Parent group name (or id)' }))),
  permissions: Type.Optional(Permissions),
  settings: Type.Optional(Settings)
}, { $id: 'CreateGroup', additionalProperties: false, examples: [{ name: 'dev-team', displayName: 'Development team', parentGroup: null, permissions: { servers: ['read', 'execute'], tools: ['read', 'execute'] }, settings: { autoAssign: false, maxMembers: 50, requireApproval: true } }] })

export const UpdateGroupBody = Type.Object({
  name: Type.Optional(GroupName),
  displayName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  parentGroup: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))),
  permissions: Type.Optional(Permissions),
  settings: Type.Optional(Settings)
}, { $id: 'UpdateGroup', additionalProperties: false, examples: [{ settings: { maxMembers: 100 } }] })

export const Member = Type.Object({
  userId: Id,
  username: Type.String(),
  role: Type.Enum(['member', 'admin']),
  status: Type.Enum(['active', 'pending']),
  joinedAt: Timestamp
}, { $id: 'Member' })
export const MEMBER_EXAMPLE = { userId: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10', username: 'zhangsan', role: 'member' as const, status: 'active' as const, joinedAt: '2026-01-01T12:00:00.000Z' }

export const AddMemberBody = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  role: Type.Optional(Type.Enum(['member', 'admin'], { default: 'member' }))
}, { $id: 'AddMember', additionalProperties: false, examples: [{ userId: '3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10', role: 'member' }] })

export const UpdateMemberBody = Type.Object({
  role: Type.Enum(['member', 'admin'])
}, { $id: 'UpdateMember', additionalProperties: false, examples: [{ role: 'admin' }] })

export const Assignment = Type.Object({
  serverId: Id,
  serverName: Type.String(),
  permissions: Type.Array(ServerAction),
  createdAt: Timestamp
}, { $id: 'Assignment' })
export const ASSIGNMENT_EXAMPLE = { serverId: '9a4e2b1c-7d6f-4e3a-8b2c-1d0e9f8a7b6c', serverName: 'filesystem', permissions: ['read', 'execute'] as Array<'read' | 'write' | 'execute'>, createdAt: '2026-01-01T12:00:00.000Z' }

export const AssignServerBody = Type.Object({
  serverId: Type.String({ format: 'uuid' }),
  permissions: ServerActions
}, { $id: 'AssignServer', additionalProperties: false, examples: [{ serverId: '9a4e2b1c-7d6f-4e3a-8b2c-1d0e9f8a7b6c', permissions: ['read', 'write', 'execute'] }] })

export const UpdateAssignmentBody = Type.Object({ permissions: ServerActions }, { $id: 'UpdateAssignment', additionalProperties: false, examples: [{ permissions: ['read'] }] })

export const GroupParams = Type.Object({ groupId: Type.String({ minLength: 1, maxLength: 64, description: 'Group id or name' }) })
export const MemberParams = Type.Object({ groupId: Type.String({ minLength: 1, maxLength: 64 }), userId: Type.String({ format: 'uuid' }) })
export const AssignmentParams = Type.Object({ groupId: Type.String({ minLength: 1, maxLength: 64 }), serverId: Type.String({ format: 'uuid' }) })

export const GroupEnvelope = Envelope('GroupEnvelope', Ref(Group), GROUP_EXAMPLE)
export const GroupPage = PageEnvelope('GroupPage', Ref(Group), GROUP_EXAMPLE)
export const MemberEnvelope = Envelope('MemberEnvelope', Ref(Member), MEMBER_EXAMPLE)
export const MemberPage = PageEnvelope('MemberPage', Ref(Member), MEMBER_EXAMPLE)
export const AssignmentEnvelope = Envelope('AssignmentEnvelope', Ref(Assignment), ASSIGNMENT_EXAMPLE)
export const AssignmentPage = PageEnvelope('AssignmentPage', Ref(Assignment), ASSIGNMENT_EXAMPLE)

/** The named schemas of the groups API: registered by its routes, referenced by `$ref` (components in the document). */
export const SCHEMAS = [
  Group, CreateGroupBody, UpdateGroupBody, Member, AddMemberBody, UpdateMemberBody, Assignment, AssignServerBody, UpdateAssignmentBody,
  GroupEnvelope, GroupPage, MemberEnvelope, MemberPage, AssignmentEnvelope, AssignmentPage
]
