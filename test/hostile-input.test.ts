import { randomUUID } from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import type { App } from '../app.ts'
import { ERROR_CODES, toHubError } from '../lib/errors.ts'
import { build, createUser, DRIVERS, signIn, type SignedIn } from './helper.ts'
import { until } from './helpers/wait.ts'

// Every operation of the OpenAPI document, every parameter (path, query, each body property
// down to nested ones), sent hostile values as an admin and as a plain user: no answer may be
// a 5xx, every refusal is in the contract's envelope, and a plain user's values never get past
// the access rule.

const STORAGE_REFUSAL = toHubError({ code: '22021' }).message

/** Values for the URL (path and query), already encoded. */
// Not 'true': `follow=true` is valid and streams until the client leaves.
const URL_VALUES = [
  '%00', 'a%00b', '', '1e20', '-1', '1.5', '99999999999999999999999', 'yes', 'x'.repeat(3000), '%F0%9F%92%A5%E2%80%AE',
  '%ED%A0%80', '%ZZ', "'%20or%201%3D1--", '2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '2024-02-30', '%7B%7D'
]

/** Extra query-string shapes: repeated keys, bracket forms, filters on unknown fields. */
const QUERY_SHAPES = (name: string) => [`${name}=a&${name}=b`, `${name}[]=x`, `${name}[a]=1`, `${encodeURIComponent(name)}=x%00`]
const FILTER_SHAPES = ['filter[nope]=1', 'filter=1', 'filter[]=x', 'filter[filter[name]]=x', 'filter%5Bname%5D=%00', 'filter[status]=1e20', 'filter[enabled]=%00', 'filter[parentId]=-1']

/** Values for JSON bodies. */
const JSON_VALUES: unknown[] = [
  'a\u0000b', '', 1e20, -1, 1.5, 'x'.repeat(20_000), '💥\u202e\ud800', true, null, [], ['x'], { a: 'b' }, { '\u0000': 1 },
  JSON.parse('{"__proto__":{"admin":true}}'), '2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z'
]

interface Schema {
  type?: string | string[]
  properties?: Record<string, Schema>
  $ref?: string
}

interface Operation {
  operationId: string
  parameters?: Array<{ in: string, name: string }>
  requestBody?: { content: Record<string, { schema: Schema }> }
}

/** The document's named schemas, which bodies reference by `$ref`. */
type Components = Record<string, Schema>

/** A schema, or the named one its `$ref` points to. */
function resolved (schema: Schema | undefined, components: Components): Schema | undefined {
  return schema?.$ref === undefined ? schema : components[schema.$ref.split('/').pop()!]
}

/** The property paths of a body schema, nested objects included (two levels). */
function propertyPaths (schema: Schema | undefined, components: Components, prefix: string[] = []): string[][] {
  const paths: string[][] = []
  for (const [name, property] of Object.entries(resolved(schema, components)?.properties ?? {})) {
    paths.push([...prefix, name])
    if (prefix.length === 0) paths.push(...propertyPaths(property, components, [name]))
  }
  return paths
}

function withValue (base: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const body = structuredClone(base)
  let target = body
  for (const key of path.slice(0, -1)) {
    if (typeof target[key] !== 'object' || target[key] === null || Array.isArray(target[key])) target[key] = {}
    target = target[key] as Record<string, unknown>
  }
  target[path.at(-1)!] = value
  return body
}

interface Fixtures {
  userId: string
  groupId: string
  serverId: string
  keyId: string
}

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}`

/** A valid-looking body per operation, so that the hostile property is the only thing wrong. */
function baseBody (operationId: string, ids: Fixtures): Record<string, unknown> {
  const bodies: Record<string, Record<string, unknown>> = {
    login: { username: 'nobody', password: 'wrong-password' },
    refreshToken: { refreshToken: 'not-a-token' },
    confirmMfaEnrolment: { code: '000000' },
    disableMfa: { code: '000000' },
    createApiKey: { name: unique('key') },
    createUser: { username: unique('hostile'), password: 'a-long-enough-password' },
    updateUser: { profile: { firstName: 'A' } },
    createGroup: { name: unique('hostile') },
    updateGroup: { description: 'd' },
    addGroupMember: { userId: ids.userId },
    updateGroupMember: { role: 'member' },
    assignGroupServer: { serverId: ids.serverId, permissions: ['read'] },
    updateGroupServer: { permissions: ['read'] },
    // Servers are created disabled: nothing here starts a process.
    createServer: { name: unique('hostile'), command: 'mcphub-hostile-no-such-program', enabled: false },
    importServers: { mcpServers: {} },
    updateServer: { description: 'd' },
    stopServer: { graceful: false },
    updateServerTool: { kind: 'tool', name: 'nothing', enabled: true }
  }
  return bodies[operationId] ?? {}
}

/** Operations that would start a process, end the admin's session, or delete a fixture get their own ids. */
function pathFor (template: string, operationId: string, ids: Fixtures, hostile?: { name: string, value: string }): string {
  const sacrificial = operationId === 'startServer' || operationId === 'restartServer' || operationId.startsWith('delete') || operationId.startsWith('remove') || operationId === 'revokeApiKey' || operationId === 'resetMfa'
  const known: Record<string, string> = sacrificial
    ? { userId: randomUUID(), groupId: randomUUID(), serverId: randomUUID(), keyId: randomUUID() }
    : { ...ids }
  return template.replace(/\{(\w+)\}/g, (_match, name: string) => name === hostile?.name ? hostile.value : (known[name] ?? randomUUID()))
}

async function fixtures (app: App, admin: SignedIn): Promise<Fixtures> {
  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, headers: admin.headers, payload })
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    return res.json().data as { id: string }
  }
  const user = await createUser(app, admin)
  const group = await post('/api/groups', { name: 'hostile-group' })
  const server = await post('/api/servers', { name: 'hostile-server', command: 'mcphub-hostile-no-such-program', enabled: false })
  await post(`/api/groups/${group.id}/members`, { userId: user.userId })
  await post(`/api/groups/${group.id}/servers`, { serverId: server.id, permissions: ['read'] })
  const key = await post('/api/auth/api-keys', { name: 'hostile-key' })
  return { userId: user.userId, groupId: group.id, serverId: server.id, keyId: key.id }
}

interface Operations {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Components }
}

/** Every request of the sweep for one operation: each parameter and body property in turn given each hostile value. */
function hostileRequests (path: string, operation: Operation, ids: Fixtures, components: Components): Array<[string, unknown]> {
  const { operationId } = operation
  const parameters = operation.parameters ?? []
  const bodySchema = operation.requestBody?.content['application/json']?.schema
  const body = bodySchema === undefined ? undefined : baseBody(operationId, ids)
  const requests: Array<[string, unknown]> = []
  const url = (query: string, hostilePath?: { name: string, value: string }) => pathFor(path, operationId, ids, hostilePath) + (query === '' ? '' : `?${query}`)

  for (const parameter of parameters) {
    for (const value of URL_VALUES) {
      if (parameter.in === 'path') requests.push([url('', { name: parameter.name, value }), body])
      if (parameter.in === 'query') requests.push([url(`${encodeURIComponent(parameter.name)}=${value}`), body])
    }
    if (parameter.in === 'query') for (const shape of QUERY_SHAPES(parameter.name)) requests.push([url(shape), body])
  }
  // Every operation, even one without parameters, gets unknown and filter-shaped query strings.
  for (const shape of FILTER_SHAPES) requests.push([url(shape), body])
  if (body !== undefined) {
    for (const value of JSON_VALUES) requests.push([url(''), value])
    for (const property of propertyPaths(bodySchema, components)) {
      for (const value of JSON_VALUES) requests.push([url(''), withValue(body, property, value)])
    }
  }
  return requests
}

interface Sweep {
  /** Credentials for every request but logout. */
  headers: Record<string, string>
  /** A session of the same caller of its own, for logout (which ends it). */
  session: () => Promise<Record<string, string>>
  ids: Fixtures
  /** A failure this caller's answer shows beyond a 5xx or a refusal outside the envelope, if any. */
  judge?: (operation: Operation, status: number, body: { error?: { code?: string, message?: string } }) => string | undefined
}

/** Sends the hostile requests to every operation of the document; returns what went wrong and what was exercised. */
async function sweep (app: App, { headers: callerHeaders, session, ids, judge }: Sweep) {
  const document = app.swagger() as unknown as Operations
  const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })))
  const failures: string[] = []
  const exercised = new Set<string>()
  let sent = 0

  const send = async (operation: Operation, method: string, url: string, payload?: unknown) => {
    const headers = operation.operationId === 'logout' ? await session() : callerHeaders
    const res = await app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: JSON.stringify(payload), headers: { ...headers, 'content-type': 'application/json' } }) })
    sent++
    exercised.add(operation.operationId)
    const what = `${method} ${url.slice(0, 200)}${payload === undefined ? '' : ' ' + JSON.stringify(payload).slice(0, 200)}`
    if (res.statusCode >= 500) failures.push(`${res.statusCode} ${what}: ${res.body.slice(0, 300)}`)
    else if (res.statusCode >= 400) {
      const body = res.json()
      if (body.success !== false || !ERROR_CODES.includes(body.error?.code)) failures.push(`not in the envelope: ${res.statusCode} ${what}: ${res.body.slice(0, 300)}`)
      // The database's refusal is a safety net: the schema should have named the field first.
      else if (body.error.message === STORAGE_REFUSAL) failures.push(`refused by the database, not the schema: ${what}`)
    }
    const judged = judge?.(operation, res.statusCode, res.statusCode === 204 || res.body === '' ? {} : res.json())
    if (judged !== undefined) failures.push(`${judged}: ${res.statusCode} ${what}: ${res.body.slice(0, 300)}`)
  }

  // Deleting operations last, so the others find their fixtures.
  operations.sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))
  for (const { path, method, operation } of operations) {
    const requests = hostileRequests(path, operation, ids, document.components.schemas)
    // A few at a time: the database answers while validation of the next runs.
    for (let i = 0; i < requests.length; i += 16) {
      await Promise.all(requests.slice(i, i + 16).map(([target, payload]) => send(operation, method, target, payload)))
    }
  }
  return { failures, exercised, sent, operations }
}

/** A plain user, member of a group that may read one server; the other fixtures belong to someone else. */
async function userFixtures (app: App, admin: SignedIn) {
  const post = async (who: SignedIn, url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, headers: who.headers, payload })
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    return res.json().data as { id: string }
  }
  const user = await createUser(app, admin)
  const other = await createUser(app, admin)
  const group = await post(admin, '/api/groups', { name: 'readers', permissions: { servers: ['read'], tools: ['read'] } })
  const server = await post(admin, '/api/servers', { name: 'readable', command: 'mcphub-hostile-no-such-program', enabled: false })
  await post(admin, `/api/groups/${group.id}/members`, { userId: user.userId })
  await post(admin, `/api/groups/${group.id}/servers`, { serverId: server.id, permissions: ['read'] })
  const key = await post(user, '/api/auth/api-keys', { name: 'own-key' })
  return { user, ids: { userId: other.userId, groupId: group.id, serverId: server.id, keyId: key.id } }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: no hostile value in any parameter of any operation is answered 5xx`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const ids = await fixtures(app, admin)
    // Logging out would end the admin's session: that operation gets a session of its own.
    const { failures, exercised, sent, operations } = await sweep(app, { headers: admin.headers, session: async () => (await signIn(app)).headers, ids })

    t.same(failures, [], `no 5xx, every refusal in the envelope (${sent} requests)`)
    t.equal(exercised.size, operations.length, 'every operation of the document was exercised')
    t.ok(operations.length > 40, `${operations.length} operations`)
  })

  t.test(`${driver}: as a plain user, hostile values are refused in the envelope and never pass the access rule`, async (t) => {
    const app = await build(t, driver)
    const admin = await signIn(app)
    const { user, ids } = await userFixtures(app, admin)
    // Each operation's access rule, from the router: the document's `{name}` is the router's `:name`.
    const routes = new Map(app.routeTable.map((route) => [`${route.method} ${route.url}`, route.access]))
    const rules = new Map(Object.entries((app.swagger() as unknown as Operations).paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => [operation.operationId, routes.get(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)])))
    const judge = (operation: Operation, status: number, body: { error?: { code?: string, message?: string } }) => {
      const rule = rules.get(operation.operationId)
      if (rule === undefined) return 'no access rule found'
      // A path the router cannot decode, or with an over-long parameter, matches no route and so no rule.
      if (status === 400 && /(is not a valid url component|is exceeding the max param length)$/.test(body.error?.message ?? '')) return undefined
      // The access check runs before the input is read: whatever the values, the rule answers first.
      if (rule === 'admin' && (status !== 403 || body.error?.code !== 'AUTHORIZATION_FAILED')) return 'an admin operation not refused with 403'
      if (typeof rule === 'object' && rule.action !== 'read' && status !== 403 && status !== 404) return `${rule.action} on a ${rule.resource} not refused with 403 or 404`
      return undefined
    }
    const { failures, exercised, sent, operations } = await sweep(app, {
      headers: user.headers,
      session: async () => (await signIn(app, user.username, user.password)).headers,
      ids,
      judge
    })

    t.same(failures, [], `no 5xx, every refusal in the envelope, the access rule first (${sent} requests)`)
    t.equal(exercised.size, operations.length, 'every operation of the document was exercised')
    const readable = await app.inject({ method: 'GET', url: `/api/servers/${ids.serverId}`, headers: user.headers })
    t.equal(readable.statusCode, 200, 'the user could read the server all along')
  })
}

t.test('a request whose body drips in is cut off with a 408 within the bound; a slow response is not', async (t) => {
  const REQUEST_TIMEOUT = 1000
  let release: (() => void) | undefined
  const app = await build(t, 'pglite', {
    config: { requestTimeoutMs: REQUEST_TIMEOUT },
    extend: (app) => {
      app.get('/fixture/slow', { config: { access: 'public' } }, async () => {
        await new Promise<void>((resolve) => { release = resolve })
        return { done: true }
      })
    }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  // A response that takes longer than the bound: streams (MCP, log follow) are like it.
  const slow = fetch(`http://127.0.0.1:${port}/fixture/slow`)

  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('utf8') })
  socket.write('POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{')
  const drip = setInterval(() => socket.write(' '), 100)
  t.teardown(() => clearInterval(drip))
  // The hub may reset the connection while drips are still coming: 'close' follows 'error' then.
  await new Promise((resolve) => socket.once('close', resolve))
  clearInterval(drip)
  const elapsed = Date.now() - started

  t.ok(elapsed >= REQUEST_TIMEOUT, `not before the bound (${elapsed} ms)`)
  // A bound and a check interval, with room for a loaded machine: without one it stayed open for minutes.
  t.ok(elapsed < REQUEST_TIMEOUT * 3, `cut soon after the bound (${elapsed} ms)`)
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 408 /)
  t.match(JSON.parse(body), { success: false, error: { code: 'INVALID_REQUEST', message: 'Request not received in time' } })

  // On a loaded machine the slow request may reach its handler only now.
  await until('the slow request reached its handler', () => release !== undefined)
  release!()
  const res = await slow
  t.equal(res.status, 200, 'the slow response still arrives')
  t.same(await res.json(), { done: true })
})
