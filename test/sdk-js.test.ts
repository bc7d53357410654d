import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { totpCode, totpStep } from '../lib/totp.ts'
import { rememberSecret } from './helper.ts'
import { startLiveHub } from './helpers/live-hub.ts'
import { startProcess } from './helpers/processes.ts'

// The JavaScript SDK as a user gets it: `npm pack` of sdk/js, installed from the tarball into a
// project of its own, imported from there, and used against a real hub over a socket.

type Sdk = typeof import('../sdk/js/src/index.ts')

const SDK_DIR = new URL('../sdk/js/', import.meta.url).pathname
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const NPM_ENV = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }

/** Runs a command to its end; fails with its output when it fails. */
async function run (command: string, args: string[], cwd: string): Promise<string> {
  const tracked = startProcess(t, command, args, { cwd, env: NPM_ENV })
  const { code } = await tracked.exit
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${tracked.stdout()}\n${tracked.stderr()}`)
  return tracked.stdout()
}

/** Packs the SDK and installs the tarball into a fresh project: that project's directory. */
async function installSdk (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcphub-sdk-js-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const packs = join(dir, 'packs')
  await mkdir(packs)
  await run('npm', ['pack', '--pack-destination', packs, '--silent'], SDK_DIR)
  const [tarball] = (await readdir(packs)).filter((name) => name.endsWith('.tgz'))
  if (tarball === undefined) throw new Error('npm pack wrote no tarball')
  const project = join(dir, 'project')
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(packs, tarball)], project)
  return project
}

const project = await installSdk()
const installed = join(project, 'node_modules/@mcphub/sdk')
const sdk = await import(pathToFileURL(join(installed, 'dist/index.js')).href) as Sdk
const { MCPHubClient, MCPHubError, API_VERSION } = sdk
const documentVersion = (JSON.parse(await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8')) as { info: { version: string } }).info.version

/** Items that arrive over time, and a way to wait for the first that matches. */
function inbox<T> () {
  const items: T[] = []
  const waiters = new Set<() => void>()
  return {
    items,
    push (item: T) {
      items.push(item)
      for (const waiter of waiters) waiter()
    },
    next (match: (item: T) => boolean, from = 0): Promise<T> {
      return new Promise((resolve) => {
        const check = () => {
          const found = items.slice(from).find(match)
          if (found === undefined) return
          waiters.delete(check)
          resolve(found)
        }
        waiters.add(check)
        check()
      })
    }
  }
}

/** The MCPHubError `call` fails with. */
async function failure (call: () => Promise<unknown>): Promise<InstanceType<Sdk['MCPHubError']>> {
  try {
    await call()
  } catch (error) {
    if (error instanceof MCPHubError) return error
    throw error
  }
  throw new Error('the call succeeded')
}

t.test('the package: installed from its tarball, versioned with the API, typed', async (t) => {
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
  t.equal(manifest.version, documentVersion, 'the package is versioned with the API')
  t.equal(API_VERSION, documentVersion, 'API_VERSION too')
  t.same(Object.keys(manifest.dependencies ?? {}), [], 'no dependencies')
  t.notOk((await readdir(installed)).includes('src'), 'only dist and the README are shipped')

  // A consumer that compiles against the installed declarations: the types resolve, and are not `any`.
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true },
    files: ['consumer.ts']
  }))
  await writeFile(join(project, 'consumer.ts'), `
import { API_VERSION, MCPHubClient, MCPHubError, type LogLine, type Server } from '@mcphub/sdk'

const client = new MCPHubClient({ baseURL: 'http://localhost:3000', token: 'a token' }, { timeout: 5000, WebSocket })
new MCPHubClient({ baseURL: 'http://localhost:3000', apiKey: 'mcphub_key' })
new MCPHubClient({ baseURL: 'http://localhost:3000', username: 'ada', password: 'secret', mfaCode: '123456' }, { refreshMargin: 30_000 })
new MCPHubClient({ baseURL: 'http://localhost:3000', token: 'a token', refresh: async () => ({ token: 'the next token', expiresIn: 900 }) })
// @ts-expect-error a refresh function answers the token and its lifetime
new MCPHubClient({ baseURL: 'http://localhost:3000', token: 'a token', refresh: async () => 'the next token' })
const version: string = API_VERSION

const { items, pagination } = await client.servers.list({ limit: 20, 'filter[name]': 'files', status: 'running' })
const hasNext: boolean = pagination.hasNext
const first: Server | undefined = items[0]
if (first !== undefined) {
  const name: string = first.name
  // @ts-expect-error a server's name is a string, not a number
  const wrong: number = first.name
  const status: 'stopped' | 'starting' | 'running' | 'stopping' | 'backoff' | 'error' = first.status
}
const created: Server = await client.servers.create({ name: 'files', command: 'npx', args: ['-y', 'server'] })
const remote: Server = await client.servers.create({ name: 'issues', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer a token' } })
const command: string | null = remote.command
// @ts-expect-error a server's type is stdio, streamable-http or sse
await client.servers.create({ name: 'socket', type: 'ws', url: 'wss://mcp.example.com/ws' })
// @ts-expect-error list takes no such status
await client.servers.list({ status: 'sleeping' })
for await (const server of client.servers.iterate({ limit: 50 })) {
  const id: string = server.id
}
for await (const line of client.servers.followLogs(created.id, { level: 'info', signal: AbortSignal.timeout(1000) })) {
  const entry: LogLine = line
}
const nothing: void = await client.servers.delete(created.id)
const metrics: string = await client.monitoring.prometheus()
const { config, etag } = await client.config.getWithETag()
await client.config.update({ alerts: config.alerts }, { ifMatch: etag })
const stop = client.events.subscribe('server-status', { filters: { serverId: created.id } }, (data, event) => {
  const to: Server['status'] = data.to
  const seq: number = event.seq
})
stop()
try {
  await client.users.list()
} catch (error) {
  if (error instanceof MCPHubError) {
    const code: 'RESOURCE_NOT_FOUND' | 'NETWORK_ERROR' | string = error.code
    const retryAfter: number | undefined = error.retryAfter
  }
}
`)
  await t.resolves(run(process.execPath, [TSC, '-p', join(project, 'tsconfig.json')], project), 'tsc accepts the consumer, type errors where expected')
})

t.test('a user of the SDK against a live hub', async (t) => {
  const hub = await startLiveHub(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 10_000, stdinGraceMs: 300, stopTimeoutMs: 2000 } })
  const { baseUrl: baseURL } = hub
  const admin = new MCPHubClient({ baseURL, ...hub.admin })

  // A user who signs in with MFA.
  const username = 'ops'
  const password = `password-${randomUUID()}`
  rememberSecret(password)
  await admin.users.create({ username, password, role: 'admin' })
  const enrolling = new MCPHubClient({ baseURL, username, password })
  const { secret } = await enrolling.auth.enrollMfa()
  const step = totpStep(Date.now())
  t.equal((await enrolling.auth.confirmMfa({ code: totpCode(secret, step) })).enabled, true, 'MFA enrolled')
  const withoutCode = await failure(() => new MCPHubClient({ baseURL, username, password }).auth.verify())
  t.equal(withoutCode.code, 'AUTHENTICATION_FAILED', 'without a code, no sign-in')
  const client = new MCPHubClient({ baseURL, username, password, mfaCode: totpCode(secret, step + 1) }, { reconnect: { initialDelay: 50, maxDelay: 500 } })
  t.equal((await client.auth.verify()).user.username, username, 'signed in with username, password and MFA code, on first use')

  // Live events, subscribed before the server exists: every state change of the hub's servers.
  const events = inbox<{ serverId: string, to: string, seq: number }>()
  const subscribed = inbox<true>()
  const unsubscribe = client.events.subscribe('server-status', { onSubscribed: () => subscribed.push(true) }, (data, event) => events.push({ serverId: data.serverId, to: data.to, seq: event.seq }))
  t.teardown(unsubscribe)
  await subscribed.next(() => true)

  // Create, start, follow the logs, stop: a real MCP server.
  const server = await client.servers.create({ name: 'fixture', command: hub.fixture.command, args: hub.fixture.args, enabled: false })
  t.equal(server.status, 'stopped', 'created, not started')
  await client.servers.start(server.id)
  await events.next((e) => e.serverId === server.id && e.to === 'running')
  t.pass('a server-status event says it runs')
  t.equal((await client.servers.get(server.id)).status, 'running', 'and so does the API')

  const following = new AbortController()
  const lines: string[] = []
  for await (const line of client.servers.followLogs(server.id, { signal: following.signal })) {
    lines.push(line.message)
    following.abort()
  }
  t.equal(lines.length, 1, `followed its logs: "${lines[0]}", then aborted: the loop ends`)

  const stopped = await client.servers.stop(server.id)
  t.equal(stopped.status, 'stopped', 'stopped')
  await events.next((e) => e.serverId === server.id && e.to === 'stopped')
  t.pass('a server-status event says it stopped')

  const conflict = await failure(() => client.servers.create({ name: 'fixture', command: hub.fixture.command }))
  t.match(conflict, { code: 'RESOURCE_CONFLICT', status: 409 }, 'a second server of that name: 409')
  const invalid = await failure(() => client.servers.create({ name: '', command: 'x' }))
  t.match(invalid, { code: 'VALIDATION_ERROR', status: 422 }, 'an empty name: 422')
  t.ok(invalid.details !== undefined, 'with details')
  const missing = await failure(() => client.servers.get(randomUUID()))
  t.match(missing, { code: 'RESOURCE_NOT_FOUND', status: 404, message: /./ }, 'an unknown server: 404')

  // 150 servers, listed one page at a time and iterated across all pages.
  const mcpServers = Object.fromEntries(Array.from({ length: 150 }, (_, n) => [`bulk-${n}`, { command: hub.fixture.command, args: hub.fixture.args, disabled: true }]))
  t.equal((await client.servers.import({ mcpServers })).created.length, 150, '150 servers imported')
  const page = await client.servers.list({ search: 'bulk-', limit: 20 })
  t.match(page.pagination, { page: 1, limit: 20, total: 150, pages: 8, hasNext: true }, 'list answers one page and its pagination')
  t.equal(page.items.length, 20)
  const pagesSeen: number[] = []
  const countingFetch: typeof fetch = (input, init) => {
    const page = new URL(String(input)).searchParams.get('page')
    if (page !== null) pagesSeen.push(Number(page))
    return fetch(input, init)
  }
  const iterated: string[] = []
  const paging = new MCPHubClient({ baseURL, ...hub.admin }, { fetch: countingFetch })
  for await (const item of paging.servers.iterate({ search: 'bulk-', limit: 20 })) iterated.push(item.id)
  t.equal(iterated.length, 150, 'iterate yields every item across the pages')
  t.equal(new Set(iterated).size, 150, 'each once')
  t.same(pagesSeen, [1, 2, 3, 4, 5, 6, 7, 8], 'in 8 pages of 20')

  // An API key, used by a second client.
  const { key } = await client.auth.createApiKey({ name: 'sdk test' })
  rememberSecret(key)
  const keyClient = new MCPHubClient({ baseURL, apiKey: key })
  t.equal((await keyClient.servers.list({ limit: 1 })).pagination.total, 151, 'a client with the API key lists the servers')

  // Monitoring.
  const status = await client.monitoring.status()
  t.ok(typeof status === 'object' && status !== null, 'monitoring status')
  const metrics = await client.monitoring.metrics({ timeRange: '1h', metrics: ['requests', 'cpu'] })
  t.equal(metrics.timeRange, '1h', 'metrics of the last hour')
  t.ok(Array.isArray(metrics.series), 'as series')
  t.match(await client.monitoring.prometheus(), /# (HELP|TYPE) /, 'Prometheus text')
  const hubLog: string[] = []
  for await (const entry of client.monitoring.iterateLogs({ limit: 5 })) {
    hubLog.push(entry.id)
    if (hubLog.length === 12) break
  }
  t.equal(hubLog.length, 12, 'the hub log, iterated by cursor across pages of 5')
  t.equal(new Set(hubLog).size, 12, 'each entry once')

  // Config, changed with If-Match.
  const { config, etag } = await client.config.getWithETag()
  t.match(etag, /^"\d+"$/, `the settings' version: ${etag}`)
  const repeatIntervalMinutes = config.alerts.repeatIntervalMinutes + 1
  const updated = await client.config.update({ alerts: { ...config.alerts, repeatIntervalMinutes } }, { ifMatch: etag })
  t.equal(updated.alerts.repeatIntervalMinutes, repeatIntervalMinutes, 'updated with If-Match')
  t.equal((await client.config.get()).alerts.repeatIntervalMinutes, repeatIntervalMinutes, 'and it stays')
  const stale = await failure(() => client.config.update({ alerts: config.alerts }, { ifMatch: etag }))
  t.match(stale, { code: 'RESOURCE_CONFLICT', status: 409 }, 'the same version again: 409')

  // 401 and 403.
  const badPassword = await failure(() => new MCPHubClient({ baseURL, username, password: 'wrong password' }).servers.list())
  t.match(badPassword, { code: 'AUTHENTICATION_FAILED', status: 401 }, 'a wrong password: 401')
  t.notOk(badPassword.message.includes('wrong password'), 'the message does not repeat the password')
  const plainPassword = `password-${randomUUID()}`
  rememberSecret(plainPassword)
  await admin.users.create({ username: 'plain', password: plainPassword, role: 'user' })
  const plain = new MCPHubClient({ baseURL, username: 'plain', password: plainPassword })
  t.match(await failure(() => plain.users.list()), { code: 'AUTHORIZATION_FAILED', status: 403 }, 'a plain user listing users: 403')

  // The connection dropped: the subscription reconnects and resumes after the last event it had.
  t.test('events resume after a dropped connection', async (t) => {
    const sockets: { ws: WebSocket, sent: string[] }[] = []
    const RecordingWebSocket = class extends WebSocket {
      constructor (url: string) {
        super(url)
        const entry = { ws: this as WebSocket, sent: [] as string[] }
        sockets.push(entry)
        const send = this.send.bind(this)
        this.send = (data: string) => {
          entry.sent.push(data)
          send(data)
        }
      }
    }
    const resumed = new MCPHubClient({ baseURL, apiKey: key }, { WebSocket: RecordingWebSocket, reconnect: { initialDelay: 20, maxDelay: 200 } })
    const seen = inbox<{ to: string, seq: number }>()
    const live = inbox<true>()
    const stop = resumed.events.subscribe('server-status', { filters: { serverId: server.id }, onSubscribed: () => live.push(true) }, (data, event) => seen.push({ to: data.to, seq: event.seq }))
    t.teardown(stop)
    await live.next(() => true)
    await client.servers.start(server.id)
    const running = await seen.next((e) => e.to === 'running')
    sockets[0]!.ws.close()
    await client.servers.stop(server.id)
    await live.next(() => true, 1)
    await seen.next((e) => e.to === 'stopped')
    t.equal(sockets.length, 2, 'reconnected once')
    const resubscribe = JSON.parse(sockets[1]!.sent.find((message) => message.includes('subscribe'))!)
    t.ok(resubscribe.since >= running.seq, `resubscribed with since = ${resubscribe.since}`)
    const seqs = seen.items.map((e) => e.seq)
    t.same(seqs, [...new Set(seqs)].sort((a, b) => a - b), `no event twice, in order: ${seqs.join(', ')}`)
    t.same(seen.items.map((e) => e.to), ['starting', 'running', 'stopping', 'stopped'], 'no event missed')
  })
})

t.test('token refresh: concurrent calls share one refresh', async (t) => {
  const hub = await startLiveHub(t)
  const calls = { login: 0, refresh: 0 }
  const countingFetch: typeof fetch = (input, init) => {
    const path = new URL(String(input)).pathname
    if (path === '/api/auth/login') calls.login++
    if (path === '/api/auth/refresh') calls.refresh++
    return fetch(input, init)
  }
  // A margin longer than the token lives (15 min): every use finds it about to expire.
  const client = new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }, { fetch: countingFetch, refreshMargin: 16 * 60_000 })
  const first = await Promise.all(Array.from({ length: 5 }, () => client.servers.list()))
  t.equal(first.length, 5, 'five concurrent first calls')
  t.same(calls, { login: 1, refresh: 0 }, 'signed in once for all of them')
  const second = await Promise.all(Array.from({ length: 5 }, () => client.auth.verify()))
  t.ok(second.every((v) => v.user.username === hub.admin.username), 'five concurrent calls with a token to refresh all succeed')
  t.same(calls, { login: 1, refresh: 1 }, 'with one refresh (a refresh token spent twice would end the session)')
  await Promise.all(Array.from({ length: 5 }, () => client.auth.verify()))
  t.same(calls, { login: 1, refresh: 2 }, 'and once more: the rotated refresh token works')

  // A token the hub refuses (401): refreshed once, and the call retried.
  const pair = await new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }).auth.login()
  rememberSecret(pair.refreshToken)
  const given = new MCPHubClient({ baseURL: hub.baseUrl, token: 'not-a-valid-token', refreshToken: pair.refreshToken }, { fetch: countingFetch })
  t.equal((await given.auth.verify()).user.username, hub.admin.username, 'a refused token is refreshed after the 401, and the call succeeds')
  t.same(calls, { login: 1, refresh: 3 }, 'by one refresh')
  const noRefresh = await failure(() => new MCPHubClient({ baseURL: hub.baseUrl, token: 'not-a-valid-token' }).auth.verify())
  t.match(noRefresh, { code: 'AUTHENTICATION_FAILED', status: 401 }, 'without a refresh token, the 401 is the answer')

  // The hub ends a live-events socket whose session ended (4401): the client signs in again and resubscribes.
  const sockets: { sent: string[], closeCode?: number }[] = []
  const RecordingWebSocket = class extends WebSocket {
    constructor (url: string) {
      super(url)
      const entry: (typeof sockets)[number] = { sent: [] }
      sockets.push(entry)
      this.addEventListener('close', (event) => { entry.closeCode = event.code })
      const send = this.send.bind(this)
      this.send = (data: string) => {
        entry.sent.push(data)
        send(data)
      }
    }
  }
  const watcher = new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }, { WebSocket: RecordingWebSocket, reconnect: { initialDelay: 20, maxDelay: 200 } })
  const live = inbox<true>()
  const stop = watcher.events.subscribe('user-activity', { onSubscribed: () => live.push(true) }, () => {})
  t.teardown(stop)
  await live.next(() => true)
  await watcher.auth.logout()
  await live.next(() => true, 1)
  t.equal(sockets[0]!.closeCode, 4401, 'signed out: the hub closed the socket with 4401')
  const tokenOf = (socket: (typeof sockets)[number]) => JSON.parse(socket.sent[0]!).token as string
  t.ok(sockets.length === 2 && tokenOf(sockets[1]!) !== tokenOf(sockets[0]!), 'the client came back with a fresh token, and resubscribed')
})

t.test('token refresh by a function: a browser renews its token by its session cookie', async (t) => {
  const hub = await startLiveHub(t)
  // What the dashboard does: sign in through the browser session, keep the cookies as a browser
  // would, and give the client a function that renews the token by them.
  const jar = new Map<string, string>()
  const keepCookies = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0]!
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]
      if (name === 'mcphub_refresh') rememberSecret(value)
      jar.set(name, value)
    }
  }
  const opened = await fetch(`${hub.baseUrl}/api/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hub.admin) })
  keepCookies(opened)
  const { token } = (await opened.json() as { data: { token: string } }).data
  rememberSecret(token)
  let renewals = 0
  const refresh = async () => {
    renewals++
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ')
    const res = await fetch(`${hub.baseUrl}/api/auth/session/refresh`, { method: 'POST', headers: { cookie, 'x-csrf-token': jar.get('mcphub_csrf')! } })
    if (!res.ok) throw new Error(`refresh failed: ${res.status}`)
    keepCookies(res)
    const { data } = await res.json() as { data: { token: string, expiresIn: number } }
    rememberSecret(data.token)
    return { token: data.token, expiresIn: data.expiresIn }
  }

  const client = new MCPHubClient({ baseURL: hub.baseUrl, token, refresh })
  t.equal((await client.auth.verify()).user.username, hub.admin.username, 'the given token is used as it is')
  t.equal(renewals, 0, 'with no renewal')

  // Refused tokens (401): renewed once by the function for all the calls, which are retried.
  const renewing = new MCPHubClient({ baseURL: hub.baseUrl, token: 'not-a-valid-token', refresh })
  const retried = await Promise.all(Array.from({ length: 5 }, () => renewing.auth.verify()))
  t.ok(retried.every((v) => v.user.username === hub.admin.username), 'five concurrent calls with a refused token are retried and succeed')
  t.equal(renewals, 1, 'after one renewal (the hub ends a session whose refresh cookie is spent twice)')

  // A margin longer than the token lives (15 min): every use finds the renewed token about to expire.
  const eager = new MCPHubClient({ baseURL: hub.baseUrl, token: 'not-a-valid-token', refresh }, { refreshMargin: 16 * 60_000 })
  await eager.auth.verify()
  const before = renewals
  const concurrent = await Promise.all(Array.from({ length: 5 }, () => eager.auth.verify()))
  t.ok(concurrent.every((v) => v.user.username === hub.admin.username), 'five concurrent calls with a token about to expire all succeed')
  t.equal(renewals, before + 1, 'renewed before expiry, once for all of them')
  await eager.servers.list()
  t.equal(renewals, before + 2, 'and once more: the rotated cookie works')
  await t.rejects(eager.auth.refresh(), TypeError, 'auth.refresh() has no refresh token to spend')

  const failing = new MCPHubClient({ baseURL: hub.baseUrl, token: 'not-a-valid-token', refresh: async () => { throw new Error('the session cookie is gone') } })
  await t.rejects(failing.auth.verify(), { message: 'the session cookie is gone' }, 'a failing renewal is the call\'s answer')
})

t.test('429 and network errors', async (t) => {
  const hub = await startLiveHub(t, 'pglite', { config: { rateLimits: { anonymous: 0, user: 0, admin: 2, mcp: 0 } } })
  const client = new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }, { retryOnRateLimit: false })
  await client.auth.verify()
  await client.auth.verify()
  const limited = await failure(() => client.auth.verify())
  t.match(limited, { code: 'RATE_LIMIT_EXCEEDED', status: 429 }, 'over the budget: 429')
  t.ok(typeof limited.retryAfter === 'number' && limited.retryAfter > 0, `with retryAfter ${limited.retryAfter} s`)
  const capped = new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }, { maxRetryAfter: 5 })
  await capped.auth.login()
  const started = Date.now()
  t.match(await failure(() => capped.auth.verify()), { code: 'RATE_LIMIT_EXCEEDED' }, 'a Retry-After longer than maxRetryAfter is not waited for')
  t.ok(Date.now() - started < 5000, 'it fails at once')

  // A 429 asking for a short wait (as a proxy in front of the hub might send): waited for, then retried.
  let limitedOnce = false
  const limitingFetch: typeof fetch = async (input, init) => {
    if (limitedOnce || !String(input).endsWith('/healthz')) return await fetch(input, init)
    limitedOnce = true
    const body = { success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests' }, timestamp: new Date().toISOString() }
    return new Response(JSON.stringify(body), { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '1' } })
  }
  const patient = new MCPHubClient({ baseURL: hub.baseUrl, ...hub.admin }, { fetch: limitingFetch })
  const before = Date.now()
  t.equal((await patient.hub.health()).status, 'ok', 'a 429 is retried')
  t.ok(limitedOnce && Date.now() - before >= 1000, `after its Retry-After (${Date.now() - before} ms)`)

  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
  const unreachable = await failure(() => new MCPHubClient({ baseURL: `http://127.0.0.1:${port}`, token: 'a token' }).servers.list())
  t.match(unreachable, { code: 'NETWORK_ERROR', status: 0 }, 'a closed port: NETWORK_ERROR')
  t.ok(unreachable.cause instanceof Error, `wrapping the cause: ${String(unreachable.cause)}`)

  // A hub behind connections that break: the next `resets` requests are answered by a reset.
  let resets = 0
  const target = new URL(hub.baseUrl)
  const sockets = new Set<Socket>()
  const breaking = createServer((socket) => {
    const upstream = connect(Number(target.port), target.hostname)
    for (const end of [socket, upstream]) {
      sockets.add(end)
      end.on('close', () => sockets.delete(end))
      end.on('error', () => { socket.destroy(); upstream.destroy() })
    }
    upstream.pipe(socket)
    socket.on('data', (chunk: Buffer) => {
      if (resets > 0 && chunk.toString('latin1').match(/^[A-Z]+ \//) !== null) {
        resets--
        socket.resetAndDestroy()
        upstream.destroy()
      } else {
        upstream.write(chunk)
      }
    })
  })
  await new Promise<void>((resolve) => breaking.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise((resolve) => breaking.close(resolve))
  })
  const viaBreaking = new MCPHubClient({ baseURL: `http://127.0.0.1:${(breaking.address() as AddressInfo).port}`, ...hub.admin })
  resets = 2
  t.equal((await viaBreaking.hub.health()).status, 'ok', 'a GET whose connection was reset twice is retried, and succeeds')
  t.equal(resets, 0, 'on its third try')
  resets = 2
  const post = await failure(() => viaBreaking.auth.login())
  t.match(post, { code: 'NETWORK_ERROR', status: 0 }, 'a POST is not retried: NETWORK_ERROR')
  t.equal(resets, 1, 'after one try')
  t.ok(post.cause instanceof Error, 'wrapping the cause')
})

/** The system's Node.js when it is version 20 (this machine's), the oldest the package supports. */
const NODE_20 = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8' }).startsWith('v20.')
  } catch {
    return false
  }
})

t.test('the installed package under Node 20: REST over fetch, events over the ws package', { skip: NODE_20 === undefined ? 'no Node.js 20 on this machine' : false }, async (t) => {
  const dist = await readdir(join(installed, 'dist'))
  for (const file of dist.filter((name) => name.endsWith('.js'))) {
    t.notMatch(await readFile(join(installed, 'dist', file), 'utf8'), /from ['"]node:|import\(['"]node:/, `${file} imports no Node.js module (it runs in browsers)`)
  }

  const hub = await startLiveHub(t)
  await writeFile(join(project, 'node20.mjs'), `
import { createRequire } from 'node:module'
import { MCPHubClient } from '@mcphub/sdk'
const WebSocket = createRequire(process.env.WS_FROM)('ws')
const client = new MCPHubClient({ baseURL: process.env.HUB_URL, username: process.env.HUB_USER, password: process.env.HUB_PASSWORD }, { WebSocket })
const running = new Promise((resolve) => {
  client.events.subscribe('server-status', { onSubscribed: resolve }, () => {})
}).then(async () => {
  const server = await client.servers.create({ name: 'node20', command: process.env.FIXTURE_COMMAND, args: JSON.parse(process.env.FIXTURE_ARGS) })
  return await new Promise((resolve) => {
    client.events.subscribe('server-status', { filters: { serverId: server.id } }, (data) => { if (data.to === 'running') resolve(data.to) })
  })
})
const { pagination } = await client.servers.list()
const health = await client.hub.health()
console.log(JSON.stringify({ node: process.version, health: health.status, total: pagination.total, event: await running }))
process.exit(0)
`)
  const script = startProcess(t, NODE_20!, ['node20.mjs'], {
    cwd: project,
    env: {
      PATH: process.env.PATH ?? '',
      HUB_URL: hub.baseUrl,
      HUB_USER: hub.admin.username,
      HUB_PASSWORD: hub.admin.password,
      FIXTURE_COMMAND: hub.fixture.command,
      FIXTURE_ARGS: JSON.stringify(hub.fixture.args),
      WS_FROM: createRequire(import.meta.url).resolve('ws')
    }
  })
  const { code } = await script.exit
  t.equal(code, 0, `the script ran to its end: ${script.stderr().slice(-2000)}`)
  const result = JSON.parse(script.stdout().trim().split('\n').at(-1) ?? '{}')
  t.match(result, { node: /^v20\./, health: 'ok', total: Number, event: 'running' }, 'signed in, listed, and heard the server start')
})
