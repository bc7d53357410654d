import t from 'tap'
import { BatchWriter, permanentDatabaseError, type BatchWriterOptions } from '../lib/batch-writer.ts'

// The one writer behind everything the hub writes in the background: bounded, retried, counted.

type Tap = { teardown(fn: () => unknown): void }

function writer (t: Tap, options: Partial<BatchWriterOptions<string>> & Pick<BatchWriterOptions<string>, 'write'>): BatchWriter<string> {
  const created = new BatchWriter<string>({ maxItems: 1000, maxBytes: 1024 * 1024, sizeOf: (item) => Buffer.byteLength(item), intervalMs: 20, retryMs: 20, ...options })
  t.teardown(() => created.close(0))
  return created
}

async function until (check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

t.test('items are written in order, in batches of at most maxBatch, once an interval', async (t) => {
  const batches: string[][] = []
  const log = writer(t, { maxBatch: 3, write: async (batch) => { batches.push(batch) } })
  for (let n = 0; n < 7; n++) log.add(`item ${n}`)
  t.ok(await until(() => log.pending === 0), 'written without a flush')
  t.same(batches.map((batch) => batch.length), [3, 3, 1])
  t.same(batches.flat(), Array.from({ length: 7 }, (_, n) => `item ${n}`))
  t.equal(log.bytes, 0)
  t.equal(log.dropped, 0)
})

t.test('the backlog is bounded in bytes and in items; what does not fit is dropped and counted', async (t) => {
  const reports: number[] = []
  const blocked = writer(t, { maxBytes: 2 * 1024 * 1024, intervalMs: 60_000, write: async () => {}, onDrop: (count) => reports.push(count) })
  const line = 'x'.repeat(15 * 1024)
  let kept = 0
  for (let n = 0; n < 1000; n++) if (blocked.add(line)) kept++
  t.equal(kept, Math.floor(2 * 1024 * 1024 / line.length), `${kept} lines of 15 KiB fit in 2 MiB`)
  t.ok(blocked.bytes <= 2 * 1024 * 1024, `${blocked.bytes} bytes held`)
  t.equal(blocked.dropped, 1000 - kept)
  await blocked.close(1000)
  t.same(reports, [1000 - kept], 'drops are reported, once')

  const few = writer(t, { maxItems: 5, intervalMs: 60_000, write: async () => {} })
  for (let n = 0; n < 8; n++) few.add('y')
  t.equal(few.pending, 5)
  t.equal(few.dropped, 3)
})

t.test('a failed write is retried with a growing delay, and nothing is lost', async (t) => {
  const attempts: number[] = []
  const written: string[] = []
  let failing = true
  const errors: Array<[string, boolean]> = []
  const log = writer(t, {
    retryMs: 50,
    write: async (batch) => {
      attempts.push(Date.now())
      if (failing) throw new Error('connection refused')
      written.push(...batch)
    },
    onError: (error, retrying) => errors.push([(error as Error).message, retrying])
  })
  log.add('during the outage')
  t.ok(await until(() => attempts.length >= 4), 'retried')
  const gaps = attempts.slice(1, 4).map((at, n) => at - attempts[n]!)
  t.ok(gaps[1]! > gaps[0]! && gaps[2]! > gaps[1]!, `delays grow: ${gaps.join(', ')} ms`)
  log.add('later')
  t.equal(log.pending, 2)
  failing = false
  t.ok(await until(() => written.length === 2))
  t.same(written, ['during the outage', 'later'], 'in order')
  t.equal(log.dropped, 0)
  t.same(errors[0], ['connection refused', true])
})

t.test('a batch no retry can write is dropped and counted; the next one goes on', async (t) => {
  const written: string[] = []
  const log = writer(t, {
    maxBatch: 2,
    write: async (batch) => {
      if (batch.includes('bad')) throw Object.assign(new Error('invalid byte sequence'), { code: '22021' })
      written.push(...batch)
    },
    permanent: permanentDatabaseError
  })
  for (const item of ['a', 'bad', 'c', 'd']) log.add(item)
  t.ok(await until(() => log.pending === 0))
  t.same(written, ['c', 'd'])
  t.equal(log.dropped, 2)
})

t.test('close writes what is left, and gives up within its bound when it cannot', async (t) => {
  const written: string[] = []
  const log = writer(t, { intervalMs: 60_000, write: async (batch) => { written.push(...batch) } })
  log.add('last words')
  await log.close(1000)
  t.same(written, ['last words'])
  t.notOk(log.add('after close'), 'closed: refused')

  let reported = 0
  const down = writer(t, { intervalMs: 60_000, write: async () => { throw new Error('down') }, onDrop: (count) => { reported += count } })
  down.add('a')
  down.add('b')
  let started = Date.now()
  await down.close(300)
  t.ok(Date.now() - started < 1000, `gave up after ${Date.now() - started} ms`)
  t.equal(down.dropped, 2)
  t.equal(reported, 2)

  const hung = writer(t, { intervalMs: 60_000, write: () => new Promise<void>(() => {}) })
  hung.add('a')
  started = Date.now()
  await hung.close(300)
  t.ok(Date.now() - started < 1000, `a write that never answers holds close ${Date.now() - started} ms`)
})

t.test('permanent database errors: bad values and integrity violations, not outages', async (t) => {
  const wrapped = (code: string) => Object.assign(new Error('Failed query'), { cause: Object.assign(new Error('driver'), { code }) })
  t.ok(permanentDatabaseError(wrapped('22021')), 'invalid byte sequence')
  t.ok(permanentDatabaseError(wrapped('23502')), 'not null')
  t.notOk(permanentDatabaseError(wrapped('23503')), 'a foreign key row that went away: the retry skips it')
  t.notOk(permanentDatabaseError(wrapped('42P01')), 'a table missing for a while')
  t.notOk(permanentDatabaseError(wrapped('57P01')), 'admin shutdown')
  t.notOk(permanentDatabaseError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })))
  t.notOk(permanentDatabaseError(new Error('Connection terminated unexpectedly')))
})
