import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { insertActivity, lookUpObject, pruneActivity, type ActivityEntry, type ActivityObject, type ActivityObjectType } from '../events/activity.ts'
import { BatchWriter, driverMessage, permanentDatabaseError } from '../lib/batch-writer.ts'
import { ERROR_STATUS, type ErrorCode } from '../lib/errors.ts'
import { isIdShaped } from '../access/index.ts'

/** Where a route's target (or related object) comes from: a path parameter, a body field, or the caller's own account. */
export type ObjectSource =
  | { type: ActivityObjectType, param: string }
  | { type: ActivityObjectType, body: string }
  | { type: 'user', self: true }
  /** Named by the handler with `app.activity.target()` (what it creates). */
  | { type: ActivityObjectType }

/**
 * What a mutating route records once it has answered (`config.activity`): its action, whose
 * outcome the status tells, and the objects it acted upon. `manual` routes (sign-in, refresh)
 * record their entries themselves.
 */
export interface ActivityRoute {
  action: string | ((request: FastifyRequest) => string)
  target?: ObjectSource
  related?: ObjectSource
  manual?: true
}

/** What a caller of `record` gives; the rest (id, time, address, user agent, actor) is filled in. */
export interface ActivityInput {
  action: string
  outcome?: ActivityEntry['outcome']
  reason?: string | null
  /** Defaults to the request's caller. */
  actor?: ActivityEntry['actor']
  target?: ActivityObject | null
  related?: ActivityObject | null
  fields?: string[] | null
}

export interface ActivityRecorder {
  /** Records one entry: published on `user-activity` at once, stored with the next batch. */
  record(request: FastifyRequest, input: ActivityInput): ActivityEntry
  /** Names the object(s) the request's entry is about, when the route cannot say (what it creates): one entry each. */
  target(request: FastifyRequest, ...objects: Array<{ id: string, name: string | null }>): void
  /** Names the fields the request's entry lists, when the route knows better than the body (the paths that changed). */
  fields(request: FastifyRequest, names: string[]): void
  /** Writes the entries still waiting (never rejects: a failed write is retried later). */
  flush(): Promise<void>
  /** Deletes the entries older than the retention period; returns how many. */
  prune(): Promise<number>
  /** Entries that could not be stored (backlog full, refused by the database, left at close). */
  readonly dropped: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    activity?: ActivityRoute
  }
  interface FastifyInstance {
    /** The audit trail (`user-activity`): how actions are recorded beyond what routes declare. */
    activity: ActivityRecorder
  }
}

export interface ActivityOptions {
  retentionDays: number
  now: () => number
}

/** The entries waiting to be written, at most (a long database outage drops the rest, counted). */
const BACKLOG = { maxItems: 10_000, maxBytes: 8 * 1024 * 1024 }
const CLOSE_FLUSH_MS = 2000
const PRUNE_INTERVAL_MS = 10 * 60_000
const DAY_MS = 24 * 60 * 60_000
/** Bounds on what a caller controls (a tried username, a user agent, field names). */
const MAX_TEXT = 200
const MAX_USER_AGENT = 512
const MAX_FIELDS = 50
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** A string as it can be stored: no NUL (PostgreSQL text refuses it, and a refused batch is lost), bounded. */
function clean (text: string, max = MAX_TEXT): string {
  return text.replaceAll('\0', '\uFFFD').slice(0, max)
}

function cleanObject (object: ActivityObject | null | undefined): ActivityObject | null {
  if (object === null || object === undefined) return null
  return { type: object.type, id: object.id === null ? null : clean(object.id), name: object.name === null ? null : clean(object.name) }
}

/** The contract's code for an error status (408, 431 and 503 share their family's code). */
function codeOf (status: number): ErrorCode {
  const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((name) => ERROR_STATUS[name] === status)
  return code ?? (status >= 500 ? 'SERVER_ERROR' : 'INVALID_REQUEST')
}

/** What a request names by itself: an id, or (groups only) a name. Nothing more is said of an object a failed request named. */
function named (type: ActivityObjectType, ref: unknown): ActivityObject | null {
  if (typeof ref !== 'string' || ref === '') return null
  if (isIdShaped(ref)) return { type, id: ref, name: null }
  return { type, id: null, name: type === 'group' ? ref : null }
}

interface RequestState {
  /** The route's objects as they were before the handler ran: ids and names from the database. */
  target?: { id: string, name: string } | undefined
  related?: { id: string, name: string } | undefined
  /** Objects named by the handler. */
  named?: ActivityObject[]
  /** The top-level names of the body as sent (before defaults are filled in); undefined when no body was read. */
  sent?: string[]
  /** Fields named by the handler, instead of those sent. */
  fields?: string[]
}

/**
 * The audit trail. Mutating routes declare `config.activity` (a route under `/api` without one
 * stops the app from starting); once such a route has answered, one hook records the caller,
 * the action, its outcome (failure: the error code), the objects acted upon and the names of
 * the body fields sent (never their values). Entries are published on the bus at once and
 * stored in batches off the request path: bounded, retried while the database is away, flushed
 * on close, pruned after `retentionDays`.
 */
export default fp<ActivityOptions>(async (app, { retentionDays, now }) => {
  const writer = new BatchWriter<ActivityEntry>({
    ...BACKLOG,
    sizeOf: (entry) => JSON.stringify(entry).length,
    write: (batch) => insertActivity(app.db, batch),
    permanent: permanentDatabaseError,
    onError: (error, retrying) => app.log.warn({ err: { message: driverMessage(error) }, retrying }, 'could not store activity entries'),
    onDrop: (dropped) => app.log.warn({ dropped }, 'activity entries dropped: the backlog is full or the database refused them')
  })
  const states = new WeakMap<FastifyRequest, RequestState>()
  const stateOf = (request: FastifyRequest) => {
    let state = states.get(request)
    if (state === undefined) states.set(request, state = {})
    return state
  }

  function record (request: FastifyRequest, input: ActivityInput): ActivityEntry {
    const actor = input.actor !== undefined
      ? input.actor
      : request.principal === null ? null : { userId: request.principal.userId, username: request.principal.username }
    const userAgent = request.headers['user-agent']
    const entry: ActivityEntry = {
      id: randomUUID(),
      action: input.action,
      outcome: input.outcome ?? 'success',
      reason: input.reason ?? null,
      actor: actor === null ? null : { userId: actor.userId, username: clean(actor.username) },
      target: cleanObject(input.target),
      related: cleanObject(input.related),
      fields: input.fields?.slice(0, MAX_FIELDS).map((name) => clean(name)) ?? null,
      ip: request.ip,
      userAgent: userAgent === undefined ? null : clean(userAgent, MAX_USER_AGENT),
      at: new Date(now()).toISOString()
    }
    app.events.publish('user-activity', entry)
    writer.add(entry)
    return entry
  }

  app.decorate('activity', {
    record,
    target (request: FastifyRequest, ...objects: Array<{ id: string, name: string | null }>) {
      const type = request.routeOptions.config.activity?.target?.type
      if (type === undefined) throw new Error(`Route ${request.routeOptions.url ?? ''} names no target type in config.activity`)
      stateOf(request).named = objects.map(({ id, name }) => ({ type, id, name }))
    },
    fields (request: FastifyRequest, names: string[]) {
      stateOf(request).fields = names
    },
    flush: () => writer.flush(),
    prune: async () => await pruneActivity(app.db, new Date(now() - retentionDays * DAY_MS)),
    get dropped () { return writer.dropped }
  } satisfies ActivityRecorder)

  // Only the routes that record activity run its hooks, ahead of their own (as app-wide hooks would).
  app.addHook('onRoute', (route) => {
    const activity = route.config?.activity
    if (activity !== undefined) {
      route.preValidation = [noteSentFields, ...[route.preValidation ?? []].flat()]
      if (activity.manual === true) return
      route.preHandler = [lookUpObjects, ...[route.preHandler ?? []].flat()]
      route.onResponse = [recordAnswer, ...[route.onResponse ?? []].flat()]
      return
    }
    const methods = [route.method].flat()
    if (route.url.startsWith('/api/') && !methods.every((method) => SAFE_METHODS.has(method))) throw new Error(`Route ${String(route.method)} ${route.url} changes something but records no activity (config.activity)`)
  })

  /** Where a source points, as the request names it. */
  function refOf (request: FastifyRequest, source: ObjectSource): string | undefined {
    const value = 'param' in source
      ? (request.params as Record<string, unknown>)[source.param]
      : 'body' in source ? (request.body as Record<string, unknown> | null | undefined)?.[source.body] : undefined
    return typeof value === 'string' ? value : undefined
  }

  async function lookUp (request: FastifyRequest, source: ObjectSource | undefined) {
    if (source === undefined || 'self' in source) return undefined
    const ref = refOf(request, source)
    return ref === undefined || ref.includes('\0') ? undefined : await lookUpObject(app.db, source.type, ref)
  }

  /** Before validation fills in defaults: the fields the caller sent. */
  function noteSentFields (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const body = request.body
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) stateOf(request).sent = Object.keys(body)
    done()
  }

  /** After the access check and validation, before the handler: the names as they are before the change (a delete removes them). */
  async function lookUpObjects (request: FastifyRequest): Promise<void> {
    const route = request.routeOptions.config.activity!
    if (request.principal === null) return
    const state = stateOf(request)
    state.target = await lookUp(request, route.target)
    state.related = await lookUp(request, route.related)
  }

  /** The object as the entry shows it: on success with its name; on failure only what the request itself said. */
  function objectFor (request: FastifyRequest, source: ObjectSource | undefined, found: { id: string, name: string } | undefined, success: boolean): ActivityObject | null {
    if (source === undefined) return null
    if ('self' in source) return request.principal === null ? null : { type: 'user', id: request.principal.userId, name: request.principal.username }
    const given = named(source.type, refOf(request, source)) ?? { type: source.type, id: null, name: null }
    if (success && found !== undefined) return { type: source.type, id: found.id, name: found.name }
    return { type: source.type, id: found?.id ?? given.id, name: given.name }
  }

  function recordAnswer (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    recordEntries(request, reply)
    done()
  }

  function recordEntries (request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.config.activity!
    // Anonymous callers were refused before anything happened; the rate limiter refuses before the route.
    if (request.principal === null || reply.statusCode === 429) return
    const success = reply.statusCode < 400
    const state = states.get(request) ?? {}
    const base = {
      action: typeof route.action === 'function' ? route.action(request) : route.action,
      outcome: success ? 'success' as const : 'failure' as const,
      reason: success ? null : codeOf(reply.statusCode),
      related: objectFor(request, route.related, state.related, success),
      fields: state.fields ?? fieldNames(request, state.sent)
    }
    const targets = state.named !== undefined && state.named.length > 0 ? state.named : [objectFor(request, route.target, state.target, success)]
    for (const target of targets) record(request, { ...base, target })
  }

  /** The body fields of each route's schema, by route. */
  const bodyFields = new Map<string, Set<string> | null>()
  /**
   * The names of the body fields sent that the route's schema knows (never their values, never
   * a name the caller made up); null when the route takes no body or none was read.
   */
  function fieldNames (request: FastifyRequest, sent: string[] | undefined): string[] | null {
    const key = `${request.method} ${request.routeOptions.url ?? ''}`
    let known = bodyFields.get(key)
    if (known === undefined) {
      let schema = request.routeOptions.schema?.body as { $ref?: string, properties?: Record<string, unknown> } | undefined
      if (schema?.$ref !== undefined) schema = request.server.getSchema(schema.$ref) as typeof schema
      known = schema?.properties === undefined ? null : new Set(Object.keys(schema.properties))
      bodyFields.set(key, known)
    }
    if (known === null || sent === undefined) return null
    return sent.filter((name) => known.has(name))
  }

  const pruner = setInterval(() => {
    app.activity.prune().catch((error: unknown) => app.log.warn({ err: { message: driverMessage(error) } }, 'could not prune the activity trail'))
  }, PRUNE_INTERVAL_MS)
  pruner.unref()

  // Before the database closes (onClose hooks run in reverse order).
  app.addHook('onClose', async () => {
    clearInterval(pruner)
    await writer.close(CLOSE_FLUSH_MS)
  })
}, { name: 'activity', dependencies: ['db', 'events', 'access'] })
