import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { eq } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../app.ts'
import { servers } from '../db/schema.ts'
import { build, createUser, DRIVERS, rememberSecret, signIn, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'

// The servers API end to end, with real child processes: the MCP fixture started, stopped,
// restarted and deleted through HTTP, its logs read and followed, secrets kept out of every
// answer and log line, access decided by groups, and no process outliving the hub.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }
const MASK = '********'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface LogLine {
  time: string
  level: string
  source: string
  message: string
}

/** Every response body the tests received, to prove no secret was ever sent back. */
const received: string[] = []

async function call (app: App, who: SignedIn | undefined, method: string, url: string, payload?: object) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    ...(who === undefined ? {} : { headers: who.headers }),
    ...(payload === undefined ? {} : { payload })
  })
  received.push(res.body)
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

/** Polls `probe` until it gives something truthy; fails after `ms`. */
/** Fails instead of hanging when `promise` does not settle within `ms`. */
async function within<T> (what: string, promise: Promise<T>, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** True once `process.kill(pid, 0)` says ESRCH: the process has exited and been reaped. */
function reaped (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * For processes the hub did not spawn itself (grandchildren): gone, or a zombie. An orphan is
 * reparented to PID 1, which in some containers never reaps it; a zombie runs nothing.
 */
function exited (pid: number): boolean {
  if (reaped(pid)) return true
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z')
  } catch {
    return true
  }
}

function fixture (name: string, env: Record<string, string> = { FIXTURE_MODE: 'normal' }, extra: object = {}) {
  return { name, command: process.execPath, args: [FIXTURE], env, enabled: false, ...extra }
}

for (const driver of DRIVERS) {
  t.test(driver, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)

    const create = async (body: object) => {
      const res = await call(app, admin, 'POST', '/api/servers', body)
      if (res.status !== 201) throw new Error(`creating a server failed: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.data as { id: string, name: string }
    }
    const start = async (id: string) => {
      const res = await call(app, admin, 'POST', `/api/servers/${id}/start`)
      if (res.status !== 200 || res.body.data.status !== 'running') throw new Error(`start failed: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.data as { pid: number }
    }
    const newGroup = async (body: object) => {
      const res = await call(app, admin, 'POST', '/api/groups', body)
      if (res.status !== 201) throw new Error(`group: ${JSON.stringify(res.body)}`)
      return res.body.data as { id: string, name: string }
    }
    const logs = async (id: string, query = '') => {
      const res = await call(app, admin, 'GET', `/api/servers/${id}/logs${query}`)
      if (res.status !== 200) throw new Error(`logs: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.data as LogLine[]
    }
    const total = async (query = '') => (await call(app, admin, 'GET', `/api/servers?limit=1${query}`)).body.data.pagination.total as number
    let port: number | undefined
    /** The app on a real socket, for streaming responses. */
    const listening = async () => {
      if (port === undefined) {
        await app.listen({ port: 0, host: '127.0.0.1' })
        port = (app.server.address() as AddressInfo).port
      }
      return port
    }

    t.test('create, read, update, start, restart, stop and delete a real process', async (t) => {
      const created = await call(app, admin, 'POST', '/api/servers', fixture('life', { FIXTURE_MODE: 'normal' }, { description: 'Lifecycle fixture', tags: ['fixture'] }))
      t.equal(created.status, 201)
      t.equal(created.body.success, true)
      t.match(created.body.data, {
        name: 'life',
        description: 'Lifecycle fixture',
        command: process.execPath,
        args: [FIXTURE],
        env: { FIXTURE_MODE: MASK },
        cwd: null,
        enabled: false,
        tags: ['fixture'],
        status: 'stopped',
        pid: null,
        uptime: null,
        lastRestart: null,
        lastExit: null,
        restartCount: 0,
        nextRetryAt: null,
        lastError: null,
        tools: 0
      })
      const id = created.body.data.id as string
      t.match(id, UUID)
      t.equal((await call(app, admin, 'GET', `/api/servers/${id}`)).body.data.name, 'life')
      t.equal(app.supervisor.get(id)?.state, 'stopped', 'registered with the supervisor, not started (enabled: false)')

      const started = await call(app, admin, 'POST', `/api/servers/${id}/start`)
      t.equal(started.status, 200)
      t.match(started.body.data, { status: 'running', tools: 6, lastError: null })
      const pid = started.body.data.pid as number
      t.type(pid, 'number')
      t.notOk(reaped(pid), 'the child runs')
      const got = (await call(app, admin, 'GET', `/api/servers/${id}`)).body.data
      t.match(got, { status: 'running', pid, tools: 6 })
      t.type(got.uptime, 'number')
      t.ok(got.uptime >= 0)

      const described = await call(app, admin, 'PUT', `/api/servers/${id}`, { description: 'Updated' })
      t.equal(described.status, 200)
      t.equal(described.body.data.description, 'Updated')
      t.equal(described.body.data.pid, pid, 'a description change does not touch the process')
      t.ok(described.body.data.updatedAt > created.body.data.updatedAt)
      t.equal((await call(app, admin, 'GET', `/api/servers/${id}`)).body.data.description, 'Updated')

      const restarted = await call(app, admin, 'POST', `/api/servers/${id}/restart`)
      t.equal(restarted.status, 200)
      t.match(restarted.body.data, { status: 'running', tools: 6, restartCount: 1 })
      const pid2 = restarted.body.data.pid as number
      t.not(pid2, pid, 'a new process')
      t.type(restarted.body.data.lastRestart, 'string')
      t.ok(reaped(pid), 'the old process is gone')

      const unknown = await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: true, force: true })
      t.equal(unknown.status, 422)
      t.equal(unknown.body.error.details.field, 'force')
      t.equal(app.supervisor.get(id)?.state, 'running', 'a refused stop stops nothing')

      const stopped = await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: true })
      t.equal(stopped.status, 200)
      t.match(stopped.body.data, { status: 'stopped', pid: null, uptime: null, tools: 0, lastExit: { code: 0, signal: null } })
      t.ok(reaped(pid2), 'stdin closed: the fixture exited by itself')

      const pid3 = (await start(id)).pid
      const bare = await call(app, admin, 'POST', `/api/servers/${id}/stop`)
      t.equal(bare.status, 200, 'stop without a body uses the defaults')
      t.match(bare.body.data, { status: 'stopped', pid: null })
      t.ok(reaped(pid3))

      const pid4 = (await start(id)).pid
      const killed = await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: false })
      t.equal(killed.status, 200)
      t.match(killed.body.data, { status: 'stopped', pid: null, lastExit: { code: null, signal: 'SIGKILL' } })
      t.ok(reaped(pid4))

      const pid5 = (await start(id)).pid
      const deleted = await call(app, admin, 'DELETE', `/api/servers/${id}`)
      t.equal(deleted.status, 204)
      t.equal(deleted.body, undefined)
      await until('the deleted server\'s process to go', () => reaped(pid5), 3000)
      t.pass('the process of a deleted server is gone')
      t.equal((await call(app, admin, 'GET', `/api/servers/${id}`)).status, 404)
      t.equal((await call(app, admin, 'POST', `/api/servers/${id}/start`)).status, 404)
      t.equal(app.supervisor.get(id), undefined, 'forgotten by the supervisor')
      t.equal(await total('&search=life'), 0)
    })

    t.test('an enabled server starts at once, in the background', async (t) => {
      const { id } = await create(fixture('auto', { FIXTURE_MODE: 'normal' }, { enabled: true }))
      const data = await until('auto to run', async () => {
        const res = await call(app, admin, 'GET', `/api/servers/${id}`)
        return res.body.data.status === 'running' && res.body.data
      })
      t.equal(data.tools, 6)
      t.type(data.pid, 'number')
      t.equal((await call(app, admin, 'DELETE', `/api/servers/${id}`)).status, 204)
      await until('auto to go', () => reaped(data.pid), 3000)
    })

    t.test('list: paging, live status, group, search', async (t) => {
      const a = await create(fixture('page-a', undefined, { description: 'alpha words' }))
      const b = await create(fixture('page-b'))
      await create(fixture('page-c', undefined, { description: 'gamma' }))

      const first = await call(app, admin, 'GET', '/api/servers?search=page-&limit=2')
      t.equal(first.status, 200)
      t.same(first.body.data.items.map((s: { name: string }) => s.name), ['page-a', 'page-b'])
      t.same(first.body.data.pagination, { page: 1, limit: 2, total: 3, pages: 2, hasNext: true, hasPrev: false })
      const second = await call(app, admin, 'GET', '/api/servers?search=page-&limit=2&page=2')
      t.same(second.body.data.items.map((s: { name: string }) => s.name), ['page-c'])
      t.match(second.body.data.pagination, { page: 2, total: 3, hasNext: false, hasPrev: true })
      const desc = await call(app, admin, 'GET', '/api/servers?search=page-&sort=name&order=desc')
      t.same(desc.body.data.items.map((s: { name: string }) => s.name), ['page-c', 'page-b', 'page-a'])
      t.same((await call(app, admin, 'GET', '/api/servers?search=ALPHA')).body.data.items.map((s: { name: string }) => s.name), ['page-a'], 'search covers the description, case-insensitively')

      const pid = (await start(b.id)).pid
      const running = await call(app, admin, 'GET', '/api/servers?status=running&search=page-')
      t.same(running.body.data.items.map((s: { name: string }) => s.name), ['page-b'])
      t.equal(running.body.data.items[0].pid, pid)
      t.equal(running.body.data.pagination.total, 1)
      t.equal(await total('&status=stopped&search=page-'), 2)
      t.equal((await call(app, admin, 'GET', '/api/servers?status=sleeping')).status, 422)

      const group = await newGroup({ name: 'listers' })
      t.equal((await call(app, admin, 'POST', `/api/groups/${group.id}/servers`, { serverId: a.id, permissions: ['read'] })).status, 201)
      t.same((await call(app, admin, 'GET', '/api/servers?group=listers')).body.data.items.map((s: { name: string }) => s.name), ['page-a'])
      t.same((await call(app, admin, 'GET', `/api/servers?group=${group.id}`)).body.data.items.map((s: { name: string }) => s.name), ['page-a'], 'by id too')
      t.equal(await total('&group=no-such-group'), 0)

      await call(app, admin, 'POST', `/api/servers/${b.id}/stop`, { graceful: false })
      t.equal(await total('&status=running&search=page-'), 0)
    })

    t.test('validation: 422 with the field, 409 on a taken name, nothing created', async (t) => {
      await create(fixture('taken'))
      const before = await total()
      const cases: Array<[object, string]> = [
        [{ env: { NODE_OPTIONS: '--require /tmp/x.js' } }, 'env.NODE_OPTIONS'],
        [{ env: { node_options: '--inspect' } }, 'env.node_options'],
        [{ env: { ld_preload: '/tmp/x.so' } }, 'env.ld_preload'],
        [{ env: { LD_LIBRARY_PATH: '/tmp' } }, 'env.LD_LIBRARY_PATH'],
        [{ env: { DYLD_INSERT_LIBRARIES: '/tmp/x.dylib' } }, 'env.DYLD_INSERT_LIBRARIES'],
        [{ env: { PYTHONPATH: '/tmp' } }, 'env.PYTHONPATH'],
        [{ env: { PythonStartup: '/tmp/x.py' } }, 'env.PythonStartup'],
        [{ env: { BASH_ENV: '/tmp/x.sh' } }, 'env.BASH_ENV'],
        [{ env: { 'BASH_FUNC_x%%': '() { id; }' } }, 'env.BASH_FUNC_x%%'],
        [{ env: { Mcphub_Server_Id: 'spoof' } }, 'env.Mcphub_Server_Id'],
        // Keys outside the variable-name pattern: '=' would smuggle NODE_OPTIONS past the list.
        [{ env: { 'NODE_OPTIONS=--title=pwned': '1' } }, 'env.NODE_OPTIONS=--title=pwned'],
        [{ env: { 'MY VAR': 'x' } }, 'env.MY VAR'],
        [{ env: { '1ABC': 'x' } }, 'env.1ABC'],
        [{ command: 'npx -y foo' }, 'command'],
        [{ command: 'sh -c x; rm' }, 'command'],
        [{ command: 'a|b' }, 'command'],
        [{ command: '$(id)' }, 'command'],
        [{ command: '' }, 'command'],
        [{ cwd: '/no/such/directory/at/all' }, 'cwd'],
        [{ cwd: 'relative/dir' }, 'cwd'],
        [{ cwd: FIXTURE }, 'cwd'],
        [{ isAdmin: true }, 'isAdmin'],
        [{ args: 'not-an-array' }, 'args']
      ]
      for (const [change, field] of cases) {
        const res = await call(app, admin, 'POST', '/api/servers', { ...fixture('refused'), ...change })
        t.equal(res.status, 422, JSON.stringify(change))
        t.equal(res.body.error?.code, 'VALIDATION_ERROR')
        t.equal(res.body.error.details?.field, field, JSON.stringify(change))
      }
      const missing = await call(app, admin, 'POST', '/api/servers', { name: 'no-command' })
      t.equal(missing.status, 422)
      t.equal(missing.body.error.details.field, 'command')
      const duplicate = await call(app, admin, 'POST', '/api/servers', fixture('taken'))
      t.equal(duplicate.status, 409)
      t.equal(duplicate.body.error.details.field, 'name')
      t.equal(await total(), before, 'nothing was created')
      t.equal(await total('&search=refused'), 0)

      const fine = await create(fixture('with-cwd', { MY_VAR: 'x', FIXTURE_MODE: 'normal' }, { cwd: tmpdir() }))
      t.equal((await call(app, admin, 'GET', `/api/servers/${fine.id}`)).body.data.cwd, tmpdir(), 'an absolute, existing directory is fine')
      for (const [change, field] of [
        [{ env: { NODE_OPTIONS: 'x' } }, 'env.NODE_OPTIONS'],
        [{ env: { 'A=B': 'x' } }, 'env.A=B'],
        [{ command: 'sh -c id' }, 'command'],
        [{ cwd: 'tmp' }, 'cwd'],
        [{ owner: 'me' }, 'owner']
      ] as Array<[object, string]>) {
        const res = await call(app, admin, 'PUT', `/api/servers/${fine.id}`, change)
        t.equal(res.status, 422, `PUT ${JSON.stringify(change)}`)
        t.equal(res.body.error.details?.field, field)
      }
      const renamed = await call(app, admin, 'PUT', `/api/servers/${fine.id}`, { name: 'taken' })
      t.equal(renamed.status, 409)
      t.equal(renamed.body.error.details.field, 'name')
      const [row] = await app.db.select().from(servers).where(eq(servers.id, fine.id))
      t.match(row, { name: 'with-cwd', command: process.execPath, cwd: tmpdir() }, 'refused updates changed nothing')
      t.same(Object.keys(row!.env).sort(), ['FIXTURE_MODE', 'MY_VAR'])
    })

    t.test('env values are sealed, masked, kept when sent back masked, and given to the child', async (t) => {
      const canary = `canary-secret-${randomUUID()}`
      rememberSecret(canary)
      const created = await call(app, admin, 'POST', '/api/servers', fixture('secrets', { API_KEY: canary, FIXTURE_MODE: 'normal' }))
      t.equal(created.status, 201)
      t.same(created.body.data.env, { API_KEY: MASK, FIXTURE_MODE: MASK })
      const id = created.body.data.id as string
      const rowOf = async () => (await app.db.select().from(servers).where(eq(servers.id, id)))[0]!
      const sealed = (await rowOf()).env.API_KEY!
      t.notOk(JSON.stringify(await rowOf()).includes(canary), 'the stored row has no plaintext')
      t.not(sealed, canary)
      t.equal(app.auth.secrets.open(sealed), canary, 'but it opens to the value')

      const updated = await call(app, admin, 'PUT', `/api/servers/${id}`, { env: { API_KEY: MASK, FIXTURE_MODE: 'normal', OTHER: 'x' } })
      t.equal(updated.status, 200)
      t.same(updated.body.data.env, { API_KEY: MASK, FIXTURE_MODE: MASK, OTHER: MASK })
      const row = await rowOf()
      t.equal(row.env.API_KEY, sealed, 'a masked value keeps the stored one')
      t.equal(app.auth.secrets.open(row.env.API_KEY!), canary)
      t.equal(app.auth.secrets.open(row.env.OTHER!), 'x')
      const maskOnly = await call(app, admin, 'PUT', `/api/servers/${id}`, { env: { API_KEY: MASK, NEW_ONE: MASK } })
      t.equal(maskOnly.status, 422, 'the mask for a variable with no stored value is refused')
      t.equal(maskOnly.body.error.details.field, 'env.NEW_ONE')
      t.equal((await rowOf()).env.API_KEY, sealed, 'and changes nothing')

      await start(id)
      const client = app.supervisor.get(id)!.client!
      const result = await client.callTool({ name: 'env', arguments: { name: 'API_KEY' } }) as { content: Array<{ text: string }> }
      const seen = JSON.parse(result.content[0]!.text) as { keys: string[], value: string }
      t.equal(seen.value, canary, 'the child gets the decrypted value')
      t.ok(seen.keys.includes('OTHER'))
      t.ok(seen.keys.includes('MCPHUB_SERVER_ID'))

      const lines = await logs(id)
      t.ok(lines.some((line) => line.message.startsWith('running: 6 tools')))
      await call(app, admin, 'GET', `/api/servers/${id}`)
      await call(app, admin, 'GET', '/api/servers?limit=100')
      await call(app, admin, 'GET', '/api/servers/export')
      await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: false })
      t.notOk(received.some((body) => body.includes(canary)), 'no response ever carried the secret')
    })

    t.test('secret mode: what the child prints is redacted', async (t) => {
      const canary = `canary-token-${randomUUID()}`
      rememberSecret(canary)
      const { id } = await create(fixture('leaky', { FIXTURE_MODE: 'secret', FIXTURE_SECRET: canary }))
      await start(id)
      const line = await until('the token line', async () => (await logs(id)).find((line) => line.message.startsWith('token=')))
      t.equal(line.message, 'token=[redacted]')
      t.equal(line.source, 'stderr')
      t.notOk((await logs(id, '?limit=1000')).some((line) => line.message.includes(canary)))
      t.notOk(received.some((body) => body.includes(canary)), 'no response carried the secret')
      await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: false })
    })

    t.test('logs: sources, level, since, limit, and follow over a real socket', async (t) => {
      const { id } = await create(fixture('chatty'))
      const pid = (await start(id)).pid
      const all = await until('the startup lines', async () => {
        const lines = await logs(id)
        return lines.some((line) => line.source === 'stderr' && line.message.startsWith(`fixture started pid ${pid}`)) && lines
      })
      t.match(all.find((line) => line.message === `started pid ${pid}`), { source: 'supervisor', level: 'info' })
      t.match(all.find((line) => line.message.startsWith('running: 6 tools')), { source: 'supervisor', level: 'info' })
      t.ok(all.every((line) => !Number.isNaN(Date.parse(line.time))))
      t.same(all.map((line) => line.time), all.map((line) => line.time).sort(), 'oldest first')

      const client = app.supervisor.get(id)!.client!
      await client.callTool({ name: 'log', arguments: { level: 'warning', message: 'disk almost full' } })
      await client.callTool({ name: 'log', arguments: { level: 'error', message: 'disk full' } })
      const warnings = await until('the MCP log lines', async () => {
        const lines = await logs(id, '?level=warning')
        return lines.length >= 2 && lines
      })
      t.same(warnings.map((line) => [line.level, line.source, line.message]), [['warning', 'mcp', 'disk almost full'], ['error', 'mcp', 'disk full']])
      t.same((await logs(id, '?level=error')).map((line) => line.message), ['disk full'])

      const everything = await logs(id)
      const newest = await logs(id, '?limit=1')
      t.equal(newest.length, 1)
      t.same(newest[0], everything.at(-1), 'limit=1 is the newest line')
      t.same(await logs(id, '?limit=2'), everything.slice(-2))

      const mark = everything.at(-1)!.time
      await sleep(5)
      await client.callTool({ name: 'log', arguments: { level: 'info', message: 'after the mark' } })
      const later = await until('the line after the mark', async () => {
        const lines = await logs(id, `?since=${encodeURIComponent(mark)}`)
        return lines.length > 0 && lines
      })
      t.same(later.map((line) => line.message), ['after the mark'], 'since excludes what came before')
      t.ok(later.every((line) => line.time > mark))

      for (const query of ['?level=verbose', '?limit=0', '?limit=1001', '?since=yesterday', '?tail=5']) {
        const res = await call(app, admin, 'GET', `/api/servers/${id}/logs${query}`)
        t.equal(res.status, 422, query)
        t.equal(res.body.error.details.field, query.slice(1).split('=')[0])
      }

      const port = await listening()
      // Whatever happens, no connection of this test may hold the hub's close up (keep-alive).
      t.teardown(() => app.server.closeAllConnections())
      const follow = (query: string) => {
        const controller = new AbortController()
        const lines: LogLine[] = []
        const opened = fetch(`http://127.0.0.1:${port}/api/servers/${id}/logs?follow=true${query}`, { headers: admin.headers, signal: controller.signal })
        const done = opened.then(async (res) => {
          const reader = res.body!.getReader()
          const decoder = new TextDecoder()
          let rest = ''
          for (;;) {
            const { done, value } = await reader.read()
            if (done) return
            rest += decoder.decode(value, { stream: true })
            const parts = rest.split('\n')
            rest = parts.pop()!
            for (const part of parts) {
              received.push(part)
              lines.push(JSON.parse(part) as LogLine)
            }
          }
        }).catch((error: unknown) => {
          if (!controller.signal.aborted) throw error
        })
        t.teardown(() => controller.abort())
        return { opened, lines, done, abort: () => controller.abort() }
      }
      const live = follow('')
      const warned = follow('&level=warning')
      const quiet = follow(`&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)
      const res = await within('follow response', live.opened)
      t.equal(res.status, 200)
      t.match(res.headers.get('content-type'), /^application\/x-ndjson/)
      t.equal((await within('response to a follow with nothing to send yet', quiet.opened)).status, 200, 'headers come at once, even with no line to send')
      await until('the recent lines', () => live.lines.some((line) => line.message === `started pid ${pid}`))
      await until('the recent warnings', () => warned.lines.length >= 2)

      const restarted = await call(app, admin, 'POST', `/api/servers/${id}/restart`)
      const pid2 = restarted.body.data.pid as number
      t.not(pid2, pid)
      await until('the restart, live', () => live.lines.some((line) => line.message.startsWith('running: 6 tools')) && live.lines.some((line) => line.message === `started pid ${pid2}`))
      t.ok(live.lines.some((line) => line.message === 'stopped'), 'the stop came through too')
      t.equal(live.lines.filter((line) => line.message === `started pid ${pid}`).length, 1, 'nothing repeated')

      await app.supervisor.get(id)!.client!.callTool({ name: 'log', arguments: { level: 'critical', message: 'live warning' } })
      await until('the live warning', () => warned.lines.some((line) => line.message === 'live warning'))
      t.ok(warned.lines.every((line) => ['warning', 'error', 'critical'].includes(line.level)), 'the level applies to live lines')
      t.ok(warned.lines.length >= 3)

      t.ok(quiet.lines.some((line) => line.message === 'live warning'), 'lines newer than the backlog filter still stream')
      for (const stream of [live, warned, quiet]) {
        stream.abort()
        await within('the end of a stream', stream.done)
      }
      await call(app, admin, 'POST', `/api/servers/${id}/stop`, { graceful: false })
    })

    t.test('logs of a stored server the supervisor has not loaded (disabled, after a hub restart)', async (t) => {
      // On start the hub loads only enabled servers; a disabled one exists only in the database.
      const [row] = await app.db.insert(servers).values({ name: 'dormant', key: 'dormant', command: process.execPath, args: [FIXTURE], enabled: false }).returning()
      t.equal(app.supervisor.get(row!.id), undefined)
      t.same(await logs(row!.id), [])
      t.equal((await call(app, admin, 'GET', `/api/servers/${row!.id}`)).body.data.status, 'stopped')
      const port = await listening()
      t.teardown(() => app.server.closeAllConnections())
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const res = await within('follow response', fetch(`http://127.0.0.1:${port}/api/servers/${row!.id}/logs?follow=true`, { headers: admin.headers, signal: controller.signal }))
      t.equal(res.status, 200, 'it can be followed like any other')
      controller.abort()
      await res.body?.cancel().catch(() => {})
    })

    t.test('access: groups decide; invisible servers are 404', async (t) => {
      const { id } = await create(fixture('guarded'))
      const url = `/api/servers/${id}`
      const readers = await newGroup({ name: 'srv-readers', permissions: { servers: ['read'], tools: [] } })
      const writers = await newGroup({ name: 'srv-writers', permissions: { servers: ['read', 'write'], tools: [] } })
      const runners = await newGroup({ name: 'srv-runners', permissions: { servers: ['read', 'execute'], tools: [] } })
      const reader = await createUser(app, admin)
      const writer = await createUser(app, admin)
      const runner = await createUser(app, admin)
      const outsider = await createUser(app, admin)
      for (const [group, user] of [[readers, reader], [writers, writer], [runners, runner]] as const) {
        t.equal((await call(app, admin, 'POST', `/api/groups/${group.id}/servers`, { serverId: id, permissions: ['read', 'write', 'execute'] })).status, 201)
        t.equal((await call(app, admin, 'POST', `/api/groups/${group.id}/members`, { userId: user.userId })).status, 201)
      }

      t.equal((await call(app, reader, 'GET', url)).body.data.name, 'guarded')
      const visible = await call(app, reader, 'GET', '/api/servers')
      t.same(visible.body.data.items.map((s: { id: string }) => s.id), [id], 'exactly what the reader may read')
      t.equal(visible.body.data.pagination.total, 1)
      t.equal((await call(app, reader, 'GET', `${url}/logs`)).status, 200)
      for (const [method, path, body] of [
        ['POST', '/start', undefined], ['POST', '/stop', { graceful: false }], ['POST', '/restart', undefined],
        ['PUT', '', { description: 'mine now' }], ['DELETE', '', undefined]
      ] as Array<[string, string, object | undefined]>) {
        const res = await call(app, reader, method, url + path, body)
        t.equal(res.status, 403, `reader: ${method} ${path}`)
        t.equal(res.body.error.code, 'AUTHORIZATION_FAILED')
      }
      t.match((await call(app, admin, 'GET', url)).body.data, { status: 'stopped', description: null }, 'nothing happened')

      for (const [method, path, body] of [
        ['GET', '', undefined], ['PUT', '', { description: 'x' }], ['DELETE', '', undefined], ['POST', '/start', undefined],
        ['POST', '/stop', {}], ['POST', '/restart', undefined], ['GET', '/logs', undefined], ['GET', '/logs?follow=true', undefined]
      ] as Array<[string, string, object | undefined]>) {
        const res = await call(app, outsider, method, url + path, body)
        t.equal(res.status, 404, `outsider: ${method} ${path}`)
        t.equal(res.body.error.code, 'RESOURCE_NOT_FOUND')
      }
      const none = await call(app, outsider, 'GET', '/api/servers')
      t.same(none.body.data.items, [])
      t.equal(none.body.data.pagination.total, 0)

      const edited = await call(app, writer, 'PUT', url, { description: 'by a writer', tags: ['shared'] })
      t.equal(edited.status, 200)
      t.match(edited.body.data, { description: 'by a writer', tags: ['shared'] })
      for (const change of [{ command: '/bin/true' }, { args: [] }, { env: { FIXTURE_MODE: 'exit' } }, { cwd: tmpdir() }, { description: 'sneaky', command: '/bin/true' }]) {
        t.equal((await call(app, writer, 'PUT', url, change)).status, 403, `writer: ${JSON.stringify(change)}`)
      }
      t.equal((await call(app, writer, 'POST', `${url}/start`)).status, 403, 'write is not execute')
      t.match((await call(app, admin, 'GET', url)).body.data, { command: process.execPath, description: 'by a writer', env: { FIXTURE_MODE: MASK } })

      const run = await call(app, runner, 'POST', `${url}/start`)
      t.equal(run.status, 200)
      t.equal(run.body.data.status, 'running')
      t.equal((await call(app, runner, 'POST', `${url}/stop`, { graceful: false })).body.data.status, 'stopped')
      t.equal((await call(app, runner, 'PUT', url, { description: 'x' })).status, 403, 'execute is not write')

      for (const who of [reader, writer, runner]) {
        t.equal((await call(app, who, 'POST', '/api/servers', fixture('by-a-user'))).status, 403)
        t.equal((await call(app, who, 'POST', '/api/servers/import', { mcpServers: {} })).status, 403)
        t.equal((await call(app, who, 'GET', '/api/servers/export')).status, 403)
      }
      t.equal((await call(app, undefined, 'GET', url)).status, 401)
      t.equal(await total('&search=by-a-user'), 0)
    })

    t.test('import: "enabled": false is honoured like "disabled": true; remote entries are imported, other types skipped and listed', async (t) => {
      const entry = { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' } }
      const res = await call(app, admin, 'POST', '/api/servers/import', {
        mcpServers: {
          'off-a': { ...entry, enabled: false },
          'off-b': { ...entry, disabled: true, enabled: true },
          'remote-a': { url: 'https://mcp.example.com/mcp', disabled: true },
          'remote-b': { type: 'sse', url: 'https://mcp.example.com/sse', disabled: true },
          socket: { type: 'ws', url: 'wss://mcp.example.com/ws' },
          'slow-a': { ...entry, disabled: true, startTimeout: 90_000 }
        }
      })
      t.equal(res.status, 200)
      t.same(res.body.data.created, ['off-a', 'off-b', 'remote-a', 'remote-b', 'slow-a'])
      t.same(res.body.data.unsupported, [{ name: 'socket', reason: 'type "ws": the hub supports stdio, streamable-http (http) and sse' }])
      const listed = (await call(app, admin, 'GET', '/api/servers?search=off-')).body.data.items as Array<{ name: string, enabled: boolean, status: string }>
      t.same(listed.map((server) => [server.name, server.enabled, server.status]), [['off-a', false, 'stopped'], ['off-b', false, 'stopped']], 'imported, not started')
      t.equal(await total('&search=remote-'), 2, 'remote entries are imported')
      t.equal(await total('&search=socket'), 0, 'nothing created for an unsupported type')
      const exported = (await call(app, admin, 'GET', '/api/servers/export')).body.data.mcpServers
      t.equal(exported['slow-a'].startTimeout, 90_000, 'a server\'s own start timeout is exported')
      t.notOk('startTimeout' in exported['off-a'], 'the default is not')
      for (const name of ['off-a', 'off-b', 'remote-a', 'remote-b', 'slow-a']) {
        const id = (await call(app, admin, 'GET', `/api/servers?search=${name}`)).body.data.items[0].id as string
        await call(app, admin, 'DELETE', `/api/servers/${id}`)
      }
    })

    t.test('import and export', async (t) => {
      const entry = { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, disabled: true }
      const first = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: { 'imp-a': entry, 'imp-b': { ...entry, description: 'second' } } })
      t.equal(first.status, 200)
      t.same(first.body.data, { created: ['imp-a', 'imp-b'], skipped: [], unsupported: [] })
      const again = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: { 'imp-a': entry, 'imp-b': entry } })
      t.same(again.body.data.created, [])
      t.same([...again.body.data.skipped].sort(), ['imp-a', 'imp-b'])
      t.equal(await total('&search=imp-'), 2)

      const before = await total()
      for (const [document, field] of [
        [{ 'imp-c': entry, 'imp-d': { ...entry, env: { NODE_OPTIONS: '--require /tmp/x.js' } } }, 'mcpServers.imp-d.env.NODE_OPTIONS'],
        [{ 'imp-c': entry, 'imp-d': { ...entry, command: 'npx -y foo' } }, 'mcpServers.imp-d.command'],
        [{ 'imp-c': entry, 'imp-d': { ...entry, cwd: 'relative' } }, 'mcpServers.imp-d.cwd'],
        [{ 'imp-c': entry, 'imp-d': { ...entry, env: { 'LD_PRELOAD=': 'x' } } }, 'mcpServers.imp-d.env.LD_PRELOAD='],
        [{ 'imp-c': entry, ['imp-' + 'x'.repeat(100)]: entry }, `mcpServers.imp-${'x'.repeat(100)}`],
        [{ 'imp-c': entry, '': entry }, 'mcpServers.'],
        [{ 'imp-c': entry, 'imp-d': { args: [] } }, 'mcpServers.imp-d.command']
      ] as Array<[object, string]>) {
        const res = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: document })
        t.equal(res.status, 422, field)
        t.equal(res.body.error.details?.field, field)
      }
      t.equal(await total(), before, 'an invalid document creates nothing')
      t.equal(await total('&search=imp-c'), 0)

      const live = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: { 'imp-live': { command: process.execPath, args: [FIXTURE] } } })
      t.same(live.body.data, { created: ['imp-live'], skipped: [], unsupported: [] })
      const liveId = (await call(app, admin, 'GET', '/api/servers?search=imp-live')).body.data.items[0].id as string
      const running = await until('imp-live to run', async () => {
        const res = await call(app, admin, 'GET', `/api/servers/${liveId}`)
        return res.body.data.status === 'running' && res.body.data
      })
      t.equal(running.enabled, true, 'entries without disabled are enabled and start at once')

      const exported = await call(app, admin, 'GET', '/api/servers/export')
      t.equal(exported.status, 200)
      const document = exported.body.data.mcpServers
      t.same(document['imp-a'], { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: MASK }, disabled: true })
      t.same(document['imp-b'], { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: MASK }, disabled: true, description: 'second' })
      t.same(document['imp-live'], { command: process.execPath, args: [FIXTURE], env: {} })
      t.ok(Object.values(document).every((server) => Object.values((server as { env: Record<string, string> }).env).every((value) => value === MASK)), 'every env value is masked')
      t.equal(Object.keys(document).length, await total())
      await call(app, admin, 'POST', `/api/servers/${liveId}/stop`, { graceful: false })
    })
  })

  t.test(`${driver}: closing the hub ends every child and grandchild`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)
    const dir = mkdtempSync(join(tmpdir(), 'mcphub-servers-test-'))
    const pidFile = join(dir, 'grandchild.pid')
    const pids: number[] = []
    t.teardown(() => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true })
    })
    const created = await call(app, admin, 'POST', '/api/servers', fixture('family', { FIXTURE_MODE: 'grandchild', FIXTURE_PID_FILE: pidFile }))
    const started = await call(app, admin, 'POST', `/api/servers/${created.body.data.id}/start`)
    t.equal(started.body.data.status, 'running')
    const child = started.body.data.pid as number
    pids.push(child)
    const text = await until('the grandchild pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n') && readFileSync(pidFile, 'utf8'))
    const grandchild = Number(text.trim())
    pids.push(grandchild)
    t.ok(grandchild > 0)
    t.not(grandchild, child)
    t.notOk(exited(child), 'the child runs')
    t.notOk(exited(grandchild), 'the grandchild runs')

    await app.close()
    await until('the child to go', () => reaped(child), 3000)
    await until('the grandchild to go', () => exited(grandchild), 3000)
    t.pass('no process outlives the hub')
  })
}
