import { test } from 'tap'
import { EventBus, type BusEvent } from '../events/bus.ts'

const alert = (n: number) => ({ id: `a${n}`, fingerprint: `f${n}`, rule: 'server-error', severity: 'warning' as const, state: 'firing' as const, serverId: null, message: `alert ${n}`, at: new Date(0).toISOString() })

test('events are numbered per channel and reach the listeners of their channel only', async (t) => {
  const bus = new EventBus()
  const seen: Array<BusEvent<'alerts'>> = []
  const stop = bus.listen('alerts', (event) => seen.push(event))
  bus.publish('alerts', alert(1))
  bus.publish('monitoring', { at: new Date(0).toISOString(), metrics: { uptime: 1 } })
  bus.publish('alerts', alert(2))
  stop()
  bus.publish('alerts', alert(3))
  t.same(seen.map((event) => [event.channel, event.seq, event.data.id]), [['alerts', 1, 'a1'], ['alerts', 2, 'a2']])
  t.equal(bus.lastSeq('alerts'), 3)
  t.equal(bus.lastSeq('monitoring'), 1)
  t.match(seen[0]!.timestamp, /^\d{4}-\d\d-\d\dT/)
  t.notOk(bus.hasListeners('alerts'), 'a stopped listener is gone')
})

test('since: what the ring holds after a sequence number, or undefined when it no longer reaches back', async (t) => {
  let now = 0
  const bus = new EventBus({ rings: { alerts: { maxEvents: 3, maxAgeMs: 1000 } }, now: () => now })
  for (let n = 1; n <= 5; n++) bus.publish('alerts', alert(n))
  t.same(bus.since('alerts', 3)!.map((event) => event.seq), [4, 5])
  t.same(bus.since('alerts', 2)!.map((event) => event.seq), [3, 4, 5], 'the oldest held is the next one')
  t.same(bus.since('alerts', 5), [], 'nothing new')
  t.equal(bus.since('alerts', 1), undefined, 'event 2 fell out of the ring')
  t.equal(bus.since('alerts', 9), undefined, 'a number from before a restart')
  now = 1500
  bus.publish('alerts', alert(6))
  t.same(bus.since('alerts', 5)!.map((event) => event.seq), [6])
  t.equal(bus.since('alerts', 4), undefined, 'event 5 is too old to replay')
})
