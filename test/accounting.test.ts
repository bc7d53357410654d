import { randomUUID } from 'node:crypto'
import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { servers, toolCalls, users } from '../db/schema.ts'
import { ToolCallLog } from '../gateway/accounting.ts'
import { DRIVERS, testDatabase } from './helper.ts'

for (const driver of DRIVERS) {
  t.test(`${driver}: tool calls are written in one batch and kept as recorded`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const { db } = handle
    const [user] = await db.insert(users).values({ username: 'caller', passwordHash: 'x' }).returning()
    const [server] = await db.insert(servers).values({ name: 'files', key: 'files', command: 'true' }).returning()
    const log = new ToolCallLog(db, (error) => { throw error })
    const startedAt = new Date('2026-12-01T08:00:00.000Z')
    for (let n = 0; n < 500; n++) log.record({ userId: user!.id, serverId: server!.id, tool: `tool_${n % 5}`, startedAt, durationMs: n, ok: n % 2 === 0, error: n % 2 === 0 ? null : 'failed' })
    await log.close()
    const rows = await db.select().from(toolCalls)
    t.equal(rows.length, 500, 'every call is written')
    t.match(rows.find((row) => row.durationMs === 7), { userId: user!.id, serverId: server!.id, tool: 'tool_2', startedAt, ok: false, error: 'failed' })

    await db.delete(servers).where(eq(servers.id, server!.id))
    await db.delete(users).where(eq(users.id, user!.id))
    const kept = await db.select().from(toolCalls)
    t.equal(kept.length, 500, 'deleting the user and the server keeps their calls')
    t.ok(kept.every((row) => row.userId === user!.id && row.serverId === server!.id), 'with the ids as recorded')
    t.equal(log.dropped, 0)
  })

  t.test(`${driver}: calls recorded while the table is unavailable are written once it is back`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const { db } = handle
    const errors: string[] = []
    const log = new ToolCallLog(db, (error) => errors.push(error.message))
    t.teardown(() => log.close())
    const call = { userId: randomUUID(), serverId: randomUUID(), startedAt: new Date(), durationMs: 5, ok: true, error: null }
    await db.execute(sql`alter table tool_calls rename to tool_calls_away`)
    for (const tool of ['first', 'second']) log.record({ ...call, tool })
    await log.flush()
    t.match(errors, [/tool_calls/], 'the write failed')
    log.record({ ...call, tool: 'third' })
    await log.flush()
    await db.execute(sql`alter table tool_calls_away rename to tool_calls`)
    await log.flush()
    t.same((await db.select().from(toolCalls).orderBy(toolCalls.id)).map((row) => row.tool), ['first', 'second', 'third'], 'nothing was lost, in order')
    t.equal(log.dropped, 0)
  })

  t.test(`${driver}: a NUL byte in a record does not fail its batch`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const log = new ToolCallLog(handle.db, (error) => { throw error })
    const call = { userId: randomUUID(), serverId: randomUUID(), startedAt: new Date(), durationMs: 5, ok: false }
    log.record({ ...call, tool: 'plain', error: null })
    log.record({ ...call, tool: 'odd\u0000name', error: 'bad\u0000byte' })
    await log.close()
    t.same((await handle.db.select().from(toolCalls).orderBy(toolCalls.id)).map((row) => [row.tool, row.error]), [['plain', null], ['odd\uFFFDname', 'bad\uFFFDbyte']])
  })
}
