import { randomUUID } from 'node:crypto'
import t from 'tap'
import { toolCalls } from '../db/schema.ts'
import { ToolCallLog } from '../gateway/accounting.ts'
import { DRIVERS, testDatabase } from './helper.ts'

// The call records go to the database as one statement a batch, each kept as recorded.

for (const driver of DRIVERS) {
  t.test(`${driver}: the most calls a busy hub leaves waiting are written in order on close, each as recorded`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const log = new ToolCallLog(handle.db, (error) => { throw error })
    const call = { userId: randomUUID(), serverId: randomUUID(), startedAt: new Date('2026-12-02T05:00:00.123Z'), ok: true, error: null }
    for (let n = 0; n < 5000; n++) log.record({ ...call, tool: `tool_${n}`, durationMs: n })
    await log.close()
    const rows = await handle.db.select().from(toolCalls).orderBy(toolCalls.id)
    t.equal(rows.length, 5000)
    t.ok(rows.every((row, n) => row.tool === `tool_${n}` && row.durationMs === n), 'in the order recorded')
    t.match(rows[0], { ...call, tool: 'tool_0', durationMs: 0 })
    t.equal(log.dropped, 0)
  })

  t.test(`${driver}: quotes, backslashes, non-ASCII and a lone surrogate are kept (the surrogate as U+FFFD)`, async (t) => {
    const handle = await testDatabase(t, driver)
    t.teardown(() => handle.close())
    await handle.migrate()
    const log = new ToolCallLog(handle.db, (error) => { throw error })
    const call = { userId: randomUUID(), serverId: randomUUID(), startedAt: new Date(), durationMs: 1, ok: false }
    log.record({ ...call, tool: 'say "hi" \\ there', error: 'über 💥' })
    log.record({ ...call, tool: 'half \uD83D pair', error: null })
    await log.close()
    const rows = await handle.db.select().from(toolCalls).orderBy(toolCalls.id)
    t.same(rows.map((row) => [row.tool, row.error]), [['say "hi" \\ there', 'über 💥'], ['half \uFFFD pair', null]])
  })
}
