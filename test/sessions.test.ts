import t from 'tap'
import { Server } from '@modelcontextprotocol/server'
import { StreamableHttpTransport } from '../gateway/http-transport.ts'
import { newSessionId, SessionStore, type Session } from '../gateway/sessions.ts'

function session (id: string, userId: string, lastSeen: number): Session {
  return { id, userId, path: '/mcp', transport: new StreamableHttpTransport(id), server: new Server({ name: 't', version: '1' }), lastSeen }
}

t.test('session ids are 256 random bits', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId))
  t.equal(ids.size, 1000)
  for (const id of ids) t.equal(Buffer.from(id, 'base64url').length, 32)
})

t.test('sessions expire when idle', async (t) => {
  const store = new SessionStore({ idleMs: 1000, perUser: 10 })
  t.teardown(() => store.closeAll())
  const now = Date.now()
  store.add(session('old', 'u1', now - 5000))
  store.add(session('fresh', 'u1', now))
  store.sweep(now)
  t.equal(store.find('old', 'u1', '/mcp'), undefined)
  t.ok(store.find('fresh', 'u1', '/mcp'))
})

t.test('sessions are capped per user: the least recently used is closed', async (t) => {
  const store = new SessionStore({ idleMs: 60_000, perUser: 2 })
  t.teardown(() => store.closeAll())
  const now = Date.now()
  store.add(session('a', 'u1', now - 3))
  store.add(session('b', 'u1', now - 2))
  store.add(session('other', 'u2', now - 10))
  store.add(session('c', 'u1', now))
  t.same(store.all().map((s) => s.id).sort(), ['b', 'c', 'other'])
  t.equal(store.find('b', 'u2', '/mcp'), undefined, 'never found for another user')
})
