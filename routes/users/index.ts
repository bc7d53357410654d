import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { listQuerySchema } from '../../lib/list.ts'
import { errorResponses, NoContent, Ref } from '../../lib/schemas.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'
import { principalOf } from '../../plugins/access.ts'

const hasField = (body: unknown, name: string) => typeof body === 'object' && body !== null && name in body

const users: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)
  app.get('', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listUsers',
      tags: ['users'],
      summary: 'List users',
      querystring: listQuerySchema(service.USER_LIST),
      response: { 200: Ref(schemas.UserPage, 'A page of users'), ...errorResponses(422) }
    }
  }, async (request) => ok(await service.listUsers(app.db, request.query)))

  app.post('', {
    config: { access: 'admin', activity: { action: 'user.create', target: { type: 'user' } } },
    schema: {
      operationId: 'createUser',
      tags: ['users'],
      summary: 'Create a user',
      body: Ref(schemas.CreateUserBody),
      response: { 201: Ref(schemas.UserEnvelope, 'The new user'), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const user = await service.createUser(app.db, request.body)
    app.activity.target(request, { id: user.id, name: user.username })
    request.log.info({ userId: user.id, by: principalOf(request).userId }, 'user created')
    reply.code(201)
    return ok(await service.userDto(app.db, user))
  })

  app.get('/:userId', {
    config: { access: { resource: 'user', action: 'read', param: 'userId' } },
    schema: {
      operationId: 'getUser',
      tags: ['users'],
      summary: 'Get a user (admins: anyone; users: themselves)',
      params: schemas.UserIdParams,
      response: { 200: Ref(schemas.UserEnvelope, 'The user'), ...errorResponses(422) }
    }
  }, async (request) => ok(await service.userDto(app.db, await service.getUser(app.db, request.params.userId))))

  app.put('/:userId', {
    config: {
      access: { resource: 'user', action: 'write', param: 'userId' },
      // Setting a password is an account-security event of its own (its fields list all that changed).
      activity: { action: (request) => hasField(request.body, 'password') ? 'auth.password.change' : 'user.update', target: { type: 'user', param: 'userId' } }
    },
    schema: {
      operationId: 'updateUser',
      tags: ['users'],
      summary: 'Update a user (users: their own email, profile and password)',
      description: 'Changing a password needs a signed-in session (API keys get 403); changing one\'s own needs `currentPassword`. A new password ends every other session of the user and revokes their API keys unless `keepApiKeys` is true. The last admin cannot be demoted.',
      params: schemas.UserIdParams,
      body: Ref(schemas.UpdateUserBody),
      response: { 200: Ref(schemas.UserEnvelope, 'The updated user'), ...errorResponses(400, 409, 422) }
    }
  }, async (request) => {
    const user = await service.updateUser(app.db, principalOf(request), request.params.userId, request.body)
    return ok(await service.userDto(app.db, user))
  })

  app.delete('/:userId', {
    config: { access: 'admin', activity: { action: 'user.delete', target: { type: 'user', param: 'userId' } } },
    schema: {
      operationId: 'deleteUser',
      tags: ['users'],
      summary: 'Delete a user, ending their sessions and revoking their API keys',
      params: schemas.UserIdParams,
      response: { 204: NoContent, ...errorResponses(404, 409, 422) }
    }
  }, async (request, reply) => {
    await service.deleteUser(app.db, request.params.userId)
    request.log.info({ userId: request.params.userId, by: principalOf(request).userId }, 'user deleted')
    return reply.code(204).send()
  })
}

export default users
