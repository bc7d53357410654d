/** Every item of a paged list: page 1, 2, … while `pagination.hasNext`. */
export async function * followPages<T> (fetchPage: (page: number) => Promise<{ items: T[], pagination: { hasNext: boolean } }>): AsyncGenerator<T> {
  for (let page = 1; ; page++) {
    const { items, pagination } = await fetchPage(page)
    yield * items
    if (!pagination.hasNext || items.length === 0) return
  }
}

/** Every item of a cursor-paged list, following `pagination.nextCursor` until it is null. */
export async function * followCursor<T> (fetchPage: (cursor: string | undefined) => Promise<{ items: T[], pagination: { nextCursor: string | null } }>): AsyncGenerator<T> {
  for (let cursor: string | undefined; ;) {
    const { items, pagination } = await fetchPage(cursor)
    yield * items
    if (pagination.nextCursor === null || items.length === 0) return
    cursor = pagination.nextCursor
  }
}
