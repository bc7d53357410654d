import { eq, sql } from 'drizzle-orm'
import t from 'tap'
import { openPgliteThread } from '../db/client.ts'
import { servers } from '../db/schema.ts'

// The embedded database runs on a thread of its own, behind the client interface drizzle uses.

const server = (key: string) => ({ name: key, key, command: 'node', args: ['server.js'], enabled: false })

t.test('queries, errors and transactions work as on PGlite itself', async (t) => {
  const handle = await openPgliteThread()
  t.teardown(() => handle.close())
  const migrated = await handle.migrate()
  t.equal(migrated.applied, migrated.total, 'every migration applied')
  t.equal((await handle.migrate()).applied, 0, 'then up to date')
  const { db } = handle

  await db.insert(servers).values(server('one'))
  const [row] = await db.select().from(servers)
  t.ok(row?.createdAt instanceof Date, 'timestamps come back as dates')
  t.same(row?.args, ['server.js'], 'json comes back parsed')

  const duplicate = await db.insert(servers).values(server('one')).then(() => undefined, (error: unknown) => error as { cause?: { code?: string, constraint?: string } })
  t.match(duplicate?.cause, { code: '23505', constraint: 'servers_name_key' }, 'a database error keeps its code and constraint')

  await t.rejects(db.transaction(async (tx) => {
    await tx.update(servers).set({ command: 'changed' }).where(eq(servers.key, 'one'))
    throw new Error('changed my mind')
  }), /changed my mind/)
  t.equal((await db.select().from(servers))[0]?.command, 'node', 'a transaction that throws is rolled back')

  await db.transaction(async (tx) => {
    await tx.update(servers).set({ command: 'deno' }).where(eq(servers.key, 'one'))
    await tx.insert(servers).values(server('two'))
  })
  t.same((await db.select({ key: servers.key, command: servers.command }).from(servers).orderBy(servers.key)), [{ key: 'one', command: 'deno' }, { key: 'two', command: 'node' }], 'a transaction that resolves is committed')

  await t.rejects(db.transaction(async (tx) => {
    await tx.insert(servers).values(server('two'))
  }), { cause: { code: '23505' } }, 'a failed statement fails its transaction')
  t.equal((await db.select().from(servers)).length, 2)
})

t.test("a long query does not hold up the caller's event loop", async (t) => {
  const handle = await openPgliteThread()
  t.teardown(() => handle.close())
  let ticks = 0
  const ticker = setInterval(() => { ticks++ }, 5)
  t.teardown(() => { clearInterval(ticker) })
  const startedAt = performance.now()
  await handle.db.execute(sql`select count(*) from generate_series(1, 3000000)`)
  const elapsed = performance.now() - startedAt
  t.ok(elapsed > 50, `the query took a while (${Math.round(elapsed)} ms)`)
  t.ok(ticks >= 2, `timers ran while it did (${ticks} ticks)`)
})

t.test('closing ends the thread; later queries are refused', async (t) => {
  const handle = await openPgliteThread()
  await handle.close()
  await t.rejects(async () => await handle.db.execute(sql`select 1`), { cause: { message: /closed/ } })
  await handle.close()
  t.pass('closing twice is harmless')
})
