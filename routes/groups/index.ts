import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { listQuerySchema } from '../../lib/list.ts'
import { errorResponses, NoContent, Ref } from '../../lib/schemas.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'
import { principalOf } from '../../plugins/access.ts'

const read = { resource: 'group', action: 'read', param: 'groupId' } as const
const manage = { resource: 'group', action: 'manage', param: 'groupId' } as const
const write = { resource: 'group', action: 'write', param: 'groupId' } as const

// What the activity trail records of each change: the group, and the member or server involved.
const theGroup = { type: 'group', param: 'groupId' } as const
const memberIn = (action: string, userId: { param: string } | { body: string }) => ({ action, target: theGroup, related: { type: 'user' as const, ...userId } })
const serverIn = (action: string, serverId: { param: string } | { body: string }) => ({ action, target: theGroup, related: { type: 'server' as const, ...serverId } })

const groups: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)
  app.get('', {
    config: { access: 'user' },
    schema: {
      operationId: 'listGroups',
      tags: ['groups'],
      summary: 'List groups (admins: all; users: the groups they are active members of)',
      querystring: listQuerySchema(service.GROUP_LIST),
      response: { 200: Ref(schemas.GroupPage, 'A page of groups'), ...errorResponses(422) }
    }
  }, async (request) => ok(await service.listGroups(app.db, principalOf(request), request.query)))

  app.post('', {
    config: { access: 'admin', activity: { action: 'group.create', target: { type: 'group' } } },
    schema: {
      operationId: 'createGroup',
      tags: ['groups'],
      summary: 'Create a group',
      body: Ref(schemas.CreateGroupBody),
      response: { 201: Ref(schemas.GroupEnvelope, 'The new group'), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const group = await service.createGroup(app.db, request.body)
    app.activity.target(request, { id: group.id, name: group.name })
    reply.code(201)
    return ok(await service.toDto(app.db, group))
  })

  app.get('/:groupId', {
    config: { access: read },
    schema: {
      operationId: 'getGroup',
      tags: ['groups'],
      summary: 'Get a group by id or name',
      params: schemas.GroupParams,
      response: { 200: Ref(schemas.GroupEnvelope, 'The group') }
    }
  }, async (request) => ok(await service.toDto(app.db, await service.findGroup(app.db, request.params.groupId))))

  app.put('/:groupId', {
    config: { access: write, activity: { action: 'group.update', target: theGroup } },
    schema: {
      operationId: 'updateGroup',
      tags: ['groups'],
      summary: 'Update a group: names, parent, permissions, settings (admins)',
      description: 'A parent that would make a cycle, or nest deeper than 8 levels, is refused with 422.',
      params: schemas.GroupParams,
      body: Ref(schemas.UpdateGroupBody),
      response: { 200: Ref(schemas.GroupEnvelope, 'The updated group'), ...errorResponses(400, 409, 422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.toDto(app.db, await service.updateGroup(app.db, group, request.body)))
  })

  app.delete('/:groupId', {
    config: { access: write, activity: { action: 'group.delete', target: theGroup } },
    schema: {
      operationId: 'deleteGroup',
      tags: ['groups'],
      summary: 'Delete a group without sub-groups (admins)',
      params: schemas.GroupParams,
      response: { 204: NoContent, ...errorResponses(409) }
    }
  }, async (request, reply) => {
    await service.deleteGroup(app.db, await service.findGroup(app.db, request.params.groupId))
    return reply.code(204).send()
  })

  app.get('/:groupId/members', {
    config: { access: read },
    schema: {
      operationId: 'listGroupMembers',
      tags: ['groups'],
      summary: 'List a group\'s members',
      params: schemas.GroupParams,
      querystring: listQuerySchema(service.MEMBER_LIST),
      response: { 200: Ref(schemas.MemberPage, 'A page of the group\'s members'), ...errorResponses(422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.listMembers(app.db, group, request.query))
  })

  app.post('/:groupId/members', {
    config: { access: manage, activity: memberIn('group.member.add', { body: 'userId' }) },
    schema: {
      operationId: 'addGroupMember',
      tags: ['groups'],
      summary: 'Add a user to a group (admins and the group\'s admins)',
      description: 'Past `settings.maxMembers` → 409. With `settings.requireApproval`, members added by a group admin who is not a hub admin are `pending` until approved.',
      params: schemas.GroupParams,
      body: Ref(schemas.AddMemberBody),
      response: { 201: Ref(schemas.MemberEnvelope, 'The new member (pending when the group requires approval)'), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    const member = await service.addMember(app.db, group, request.body, principalOf(request))
    reply.code(201)
    return ok(member, member.status === 'pending' ? 'Added; pending approval' : undefined)
  })

  app.put('/:groupId/members/:userId', {
    config: { access: manage, activity: memberIn('group.member.update', { param: 'userId' }) },
    schema: {
      operationId: 'updateGroupMember',
      tags: ['groups'],
      summary: 'Change a member\'s role in the group',
      params: schemas.MemberParams,
      body: Ref(schemas.UpdateMemberBody),
      response: { 200: Ref(schemas.MemberEnvelope, 'The member with the new role'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.setMemberRole(app.db, group, request.params.userId, request.body.role))
  })

  app.post('/:groupId/members/:userId/approve', {
    config: { access: manage, activity: memberIn('group.member.approve', { param: 'userId' }) },
    schema: {
      operationId: 'approveGroupMember',
      tags: ['groups'],
      summary: 'Approve a pending member',
      description: 'By a group admin other than the one who added the member (403 otherwise), or by a hub admin.',
      params: schemas.MemberParams,
      response: { 200: Ref(schemas.MemberEnvelope, 'The member, now active'), ...errorResponses(422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.approveMember(app.db, group, request.params.userId, principalOf(request)))
  })

  app.delete('/:groupId/members/:userId', {
    config: { access: manage, activity: memberIn('group.member.remove', { param: 'userId' }) },
    schema: {
      operationId: 'removeGroupMember',
      tags: ['groups'],
      summary: 'Remove a user from a group',
      params: schemas.MemberParams,
      response: { 204: NoContent, ...errorResponses(422) }
    }
  }, async (request, reply) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    await service.removeMember(app.db, group, request.params.userId)
    return reply.code(204).send()
  })

  app.get('/:groupId/servers', {
    config: { access: read },
    schema: {
      operationId: 'listGroupServers',
      tags: ['groups'],
      summary: 'List the servers assigned to a group',
      params: schemas.GroupParams,
      querystring: listQuerySchema(service.ASSIGNMENT_LIST),
      response: { 200: Ref(schemas.AssignmentPage, 'A page of the group\'s server assignments'), ...errorResponses(422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.listAssignments(app.db, group, request.query))
  })

  app.post('/:groupId/servers', {
    config: { access: write, activity: serverIn('group.server.assign', { body: 'serverId' }) },
    schema: {
      operationId: 'assignGroupServer',
      tags: ['groups'],
      summary: 'Assign a server to a group with permissions (admins)',
      params: schemas.GroupParams,
      body: Ref(schemas.AssignServerBody),
      response: { 201: Ref(schemas.AssignmentEnvelope, 'The new assignment'), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    reply.code(201)
    return ok(await service.assignServer(app.db, group, request.body))
  })

  app.put('/:groupId/servers/:serverId', {
    config: { access: write, activity: serverIn('group.server.update', { param: 'serverId' }) },
    schema: {
      operationId: 'updateGroupServer',
      tags: ['groups'],
      summary: 'Change the permissions of a server assignment (admins)',
      params: schemas.AssignmentParams,
      body: Ref(schemas.UpdateAssignmentBody),
      response: { 200: Ref(schemas.AssignmentEnvelope, 'The assignment with its new permissions'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    return ok(await service.updateAssignment(app.db, group, request.params.serverId, request.body.permissions))
  })

  app.delete('/:groupId/servers/:serverId', {
    config: { access: write, activity: serverIn('group.server.unassign', { param: 'serverId' }) },
    schema: {
      operationId: 'removeGroupServer',
      tags: ['groups'],
      summary: 'Remove a server from a group (admins)',
      params: schemas.AssignmentParams,
      response: { 204: NoContent, ...errorResponses(422) }
    }
  }, async (request, reply) => {
    const group = await service.findGroup(app.db, request.params.groupId)
    await service.removeAssignment(app.db, group, request.params.serverId)
    return reply.code(204).send()
  })
}

export default groups
