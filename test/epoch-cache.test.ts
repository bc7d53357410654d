import t from 'tap'
import { EpochCache, RecordsEpoch } from '../lib/epoch-cache.ts'

t.test('EpochCache: reused while the epochs hold and the entry is young; never keeps a failure', async (t) => {
  const records = new RecordsEpoch()
  let catalog = 0
  let clock = 0
  const cache = new EpochCache<string>({ epochs: () => [records.current, catalog], ttlMs: 1000, maxEntries: 2, now: () => clock })
  let computed = 0
  const compute = async () => `value ${++computed}`

  t.equal(await cache.get('a', compute), 'value 1')
  t.equal(await cache.get('a', compute), 'value 1', 'reused')
  records.bump()
  t.equal(await cache.get('a', compute), 'value 2', 'a change to stored records makes it stale')
  catalog++
  t.equal(await cache.get('a', compute), 'value 3', 'so does any other epoch it depends on')
  clock += 1000
  t.equal(await cache.get('a', compute), 'value 4', 'and age')

  const [first, second] = await Promise.all([cache.get('b', compute), cache.get('b', compute)])
  t.equal(first, second, 'concurrent lookups share one computation')

  await t.rejects(cache.get('c', async () => { throw new Error('database down') }), /database down/)
  t.equal(await cache.get('c', compute), 'value 6', 'a failure is not kept')

  // Two entries at most: 'a' was computed longest ago and made room for 'c'.
  t.equal(await cache.get('b', compute), 'value 5', 'b is still there')
  t.equal(await cache.get('a', compute), 'value 7', 'a was evicted')
})

t.test('EpochCache.peek: the value get would answer at once, once computed and while it holds', async (t) => {
  const records = new RecordsEpoch()
  let clock = 0
  const cache = new EpochCache<string | null>({ epochs: () => [records.current], ttlMs: 1000, maxEntries: 10, now: () => clock })
  let finish: (value: string | null) => void = () => {}
  const pending = cache.get('a', async () => await new Promise((resolve) => { finish = resolve }))
  t.equal(cache.peek('a'), undefined, 'not while it is computed')
  finish(null)
  await pending
  t.same(cache.peek('a'), { value: null }, 'a computed null is a value')
  clock += 999
  t.same(cache.peek('a'), { value: null })
  records.bump()
  t.equal(cache.peek('a'), undefined, 'not once the records changed')
  t.equal(await cache.get('a', async () => 'again'), 'again')
  clock += 1000
  t.equal(cache.peek('a'), undefined, 'nor once it is too old')
  await t.rejects(cache.get('b', async () => { throw new Error('database down') }))
  t.equal(cache.peek('b'), undefined, 'a failure is never a value')
})
