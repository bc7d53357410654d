import { PassThrough } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ok } from '../../lib/envelope.ts'
import { listQuerySchema, type ListQuery } from '../../lib/list.ts'
import { SkippingWriter } from '../../lib/skipping-writer.ts'
import { Envelope, errorResponses, NoContent, OPTIONAL_BODY, PageEnvelope } from '../../lib/schemas.ts'
import type { ServerRow } from '../../db/schema.ts'
import { EMPTY_CATALOG } from '../../supervisor/managed-server.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'

const on = (action: string) => ({ resource: 'server' as const, action, param: 'serverId' })
/** What a follow stream may hold for a reader that does not keep up. */
const FOLLOW_BUFFER_BYTES = 1024 * 1024

const serverRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const box = app.auth.secrets
  const supervisor = app.supervisor
  const dto = (row: ServerRow) => {
    const managed = supervisor.get(row.id)
    return service.toDto(row, managed?.status(), managed?.catalog.tools.length ?? 0)
  }
  /** Follow streams still open, by server: ended when the server is deleted or the hub closes. */
  const followers = new Map<string, Set<PassThrough>>()
  const followersOf = (serverId: string) => {
    let streams = followers.get(serverId)
    if (streams === undefined) followers.set(serverId, streams = new Set())
    return streams
  }
  const endFollowers = (serverId: string) => {
    for (const stream of followers.get(serverId) ?? []) stream.end()
    followers.delete(serverId)
  }
  app.addHook('preClose', async () => {
    for (const serverId of [...followers.keys()]) endFollowers(serverId)
  })

  app.get('', {
    config: { access: 'user' },
    schema: {
      operationId: 'listServers',
      tags: ['servers'],
      summary: 'List the servers the caller may read',
      querystring: listQuerySchema(service.SERVER_LIST, {
        group: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Group name or id' }))
      }),
      response: { 200: PageEnvelope(schemas.Server, schemas.SERVER_EXAMPLE), ...errorResponses(422) }
    }
  }, async (request) => {
    const query = request.query as ListQuery & { group?: string }
    const page = await service.listServers(app.db, request.principal!, query, (id) => supervisor.get(id)?.state ?? 'stopped')
    return ok({ items: page.rows.map(dto), pagination: page.pagination })
  })

  app.post('', {
    config: { access: 'admin' },
    schema: {
      operationId: 'createServer',
      tags: ['servers'],
      summary: 'Register an MCP server (admins); enabled servers start at once',
      body: schemas.CreateServerBody,
      response: { 201: Envelope(schemas.Server, schemas.SERVER_EXAMPLE), ...errorResponses(400, 409, 422) }
    }
  }, async (request, reply) => {
    const row = await service.createServer(app.db, box, request.body)
    request.log.info({ serverId: row.id, by: request.principal!.userId }, 'server created')
    const managed = supervisor.upsert(service.specOf(box, row))
    if (row.enabled) managed.start().catch(() => {})
    reply.code(201)
    return ok(dto(row))
  })

  app.post('/import', {
    config: { access: 'admin' },
    schema: {
      operationId: 'importServers',
      tags: ['servers'],
      summary: 'Import servers from a `{ "mcpServers": {...} }` document (Claude Desktop / mcp_settings.json)',
      description: 'All entries are validated first; nothing is created unless all are valid. Existing names are skipped.',
      body: schemas.McpServersDocument,
      response: { 200: Envelope(schemas.ImportResult, { created: ['filesystem'], skipped: [] }), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const { created, skipped } = await service.importServers(app.db, box, request.body.mcpServers)
    for (const row of created) {
      const managed = supervisor.upsert(service.specOf(box, row))
      if (row.enabled) managed.start().catch(() => {})
    }
    request.log.info({ created: created.length, by: request.principal!.userId }, 'servers imported')
    return ok({ created: created.map((row) => row.name), skipped })
  })

  app.get('/export', {
    config: { access: 'admin' },
    schema: {
      operationId: 'exportServers',
      tags: ['servers'],
      summary: 'Export every server as `{ "mcpServers": {...} }` (env values masked)',
      response: { 200: Envelope(schemas.McpServersDocument) }
    }
  }, async () => ok(await service.exportServers(app.db)))

  app.get('/:serverId', {
    config: { access: on('read') },
    schema: {
      operationId: 'getServer',
      tags: ['servers'],
      summary: 'Get a server with its live status',
      params: schemas.ServerParams,
      response: { 200: Envelope(schemas.Server, schemas.SERVER_EXAMPLE), ...errorResponses(422) }
    }
  }, async (request) => ok(dto(await service.getServer(app.db, request.params.serverId))))

  app.put('/:serverId', {
    config: { access: on('write') },
    schema: {
      operationId: 'updateServer',
      tags: ['servers'],
      summary: 'Update a server (command, args, env and cwd: admins only); a running server picks changes up on restart',
      params: schemas.ServerParams,
      body: schemas.UpdateServerBody,
      response: { 200: Envelope(schemas.Server, schemas.SERVER_EXAMPLE), ...errorResponses(400, 409, 422) }
    }
  }, async (request) => {
    const current = await service.getServer(app.db, request.params.serverId)
    const row = await service.updateServer(app.db, box, request.principal!, current, request.body)
    supervisor.upsert(service.specOf(box, row))
    return ok(dto(row))
  })

  app.delete('/:serverId', {
    config: { access: on('write') },
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
    endFollowers(row.id)
    await service.deleteServer(app.db, row.id)
    request.log.info({ serverId: row.id, by: request.principal!.userId }, 'server deleted')
    return reply.code(204).send()
  })

  const lifecycle = (path: string, operationId: string, summary: string, act: (id: string, body: { graceful?: boolean, timeout?: number } | undefined) => Promise<void>) => {
    app.post(`/:serverId/${path}`, {
      config: { access: on('execute') },
      // Fastify validates a missing body as null, which the optional stop body refuses (422).
      ...(path === 'stop' ? { preValidation: async (request: { body: unknown }) => { request.body ??= {} } } : {}),
      schema: {
        operationId,
        tags: ['servers'],
        summary,
        params: schemas.ServerParams,
        ...(path === 'stop' ? { body: Type.Optional(schemas.StopBody), [OPTIONAL_BODY]: true } : {}),
        response: { 200: Envelope(schemas.Server, schemas.SERVER_EXAMPLE), ...errorResponses(400, 422) }
      }
    }, async (request) => {
      const row = await service.getServer(app.db, request.params.serverId)
      supervisor.upsert(service.specOf(box, row))
      await act(row.id, request.body as { graceful?: boolean, timeout?: number } | undefined)
      return ok(dto(row))
    })
  }
  lifecycle('start', 'startServer', 'Start a server; answers once it runs or has failed', (id) => supervisor.get(id)!.start())
  lifecycle('stop', 'stopServer', 'Stop a server: stdin closed, SIGTERM, then SIGKILL after `timeout` ms (`graceful: false`: at once)',
    (id, body) => supervisor.get(id)!.stop({ graceful: body?.graceful ?? true, timeoutMs: body?.timeout ?? 10_000 }))
  lifecycle('restart', 'restartServer', 'Restart a server', (id) => supervisor.get(id)!.restart())

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
      response: { 200: Envelope(schemas.ServerItems, schemas.SERVER_ITEMS_EXAMPLE), ...errorResponses(422) }
    }
  }, async (request) => ok(await itemsOf(await service.getServer(app.db, request.params.serverId))))

  app.put('/:serverId/tools', {
    config: { access: on('write') },
    schema: {
      operationId: 'updateServerTool',
      tags: ['servers'],
      summary: 'Disable or enable one tool, prompt or resource, or override a tool\'s description',
      description: 'Disabled items are neither listed nor callable through the MCP endpoints. Settings apply to the next MCP request.',
      params: schemas.ServerParams,
      body: schemas.ItemSettingBody,
      response: { 200: Envelope(schemas.ServerItems, schemas.SERVER_ITEMS_EXAMPLE), ...errorResponses(400, 422) }
    }
  }, async (request) => {
    const row = await service.getServer(app.db, request.params.serverId)
    await service.setItemSetting(app.db, row.id, request.body)
    return ok(await itemsOf(row))
  })

  app.get('/:serverId/logs', {
    config: { access: on('read') },
    schema: {
      operationId: 'getServerLogs',
      tags: ['servers'],
      summary: 'A server\'s stderr, MCP log messages and lifecycle events',
      description: 'With `follow=true` the response is NDJSON (`application/x-ndjson`): the matching recent lines, then each new line as it comes, until the client disconnects.',
      params: schemas.ServerParams,
      querystring: schemas.LogsQuery,
      response: { 200: Envelope(Type.Array(schemas.LogLine), [schemas.LOG_EXAMPLE]), ...errorResponses(422) }
    }
  }, async (request, reply) => {
    const row = await service.getServer(app.db, request.params.serverId)
    if (request.query.follow !== true) {
      await app.flushServerLogs()
      return ok(await service.readLogs(app.db, row.id, request.query))
    }

    // A stored server the supervisor has not loaded yet (disabled ones are not, on start) can be followed too.
    const managed = supervisor.get(row.id) ?? supervisor.upsert(service.specOf(box, row))
    const levels = new Set(service.levelsFrom(request.query.level))
    const stream = new PassThrough()
    // A reader that does not keep up skips live lines (and is told how many) rather than fill memory.
    const out = new SkippingWriter(stream, FOLLOW_BUFFER_BYTES, (count) => JSON.stringify({ time: new Date().toISOString(), level: 'warning', source: 'supervisor', message: `${count} lines skipped: this reader is too slow` }) + '\n')
    // Live lines are held back (up to the same bound) until the stored ones are written: none is lost in between.
    let held: string[] | undefined = []
    let heldBytes = 0
    const unsubscribe = managed.logs.subscribe((entry) => {
      if (!levels.has(entry.level)) return
      const line = JSON.stringify({ time: entry.time.toISOString(), level: entry.level, source: entry.source, message: entry.message }) + '\n'
      if (held === undefined) out.write(line)
      else if ((heldBytes += line.length) > FOLLOW_BUFFER_BYTES) out.skip()
      else held.push(line)
    })
    const end = () => {
      unsubscribe()
      unwatch()
      followersOf(row.id).delete(stream)
      stream.end()
    }
    // Ends once the caller may no longer read the server, or their credential goes away.
    const unwatch = app.watchStream({ principal: request.principal!, need: { resource: 'server', id: row.id, action: 'read' }, end })
    followersOf(row.id).add(stream)
    request.raw.on('close', end)
    stream.on('close', end)
    await app.flushServerLogs()
    for (const line of await service.readLogs(app.db, row.id, request.query)) stream.write(JSON.stringify(line) + '\n')
    for (const line of held) stream.write(line)
    held = undefined
    // Fastify sends a stream's headers with its first chunk: without this, a follow with no
    // recent line to send would leave the client waiting for a response until the server logs.
    reply.raw.once('pipe', () => { reply.raw.flushHeaders() })
    return reply.type('application/x-ndjson').send(stream as never)
  })
}

export default serverRoutes
