import { PassThrough } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { SkippingWriter } from '../../lib/skipping-writer.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'
import { principalOf } from '../../plugins/access.ts'

/** What a follow stream may hold for a reader that does not keep up. */
const FOLLOW_BUFFER_BYTES = 1024 * 1024

/** Follow streams still open, by server: ended when the server is deleted or the hub closes. */
export class LogFollowers {
  readonly #streams = new Map<string, Set<PassThrough>>()

  add (serverId: string, stream: PassThrough): void {
    let streams = this.#streams.get(serverId)
    if (streams === undefined) this.#streams.set(serverId, streams = new Set())
    streams.add(stream)
  }

  delete (serverId: string, stream: PassThrough): void {
    this.#streams.get(serverId)?.delete(stream)
  }

  /** Ends every follow stream of a server. */
  end (serverId: string): void {
    for (const stream of this.#streams.get(serverId) ?? []) stream.end()
    this.#streams.delete(serverId)
  }

  endAll (): void {
    for (const serverId of [...this.#streams.keys()]) this.end(serverId)
  }
}

/** `GET /api/servers/:serverId/logs`: stored lines, or with `follow=true` an NDJSON stream of them and every new one. */
const logRoutes: FastifyPluginAsyncTypebox<{ followers: LogFollowers }> = async (app, { followers }) => {
  const box = app.auth.secrets
  const supervisor = app.supervisor
  app.addHook('preClose', async () => { followers.endAll() })

  app.get('/:serverId/logs', {
    config: { access: { resource: 'server', action: 'read', param: 'serverId' } },
    schema: {
      operationId: 'getServerLogs',
      tags: ['servers'],
      summary: 'A server\'s stderr, MCP log messages and lifecycle events',
      description: 'With `follow=true` the response is NDJSON (`application/x-ndjson`): the matching recent lines, then each new line as it comes, until the client disconnects.',
      params: schemas.ServerParams,
      querystring: schemas.LogsQuery,
      response: {
        200: {
          description: 'The matching stored lines; with `follow=true`, an NDJSON stream of them and then of each new line',
          content: {
            'application/json': { schema: Ref(schemas.LogLinesEnvelope) },
            'application/x-ndjson': { schema: Ref(schemas.LogLine) }
          }
        },
        ...errorResponses(422)
      }
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
      followers.delete(row.id, stream)
      stream.end()
    }
    // Ends once the caller may no longer read the server, or their credential goes away.
    const unwatch = app.watchStream({ principal: principalOf(request), need: { resource: 'server', id: row.id, action: 'read' }, end })
    followers.add(row.id, stream)
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

export default logRoutes
