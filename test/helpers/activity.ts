import { randomUUID } from 'node:crypto'
import type { App } from '../../app.ts'
import type { ActivityEntry } from '../../events/activity.ts'
import type { SignedIn } from '../helper.ts'

type Tap = { teardown(fn: () => unknown): void }

/** Every `user-activity` event of the app, and a way to wait for one. */
export function trail (t: Tap, app: App) {
  const events: ActivityEntry[] = []
  const waiters = new Set<() => void>()
  const stop = app.events.listen('user-activity', (event) => {
    events.push(event.data)
    for (const wake of waiters) wake()
  })
  t.teardown(stop)
  /** The first event that `match` accepts, waiting up to 5 s for it. */
  async function next (what: string, match: (entry: ActivityEntry) => boolean): Promise<ActivityEntry> {
    const deadline = Date.now() + 5000
    for (;;) {
      const found = events.find(match)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no user-activity event for ${what}; got ${events.map((event) => event.action).join(', ')}`)
      await new Promise<void>((resolve) => {
        const wake = () => { waiters.delete(wake); clearTimeout(timer); resolve() }
        const timer = setTimeout(wake, 100)
        waiters.add(wake)
      })
    }
  }
  return { events, next }
}

export async function listActivity (app: App, who: SignedIn, query = '') {
  const res = await app.inject({ method: 'GET', url: `/api/monitoring/activity${query}`, headers: who.headers })
  return { status: res.statusCode, body: res.json() }
}

/** `count` entries a minute apart from `base`, of three actions and two actors, stored straight away. */
export function syntheticEntries (count: number, base: number, actors: string[]): ActivityEntry[] {
  const actions = ['auth.login', 'server.update', 'group.member.add']
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    action: actions[i % 3]!,
    outcome: 'success' as const,
    reason: null,
    actor: { userId: actors[i % 2]!, username: `actor${i % 2}` },
    target: null,
    related: null,
    fields: null,
    ip: '127.0.0.1',
    userAgent: null,
    at: new Date(base + i * 60_000).toISOString()
  }))
}
