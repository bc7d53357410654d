import { and, asc, count, desc, eq, getTableName, gte, ilike, lt, or, type SQL } from 'drizzle-orm'
import { PgDialect, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import { Type, type Static, type TObject, type TProperties, type TSchema, type TUnsafe } from 'typebox'
import type { Database } from '../db/client.ts'
import type { EpochCache } from './epoch-cache.ts'
import { DateOrDateTime } from './schemas.ts'

/**
 * What a list endpoint lets callers sort, filter and search on. The query schema is built
 * from it, so unknown `sort` values and `filter[...]` fields are schema errors (422).
 */
export interface ListSpec {
  table: PgTable
  /** Sortable fields by their API name; the first is the default sort. */
  sort: Record<string, PgColumn>
  /** `filter[name]=value` fields: equality on the column, typed after it (boolean, uuid, enum, text). */
  filters: Record<string, PgColumn>
  /** Columns matched case-insensitively by `search`. */
  search: PgColumn[]
  /** The column `status` and `filter[status]` compare with, when the items have a stored status. */
  status?: PgColumn
  /**
   * The values of a status that lives outside the table (servers' runtime state): `status` and
   * `filter[status]` accept them, and the caller narrows the rows itself (`requestedStatuses`, in `scope`).
   */
  liveStatus?: readonly string[]
  /** The column `created_after` / `created_before` compare with. */
  createdAt: PgColumn
  /** Tie-breaker that makes paging stable (usually the id). */
  id: PgColumn
}

export interface ListQuery {
  page?: number
  limit?: number
  sort?: string
  order?: 'asc' | 'desc'
  search?: string
  status?: string
  created_after?: string
  created_before?: string
  [filter: `filter[${string}]`]: string | boolean | undefined
}

export interface Pagination {
  page: number
  limit: number
  total: number
  pages: number
  hasNext: boolean
  hasPrev: boolean
}

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100
/** Far past any real list; keeps the row offset a number PostgreSQL takes. */
export const MAX_PAGE = 1_000_000

/** The query parameters of every paged list: `page` and `limit`. */
export const PAGING = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1, description: 'Page number, from 1' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT, description: 'Items per page' }))
}

/** The schema of a `filter[...]` value: the column's own type, so a bad value is a 422, not a database error. */
function filterSchema (column: PgColumn, description: string): TSchema {
  if (column.dataType === 'boolean') return Type.Boolean({ description })
  if (column.dataType !== 'string') throw new Error(`filter on ${column.name}: ${column.dataType} columns are not supported`)
  if (column.columnType === 'PgUUID') return Type.String({ format: 'uuid', description })
  if (column.enumValues !== undefined) return Type.Enum(column.enumValues, { description })
  return Type.String({ maxLength: 200, description })
}

function statusSchema (spec: ListSpec): TSchema | undefined {
  const values = spec.liveStatus ?? spec.status?.enumValues
  if (values !== undefined) return Type.Enum([...values], { description: 'Only items with this status' })
  return spec.status === undefined ? undefined : Type.String({ maxLength: 50, description: 'Only items with this status' })
}

/** A list endpoint's query-string schema, typed as what it admits: `ListQuery` and the endpoint's own parameters. */
export type TListQuery<Extra extends TProperties> = TUnsafe<ListQuery & Static<TObject<Extra>>>

/** The query-string schema of a list endpoint: the common parameters plus its own filters. */
export function listQuerySchema<Extra extends TProperties = Record<never, never>> (spec: ListSpec, extra?: Extra): TListQuery<Extra> {
  const filters: Record<string, TSchema> = {}
  for (const [name, column] of Object.entries(spec.filters)) {
    filters[`filter[${name}]`] = Type.Optional(filterSchema(column, `Only items whose ${name} equals this value`))
  }
  const status = statusSchema(spec)
  if (status !== undefined) filters['filter[status]'] = Type.Optional(status)
  // The `filter[...]` fields come from the spec at run time: statically they are ListQuery's.
  return Type.Unsafe(Type.Object({
    ...PAGING,
    sort: Type.Optional(Type.Enum(Object.keys(spec.sort), { description: 'Field to sort by' })),
    order: Type.Optional(Type.Enum(['asc', 'desc'], { default: 'asc' })),
    search: Type.Optional(Type.String({ maxLength: 200, description: 'Case-insensitive text search' })),
    ...(status === undefined ? {} : { status: Type.Optional(status) }),
    created_after: Type.Optional(DateOrDateTime('Items created at or after this instant (a date means its midnight UTC)')),
    created_before: Type.Optional(DateOrDateTime('Items created before this instant (a date means its midnight UTC)')),
    ...filters,
    ...extra
  }, { additionalProperties: false }))
}

function likePattern (text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => '\\' + char)}%`
}

/** The statuses asked for, by `status` and by `filter[status]`: an item matches when it has every one. */
export function requestedStatuses (query: ListQuery): string[] {
  return [query.status, query['filter[status]']].filter((value): value is string => typeof value === 'string')
}

/** The WHERE clause for the common list parameters. */
export function listConditions (spec: ListSpec, query: ListQuery): SQL[] {
  const conditions: SQL[] = []
  if (query.search !== undefined && query.search !== '') {
    const pattern = likePattern(query.search)
    const matches = or(...spec.search.map((column) => ilike(column, pattern)))
    if (matches) conditions.push(matches)
  }
  for (const [name, column] of Object.entries(spec.filters)) {
    const value = query[`filter[${name}]`]
    if (value !== undefined) conditions.push(eq(column, value))
  }
  if (spec.status !== undefined) {
    for (const status of requestedStatuses(query)) conditions.push(eq(spec.status, status))
  }
  if (query.created_after !== undefined) conditions.push(gte(spec.createdAt, new Date(query.created_after)))
  if (query.created_before !== undefined) conditions.push(lt(spec.createdAt, new Date(query.created_before)))
  return conditions
}

export function paginate (page: number, limit: number, total: number): Pagination {
  const pages = Math.ceil(total / limit)
  return { page, limit, total, pages, hasNext: page < pages, hasPrev: page > 1 }
}

const dialect = new PgDialect()

export interface ListedPage<Row> {
  items: Row[]
  pagination: Pagination
}

/**
 * Pages by the statements that read them, for tables written only through the API: a page
 * served from here costs no database work (a count reads every matching row, so a list of
 * thousands would otherwise cost with the table, not the page).
 */
export type ListPages = EpochCache<ListedPage<unknown>>

/**
 * One page of rows and its pagination block. `scope` narrows the rows further (e.g. to what
 * the caller may read) and is applied to the count as well. The rows are read first: a page
 * that holds some rows but is not full is the last, and tells the total without a count.
 * With `pages`, a page is reused while the records are unchanged (see EpochCache).
 */
export async function listPage<Row> (db: Database, spec: ListSpec, query: ListQuery, scope: SQL[] = [], pages?: ListPages): Promise<ListedPage<Row>> {
  const page = query.page ?? 1
  const limit = query.limit ?? DEFAULT_LIMIT
  const offset = (page - 1) * limit
  const where = and(...listConditions(spec, query), ...scope)
  const sortNames = Object.keys(spec.sort)
  const sortColumn = spec.sort[query.sort ?? sortNames[0] ?? ''] ?? spec.id
  const direction = query.order === 'desc' ? desc : asc
  const read = async (): Promise<ListedPage<Row>> => {
    const items = await db.select().from(spec.table).where(where)
      .orderBy(direction(sortColumn), direction(spec.id))
      .limit(limit).offset(offset) as Row[]
    const lastPage = items.length < limit && (items.length > 0 || page === 1)
    const total = lastPage ? offset + items.length : (await db.select({ total: count() }).from(spec.table).where(where))[0]?.total ?? 0
    return { items, pagination: paginate(page, limit, total) }
  }
  if (pages === undefined) return await read()
  // Keyed by what the statements are made of; the rest of the statement follows from the table,
  // sort and page, so only the conditions are rendered. Their values hold a live-status filter's ids
  // and a caller's readable servers.
  const conditions = where === undefined ? null : dialect.sqlToQuery(where)
  const key = JSON.stringify([getTableName(spec.table), conditions, sortColumn.name, query.order ?? 'asc', page, limit])
  return await pages.get(key, read) as ListedPage<Row>
}
