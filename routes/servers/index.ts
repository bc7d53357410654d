import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { EpochCache } from '../../lib/epoch-cache.ts'
import { ok } from '../../lib/envelope.ts'
import { listQuerySchema, type ListPages } from '../../lib/list.ts'
import { errorResponses, NoContent, OPTIONAL_BODY, Ref } from '../../lib/schemas.ts'
import type { ServerRow } from '../../db/schema.ts'
import { EMPTY_CATALOG } from '../../supervisor/managed-server.ts'
import logRoutes, { LogFollowers } from './logs.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'
import { principalOf } from '../../plugins/access.ts'

const on = (action: string) => ({ resource: 'server' as const, action, param: 'serverId' })
/** The activity an action on the server of the path records. */
const audit = (action: string) => ({ action, target: { type: 'server' as const, param: 'serverId' } })

const serverRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const box = app.auth.secrets
  const supervisor = app.supervisor
  const guard = app.egress
  const dto = (row: ServerRow) => {
    const managed = supervisor.get(row.id)
    return service.toDto(row, managed?.status(), managed?.catalog.tools.length ?? 0)
  }
  const followers = new LogFollowers()
  // Until anything stored changes, or a second passes (another hub may share the database); at most 100 pages of 100 rows.
  const pages: ListPages = new EpochCache({ epochs: () => [app.records.current], ttlMs: 1000, maxEntries: 100, now: app.auth.now })
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)

  app.get('', {
    config: { access: 'user' },
    schema: {
      operationId: 'listServers',
      tags: ['servers'],
      summary: 'List the servers the caller may read',
      querystring: listQuerySchema(service.SERVER_LIST, {
        group: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Group name or id' }))
      }),
      response: { 200: Ref(schemas.ServerPage, 'A page of servers'), ...errorResponses(422) }
    }
  }, async (request) => {
    const page = await service.listServers(app.db, principalOf(request), request.query, () => supervisor.list().map((managed) => ({ id: managed.spec.id, state: managed.state })), pages)
    return ok({ items: page.items.map(dto), pagination: page.pagination })
  })

  app.post('', {
    config: { access: 'admin', activity: { action: 'server.create', target: { type: 'server' } } },
    schema: {
      operationId: 'createServer',
      tags: ['servers'],
      summary: 'Register an MCP server (admins): a program to run (stdio) or a remote URL; enabled servers start at once',
      body: Ref(schemas.CreateServerBody),
      response: { 201: Ref(schemas.ServerEnvelope, 'The new server'), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const row = await service.createServer(app.db, box, guard, request.body)
    app.activity.target(request, { id: row.id, name: row.name })
    request.log.info({ serverId: row.id, by: principalOf(request).userId }, 'server created')
    const managed = supervisor.upsert(service.specOf(box, row))
    if (row.enabled) managed.start().catch(() => {})
    reply.code(201)
    return ok(dto(row))
  })

  app.post('/import', {
    config: { access: 'admin', activity: { action: 'server.import', target: { type: 'server' } } },
    schema: {
      operationId: 'importServers',
      tags: ['servers'],
      summary: 'Import servers from a `{ "mcpServers": {...} }` document (Claude Desktop / mcp_settings.json)',
      description: 'All entries are validated first; nothing is created unless all are valid. Existing names are skipped (`skipped`). An entry is a stdio server (a `command`, `type` absent or `stdio`) or a remote one (a `url`, `type` absent or `streamable-http`, `http`, `streamableHttp`, or `sse`); other types (`ws`…) are skipped and listed in `unsupported` with the reason. `"disabled": true` and `"enabled": false` both import a server without starting it.',
      body: Ref(schemas.McpServersDocument),
      response: { 200: Ref(schemas.ImportResultEnvelope, 'The names created, skipped and not supported'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const { created, skipped, unsupported } = await service.importServers(app.db, box, guard, request.body.mcpServers)
    // One entry per server created (one without a target when none was).
    app.activity.target(request, ...created.map((row) => ({ id: row.id, name: row.name })))
    for (const row of created) {
      const managed = supervisor.upsert(service.specOf(box, row))
      if (row.enabled) managed.start().catch(() => {})
    }
    request.log.info({ created: created.length, by: principalOf(request).userId }, 'servers imported')
    return ok({ created: created.map((row) => row.name), skipped, unsupported })
  })

  app.get('/export', {
    config: { access: 'admin' },
    schema: {
      operationId: 'exportServers',
      tags: ['servers'],
      summary: 'Export every server as `{ "mcpServers": {...} }` (env and header values masked)',
      response: { 200: Ref(schemas.McpServersEnvelope, 'Every server as an mcpServers document') }
    }
  }, async () => ok(await service.exportServers(app.db)))

  app.get('/:serverId', {
    config: { access: on('read') },
    schema: {
      operationId: 'getServer',
      tags: ['servers'],
      summary: 'Get a server with its live status',
      params: schemas.ServerParams,
      response: { 200: Ref(schemas.ServerEnvelope, 'The server'), ...errorResponses(422) }
    }
  }, async (request) => ok(dto(await service.getServer(app.db, request.params.serverId))))

  app.put('/:serverId', {
    config: { access: on('write'), activity: audit('server.update') },
    schema: {
      operationId: 'updateServer',
      tags: ['servers'],
      summary: 'Update a server (type, command, args, env, cwd, url and headers: admins only); a running server picks changes up on restart',
      params: schemas.ServerParams,
      body: Ref(schemas.UpdateServerBody),
      response: { 200: Ref(schemas.ServerEnvelope, 'The updated server'), ...errorResponses(400, 409, 422) }
    }
  }, async (request) => {
    const current = await service.getServer(app.db, request.params.serverId)
    const row = await service.updateServer(app.db, box, guard, principalOf(request), current, request.body)
    supervisor.upsert(service.specOf(box, row))
    return ok(dto(row))
  })

  app.delete('/:serverId', {
    config: { access: on('write'), activity: audit('server.delete') },
    schema: {
      operationId: 'deleteServer',
      tags: ['servers'],
      summary: 'Stop and delete a server',
      params: schemas.ServerParams,
      response: { 204: NoContent, ...errorResponses(422) }
    }
  }, async (request, reply) => {
    const row = await service.getServer(app.db, request.params.serverId)
    await supervisor.remove(row.id)
    followers.end(row.id)
    await service.deleteServer(app.db, row.id)
    request.log.info({ serverId: row.id, by: principalOf(request).userId }, 'server deleted')
    return reply.code(204).send()
  })

  /** The stored server, handed to the supervisor as it is now: a lifecycle action runs its latest settings. */
  const loaded = async (serverId: string) => {
    const row = await service.getServer(app.db, serverId)
    return { row, managed: supervisor.upsert(service.specOf(box, row)) }
  }

  app.post('/:serverId/start', {
    config: { access: on('execute'), activity: audit('server.start') },
    schema: {
      operationId: 'startServer',
      tags: ['servers'],
      summary: 'Start a server; answers once it runs or has failed',
      params: schemas.ServerParams,
      response: { 200: Ref(schemas.ServerEnvelope, 'The server after the start: running, or failed with lastError'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const { row, managed } = await loaded(request.params.serverId)
    await managed.start()
    return ok(dto(row))
  })

  app.post('/:serverId/stop', {
    config: { access: on('execute'), activity: audit('server.stop') },
    schema: {
      operationId: 'stopServer',
      tags: ['servers'],
      summary: 'Stop a server: stdin closed, SIGTERM, then SIGKILL after `timeout` ms (`graceful: false`: at once)',
      params: schemas.ServerParams,
      body: Type.Optional(Ref(schemas.StopBody)),
      [OPTIONAL_BODY]: true,
      response: { 200: Ref(schemas.ServerEnvelope, 'The stopped server'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const { row, managed } = await loaded(request.params.serverId)
    await managed.stop({ graceful: request.body?.graceful ?? true, timeoutMs: request.body?.timeout ?? 10_000 })
    return ok(dto(row))
  })

  app.post('/:serverId/restart', {
    config: { access: on('execute'), activity: audit('server.restart') },
    schema: {
      operationId: 'restartServer',
      tags: ['servers'],
      summary: 'Restart a server',
      params: schemas.ServerParams,
      response: { 200: Ref(schemas.ServerEnvelope, 'The server after the restart'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const { row, managed } = await loaded(request.params.serverId)
    await managed.restart()
    return ok(dto(row))
  })

  const itemsOf = async (row: ServerRow) => {
    const catalog = supervisor.get(row.id)?.catalog ?? EMPTY_CATALOG
    const settings = (await service.settingsByServer(app.db, [row.id])).get(row.id) ?? []
    const effective = service.effectiveCatalog(catalog, settings)
    const setting = (kind: string, name: string) => settings.find((item) => item.kind === kind && item.name === name)
    const names = (kind: 'tool' | 'prompt' | 'resource', offered: string[]) =>
      [...new Set([...offered, ...settings.filter((item) => item.kind === kind).map((item) => item.name)])]
        .map((name) => ({ name, enabled: setting(kind, name)?.enabled !== false, offered: offered.includes(name) }))
    return {
      tools: names('tool', catalog.tools.map((tool) => tool.name)).map((item) => ({
        ...item,
        description: effective.tools.find((tool) => tool.name === item.name)?.description ?? catalog.tools.find((tool) => tool.name === item.name)?.description ?? null,
        descriptionOverride: setting('tool', item.name)?.description ?? null
      })),
      prompts: names('prompt', catalog.prompts.map((prompt) => prompt.name)),
      resources: names('resource', [...catalog.resources.map((resource) => resource.uri), ...catalog.resourceTemplates.map((template) => template.uriTemplate)])
    }
  }

  app.get('/:serverId/tools', {
    config: { access: on('read') },
    schema: {
      operationId: 'getServerTools',
      tags: ['servers'],
      summary: 'A server\'s tools, prompts and resources, with what admins disabled or redescribed',
      params: schemas.ServerParams,
      response: { 200: Ref(schemas.ServerItemsEnvelope, 'The server\'s tools, prompts and resources'), ...errorResponses(422) }
    }
  }, async (request) => ok(await itemsOf(await service.getServer(app.db, request.params.serverId))))

  app.put('/:serverId/tools', {
    config: { access: on('write'), activity: audit('server.items.update') },
    schema: {
      operationId: 'updateServerTool',
      tags: ['servers'],
      summary: 'Disable or enable one tool, prompt or resource, or override a tool\'s description',
      description: 'Disabled items are neither listed nor callable through the MCP endpoints. Settings apply to the next MCP request.',
      params: schemas.ServerParams,
      body: Ref(schemas.ItemSettingBody),
      response: { 200: Ref(schemas.ServerItemsEnvelope, 'The server\'s tools, prompts and resources, with the change'), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const row = await service.getServer(app.db, request.params.serverId)
    await service.setItemSetting(app.db, row.id, request.body)
    return ok(await itemsOf(row))
  })

  await app.register(logRoutes, { followers })
}

export default serverRoutes
