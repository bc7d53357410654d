import { Type, type Static, type TSchema, type TUnsafe } from 'typebox'
import { ERROR_CODES } from './errors.ts'

/** A nullable field as `type: [T, 'null']`, so that coercion never turns `0` into `null`. */
export function Nullable<T extends TSchema> (schema: T) {
  const type = (schema as { type?: unknown }).type
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] })
}

export const Timestamp = Type.String({ format: 'date-time', examples: ['2026-01-01T12:00:00.000Z'] })
/** A query's point in time: an RFC 3339 date-time, or a plain date (its midnight UTC). */
export function DateOrDateTime (description: string) {
  return Type.Union([Type.String({ format: 'date-time' }), Type.String({ format: 'date' })], { description, examples: ['2024-01-01', '2024-01-01T12:00:00Z'] })
}
export const Id = Type.String({ minLength: 1, maxLength: 200, examples: ['3f1c1c5e-6a0f-4f57-9d6a-0c7b8f6f2a10'] })

export const ErrorEnvelope = Type.Object({
  success: Type.Literal(false),
  error: Type.Object({
    code: Type.Enum(ERROR_CODES),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
  }),
  timestamp: Timestamp
}, {
  $id: 'ErrorEnvelope',
  description: 'Every error, in the contract\'s envelope',
  examples: [{
    success: false,
    error: { code: 'VALIDATION_ERROR', message: 'Invalid name: is required', details: { field: 'name', reason: 'is required' } },
    timestamp: '2026-01-01T12:00:00.000Z'
  }]
})

/**
 * A reference to a named schema (one with an `$id`, registered with `app.addSchema`), typed as
 * that schema: the document shows it as `#/components/schemas/<$id>`, so generated clients get
 * a named type. `description` describes the response or body that uses it.
 */
export function Ref<T extends TSchema> (schema: T, description?: string): TUnsafe<Static<T>> {
  const id = (schema as { $id?: unknown }).$id
  if (typeof id !== 'string') throw new Error('Ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(description === undefined ? { $ref: id } : { $ref: id, description })
}

/** The success envelope around a route's data, named `name` (e.g. `ServerEnvelope`). */
export function Envelope<T extends TSchema> (name: string, data: T, example?: Static<T>) {
  return Type.Object({
    success: Type.Literal(true),
    data,
    message: Type.Optional(Type.String()),
    timestamp: Timestamp
  }, { $id: name, ...(example === undefined ? {} : { examples: [{ success: true, data: example, timestamp: '2026-01-01T12:00:00.000Z' }] }) })
}

export const Pagination = Type.Object({
  page: Type.Integer({ minimum: 1 }),
  limit: Type.Integer({ minimum: 1, maximum: 100 }),
  total: Type.Integer({ minimum: 0 }),
  pages: Type.Integer({ minimum: 0 }),
  hasNext: Type.Boolean(),
  hasPrev: Type.Boolean()
}, { $id: 'Pagination' })

/** The success envelope around a page of items (`{ items, pagination }`), named `name` (e.g. `ServerPage`), with a one-item example. */
export function PageEnvelope<T extends TSchema> (name: string, item: T, example: Static<T>) {
  const page = { items: [example], pagination: { page: 1, limit: 20, total: 1, pages: 1, hasNext: false, hasPrev: false } }
  return Envelope(name, Type.Object({ items: Type.Array(item), pagination: Ref(Pagination) }), page as never)
}

/** A 204 response: no body at all (`type: 'null'` keeps a content entry out of the document). */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'No content' })

export const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request (bad JSON, wrong content type)',
  401: 'Missing or invalid credentials',
  403: 'Authenticated but not allowed',
  404: 'Unknown resource, or one the caller may not see',
  409: 'Conflicts with an existing resource or its state',
  422: 'A field breaks the schema or a rule',
  429: 'Rate limit exceeded: the caller\'s requests per minute, or an address\'s invalid credentials',
  500: 'Unexpected error (no internals in the body)',
  503: 'Not ready'
}

/** Response schemas for the error statuses a route can return; 500 is always included. */
export function errorResponses (...statuses: number[]) {
  const responses: Record<number, TSchema> = {}
  for (const status of [...statuses, 500]) {
    responses[status] = Ref(ErrorEnvelope, ERROR_DESCRIPTIONS[status] ?? 'Error')
  }
  return responses
}

/** The shared schemas the app registers once, referenced by `$ref` from routes. */
export const SHARED_SCHEMAS = [ErrorEnvelope, Pagination]

/** Marks a route schema whose body may be left out (the OpenAPI document then says so). */
export const OPTIONAL_BODY = 'x-optional-body'
