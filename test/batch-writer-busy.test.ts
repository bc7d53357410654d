import t from 'tap'
import { BatchWriter, type BatchWriterOptions } from '../lib/batch-writer.ts'
import { until } from './helpers/wait.ts'

// A writer told that work is in progress leaves its backlog waiting for a quiet moment, within bounds.

type Tap = { teardown(fn: () => unknown): void }

function writer (t: Tap, options: Partial<BatchWriterOptions<string>>): { log: BatchWriter<string>, written: string[] } {
  const written: string[] = []
  const log = new BatchWriter<string>({ maxItems: 100, maxBytes: 1024 * 1024, sizeOf: (item) => item.length, intervalMs: 10, write: async (batch) => { written.push(...batch) }, ...options })
  t.teardown(() => log.close(0))
  return { log, written }
}

t.test('while busy the backlog waits; it is written once work stops', async (t) => {
  let busy = true
  let asked = 0
  const { log, written } = writer(t, { busy: () => { asked++; return busy }, maxDeferMs: 60_000 })
  log.add('during a call')
  await until('five intervals', () => asked >= 5)
  t.equal(written.length, 0, 'five intervals later, nothing written')
  t.equal(log.pending, 1)
  busy = false
  await until('the write', () => written.length === 1)
  t.same(written, ['during a call'])
})

t.test('busy for longer than maxDeferMs: the backlog is written all the same', async (t) => {
  const { log, written } = writer(t, { busy: () => true, maxDeferMs: 50 })
  const added = Date.now()
  log.add('waited long enough')
  await until('the write', () => written.length === 1)
  t.ok(Date.now() - added >= 50, `written after ${Date.now() - added} ms`)
})

t.test('busy with half the backlog bound waiting: written all the same', async (t) => {
  let asked = 0
  const { log, written } = writer(t, { busy: () => { asked++; return true }, maxDeferMs: 60_000 })
  for (let n = 0; n < 49; n++) log.add(`item ${n}`)
  await until('five intervals', () => asked >= 5)
  t.equal(written.length, 0, 'under half: waiting')
  log.add('item 49')
  await until('the write', () => written.length === 50)
  t.equal(log.dropped, 0)
})

t.test('flush and close write at once, busy or not: nothing is lost', async (t) => {
  const { log, written } = writer(t, { busy: () => true, maxDeferMs: 60_000 })
  log.add('flushed')
  await log.flush()
  t.same(written, ['flushed'])
  log.add('closed')
  await log.close(1000)
  t.same(written, ['flushed', 'closed'])
  t.equal(log.dropped, 0)
})
