import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../app.ts'
import { servers } from '../db/schema.ts'
import { specOf } from '../routes/servers/service.ts'
import { build, captureLogs, createUser, DRIVERS, rememberSecret, signIn, type SignedIn } from './helper.ts'

// Remote MCP servers through the servers API: stored with their url and sealed headers, shown
// masked, checked against the egress guard, imported and exported in the forms MCP clients use.
// None is started here: connecting is the supervisor's part.

const MASK = '********'
const TOKEN = `Bearer remote-${randomUUID()}`
rememberSecret(TOKEN)
/** A public name that need not resolve now: the connection checks again on every connect. */
const URL_A = 'https://mcp.example.com/mcp'

/** Every response body the tests received, to prove no header value was ever sent back. */
const received: string[] = []

async function call (app: App, who: SignedIn, method: string, url: string, payload?: object) {
  const res = await app.inject({ method: method as 'GET', url, headers: who.headers, ...(payload === undefined ? {} : { payload }) })
  received.push(res.body)
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

async function rowOf (app: App, id: string) {
  const [row] = await app.db.select().from(servers).where(eq(servers.id, id))
  return row
}

t.teardown(() => {
  if (received.some((body) => body.includes(TOKEN))) throw new Error('a header value came back in a response')
})

for (const driver of DRIVERS) {
  t.test(`${driver}: a remote server through the API`, async (t) => {
    const hubLog = captureLogs()
    const app = await build(t, driver, { logStream: hubLog.stream, config: { logLevel: 'debug' } })
    const admin = await signIn(app)
    const total = async () => (await call(app, admin, 'GET', '/api/servers?limit=1')).body.data.pagination.total as number
    const create = async (body: object) => {
      const res = await call(app, admin, 'POST', '/api/servers', { enabled: false, ...body })
      if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.data as { id: string }
    }

    t.test('create, read, list, update, delete; header values never come back', async (t) => {
      const created = await call(app, admin, 'POST', '/api/servers', { name: 'remote-a', url: URL_A, headers: { Authorization: TOKEN, 'X-Team': 'platform' }, enabled: false })
      t.equal(created.status, 201)
      const expected = { name: 'remote-a', type: 'streamable-http', command: null, args: [], env: {}, cwd: null, url: URL_A, headers: { authorization: MASK, 'x-team': MASK }, keepAlive: 30_000, enabled: false, status: 'stopped' }
      t.match(created.body.data, expected, 'a url without a type is streamable-http; header names in lower case, values masked')
      const id = created.body.data.id as string
      t.match((await call(app, admin, 'GET', `/api/servers/${id}`)).body.data, expected)
      t.match((await call(app, admin, 'GET', '/api/servers?search=remote-a')).body.data.items, [expected])

      const stored = (await rowOf(app, id))!
      t.match(stored, { type: 'streamable-http', command: null, url: URL_A, keepAliveMs: null })
      t.notOk(JSON.stringify(stored.headers).includes(TOKEN), 'stored sealed')
      t.same(specOf(app.auth.secrets, stored).remote, { type: 'streamable-http', url: URL_A, headers: { authorization: TOKEN, 'x-team': 'platform' }, keepAliveMs: 30_000 })

      const kept = await call(app, admin, 'PUT', `/api/servers/${id}`, { headers: { Authorization: MASK, 'X-Team': 'ops' }, keepAlive: 5000 })
      t.equal(kept.status, 200)
      t.match(kept.body.data, { headers: { authorization: MASK, 'x-team': MASK }, keepAlive: 5000 })
      const after = (await rowOf(app, id))!
      t.equal(after.headers.authorization, stored.headers.authorization, 'the mask sent back keeps the stored value')
      t.same(specOf(app.auth.secrets, after).remote, { type: 'streamable-http', url: URL_A, headers: { authorization: TOKEN, 'x-team': 'ops' }, keepAliveMs: 5000 })

      const unknownMask = await call(app, admin, 'PUT', `/api/servers/${id}`, { headers: { authorization: MASK, 'x-new': MASK } })
      t.equal(unknownMask.status, 422)
      t.equal(unknownMask.body.error.details.field, 'headers.x-new', 'a mask with nothing stored is refused')

      t.match((await call(app, admin, 'PUT', `/api/servers/${id}`, { keepAlive: null })).body.data, { keepAlive: 30_000 }, 'null: back to the default')
      t.equal((await rowOf(app, id))!.keepAliveMs, null)
      t.match((await call(app, admin, 'PUT', `/api/servers/${id}`, { type: 'sse' })).body.data, { type: 'sse', url: URL_A, headers: { authorization: MASK, 'x-team': MASK } }, 'between remote types url and headers stay')

      const exported = (await call(app, admin, 'GET', '/api/servers/export')).body.data.mcpServers
      t.same(exported['remote-a'], { type: 'sse', url: URL_A, headers: { authorization: MASK, 'x-team': MASK }, disabled: true })

      const noCommand = await call(app, admin, 'PUT', `/api/servers/${id}`, { type: 'stdio' })
      t.equal(noCommand.status, 422)
      t.equal(noCommand.body.error.details.field, 'command', 'becoming stdio needs a command')
      const local = await call(app, admin, 'PUT', `/api/servers/${id}`, { type: 'stdio', command: process.execPath, args: ['--version'] })
      t.equal(local.status, 200)
      t.match(local.body.data, { type: 'stdio', command: process.execPath, args: ['--version'], url: null, headers: {}, keepAlive: null })
      t.match(await rowOf(app, id), { url: null, headers: {}, keepAliveMs: null }, 'the remote fields are cleared')
      t.equal(specOf(app.auth.secrets, (await rowOf(app, id))!).remote, undefined)
      const noUrl = await call(app, admin, 'PUT', `/api/servers/${id}`, { type: 'streamable-http' })
      t.equal(noUrl.body.error.details.field, 'url', 'becoming remote needs a url')
      const urlOnStdio = await call(app, admin, 'PUT', `/api/servers/${id}`, { url: URL_A })
      t.equal(urlOnStdio.body.error.details.field, 'url', 'a url on a stdio server needs the type too')
      const remoteAgain = await call(app, admin, 'PUT', `/api/servers/${id}`, { type: 'streamable-http', url: URL_A })
      t.match(remoteAgain.body.data, { type: 'streamable-http', command: null, args: [], env: {}, headers: {}, keepAlive: 30_000 }, 'the stdio fields are cleared')

      const sse = await create({ name: 'remote-sse', type: 'sse', url: 'https://mcp.example.com/sse' })
      t.match((await call(app, admin, 'GET', `/api/servers/${sse.id}`)).body.data, { type: 'sse', url: 'https://mcp.example.com/sse', headers: {} })

      for (const server of [id, sse.id]) t.equal((await call(app, admin, 'DELETE', `/api/servers/${server}`)).status, 204)
      t.equal((await call(app, admin, 'GET', `/api/servers/${id}`)).status, 404)
    })

    t.test('invalid remote servers are refused with the field, and change nothing', async (t) => {
      const before = await total()
      const headers = (extra: Record<string, string>) => ({ name: 'bad', url: URL_A, headers: extra })
      for (const [body, field] of [
        [{ name: 'bad', url: URL_A, command: 'node' }, 'command'],
        [{ name: 'bad', type: 'sse', url: URL_A, args: [] }, 'args'],
        [{ name: 'bad', url: URL_A, env: { A: 'b' } }, 'env'],
        [{ name: 'bad', url: URL_A, cwd: null }, 'cwd'],
        [{ name: 'bad', command: 'node', headers: { A: 'b' } }, 'headers'],
        [{ name: 'bad', type: 'stdio', command: 'node', url: URL_A }, 'url'],
        [{ name: 'bad', command: 'node', keepAlive: 5000 }, 'keepAlive'],
        [{ name: 'bad', type: 'sse' }, 'url'],
        [{ name: 'bad' }, 'command'],
        [{ name: 'bad', url: 'ftp://mcp.example.com/mcp' }, 'url'],
        [{ name: 'bad', url: 'file:///etc/passwd' }, 'url'],
        [{ name: 'bad', url: 'not a url' }, 'url'],
        [{ name: 'bad', url: 'https://mcp.example.com/m\ncp' }, 'url'],
        [{ name: 'bad', url: 'https://user:hunter2@mcp.example.com/mcp' }, 'url'],
        [{ name: 'bad', url: `https://mcp.example.com/${'x'.repeat(4096)}` }, 'url'],
        [{ name: 'bad', url: URL_A, keepAlive: 999 }, 'keepAlive'],
        [headers({ 'X-A': 'a\r\nX-Injected: 1' }), 'headers.X-A'],
        [headers({ 'X-A': 'a\nb' }), 'headers.X-A'],
        [headers({ 'X-A': 'a\0b' }), 'headers.X-A'],
        [headers({ 'X-A': 'x'.repeat(8193) }), 'headers.X-A'],
        [headers({ 'Bad Name': 'x' }), 'headers.Bad Name'],
        [headers({ 'X-A:': 'x' }), 'headers.X-A:'],
        [headers({ Host: 'internal' }), 'headers.Host'],
        [headers({ 'Content-Length': '1' }), 'headers.Content-Length'],
        [headers({ Connection: 'close' }), 'headers.Connection'],
        [headers({ 'Transfer-Encoding': 'chunked' }), 'headers.Transfer-Encoding'],
        [headers({ 'Proxy-Authorization': 'Basic x' }), 'headers.Proxy-Authorization'],
        [headers({ 'Mcp-Session-Id': 'theirs' }), 'headers.Mcp-Session-Id'],
        [headers({ 'MCP-Protocol-Version': '2025-06-18' }), 'headers.MCP-Protocol-Version'],
        [headers({ 'X-A': '1', 'x-a': '2' }), 'headers.x-a'],
        [headers({ Authorization: MASK }), 'headers.authorization'],
        [headers(Object.fromEntries(Array.from({ length: 51 }, (_, n) => [`x-h${n}`, 'v']))), 'headers']
      ] as Array<[object, string]>) {
        const res = await call(app, admin, 'POST', '/api/servers', { enabled: false, ...body })
        t.equal(res.status, 422, `${JSON.stringify(body).slice(0, 80)}: 422`)
        t.equal(res.body.error.code, 'VALIDATION_ERROR')
        t.match(res.body.error.details.field, field)
        t.notOk(res.body.error.message.includes('hunter2'), 'a URL\'s password is not echoed')
      }
      t.equal(await total(), before, 'nothing created')

      const { id } = await create({ name: 'remote-kept', url: URL_A, headers: { Authorization: TOKEN } })
      const stored = await rowOf(app, id)
      for (const [body, field] of [
        [{ command: 'node' }, 'command'],
        [{ env: {} }, 'env'],
        [{ url: 'ftp://mcp.example.com/mcp' }, 'url'],
        [{ url: 'https://a:b@mcp.example.com/mcp' }, 'url'],
        [{ headers: { Host: 'internal' } }, 'headers.Host'],
        [{ headers: { 'X-A': 'a\r\nb' } }, 'headers.X-A'],
        [{ type: 'stdio' }, 'command']
      ] as Array<[object, string]>) {
        const res = await call(app, admin, 'PUT', `/api/servers/${id}`, body)
        t.equal(res.status, 422, `update ${JSON.stringify(body)}: 422`)
        t.equal(res.body.error.details.field, field)
      }
      t.same(await rowOf(app, id), stored, 'the server is unchanged')
      await call(app, admin, 'DELETE', `/api/servers/${id}`)
    })

    t.test('only admins create remote servers or change their type, url and headers', async (t) => {
      const { id } = await create({ name: 'remote-guarded', url: URL_A, headers: { Authorization: TOKEN } })
      const group = await call(app, admin, 'POST', '/api/groups', { name: 'remote-writers', permissions: { servers: ['read', 'write'], tools: [] } })
      const writer = await createUser(app, admin)
      t.equal((await call(app, admin, 'POST', `/api/groups/${group.body.data.id}/servers`, { serverId: id, permissions: ['read', 'write'] })).status, 201)
      t.equal((await call(app, admin, 'POST', `/api/groups/${group.body.data.id}/members`, { userId: writer.userId })).status, 201)
      const stored = await rowOf(app, id)

      for (const change of [{ url: 'https://other.example.com/mcp' }, { headers: { Authorization: 'Bearer mine' } }, { headers: { Authorization: MASK } }, { type: 'sse' }, { type: 'stdio', command: 'node' }]) {
        const res = await call(app, writer, 'PUT', `/api/servers/${id}`, change)
        t.equal(res.status, 403, `writer: ${JSON.stringify(change)}`)
        t.equal(res.body.error.code, 'AUTHORIZATION_FAILED')
      }
      t.same(await rowOf(app, id), stored, 'unchanged')
      const read = await call(app, writer, 'GET', `/api/servers/${id}`)
      t.same(read.body.data.headers, { authorization: MASK }, 'a writer sees the names only')
      t.match((await call(app, writer, 'PUT', `/api/servers/${id}`, { description: 'by a writer', keepAlive: 10_000 })).body.data, { description: 'by a writer', keepAlive: 10_000 }, 'the rest is the writer\'s')
      t.equal((await call(app, writer, 'POST', '/api/servers', { name: 'remote-mine', url: URL_A, enabled: false })).status, 403, 'creating is for admins')
      await call(app, admin, 'DELETE', `/api/servers/${id}`)
    })

    t.test('private, loopback, metadata and IPv4-embedding targets are refused without the allow-list', async (t) => {
      const before = await total()
      for (const url of ['http://169.254.169.254/mcp', 'http://[::ffff:127.0.0.1]/mcp', 'http://[2002:7f00:1::]/mcp', 'http://127.0.0.1:8080/mcp', 'http://10.1.2.3/mcp', 'http://localhost/mcp']) {
        const res = await call(app, admin, 'POST', '/api/servers', { name: 'internal', url, enabled: false })
        t.equal(res.status, 422, url)
        t.equal(res.body.error.code, 'VALIDATION_ERROR')
        t.equal(res.body.error.details.field, 'url')
        t.match(res.body.error.message, /is refused: .*MCPHUB_EGRESS_ALLOW can admit it/)
      }
      t.equal(await total(), before, 'nothing created')

      const { id } = await create({ name: 'remote-moved', url: URL_A })
      const stored = await rowOf(app, id)
      const moved = await call(app, admin, 'PUT', `/api/servers/${id}`, { url: 'http://169.254.169.254/latest/meta-data' })
      t.equal(moved.status, 422)
      t.equal(moved.body.error.details.field, 'url')
      t.same(await rowOf(app, id), stored, 'an update to a refused target changes nothing')

      const imported = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: { fine: { url: URL_A, disabled: true }, metadata: { type: 'http', url: 'http://169.254.169.254/mcp', disabled: true } } })
      t.equal(imported.status, 422)
      t.equal(imported.body.error.details.field, 'mcpServers.metadata.url')
      t.equal(await total(), before + 1, 'the import created nothing')
      await call(app, admin, 'DELETE', `/api/servers/${id}`)
    })

    t.test('import and export in the forms MCP clients use', async (t) => {
      const document = {
        'imp-http': { type: 'http', url: URL_A, headers: { Authorization: TOKEN }, disabled: true, description: 'vendor' },
        'imp-url': { url: 'https://mcp.example.com/url', enabled: false, keepAlive: 15_000 },
        'imp-sse': { type: 'sse', url: 'https://mcp.example.com/sse', disabled: true },
        'imp-camel': { type: 'streamableHttp', url: 'https://mcp.example.com/camel', disabled: true },
        'imp-full': { type: 'streamable-http', url: 'https://mcp.example.com/full', disabled: true, startTimeout: 20_000 },
        'imp-ws': { type: 'ws', url: 'wss://mcp.example.com/ws' },
        'imp-local': { command: process.execPath, args: ['--version'], disabled: true }
      }
      const res = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: document })
      t.equal(res.status, 200)
      t.same(res.body.data.created, ['imp-http', 'imp-url', 'imp-sse', 'imp-camel', 'imp-full', 'imp-local'])
      t.equal(res.body.data.unsupported.length, 1)
      t.match(res.body.data.unsupported[0], { name: 'imp-ws', reason: /type "ws"/ })

      const listed = (await call(app, admin, 'GET', '/api/servers?search=imp-&limit=100&sort=name')).body.data.items as Array<Record<string, unknown>>
      t.same(listed.map((server) => [server.name, server.type, server.url, server.enabled]), [
        ['imp-camel', 'streamable-http', 'https://mcp.example.com/camel', false],
        ['imp-full', 'streamable-http', 'https://mcp.example.com/full', false],
        ['imp-http', 'streamable-http', URL_A, false],
        ['imp-local', 'stdio', null, false],
        ['imp-sse', 'sse', 'https://mcp.example.com/sse', false],
        ['imp-url', 'streamable-http', 'https://mcp.example.com/url', false]
      ])
      const http = listed.find((server) => server.name === 'imp-http')!
      t.same(http.headers, { authorization: MASK })
      t.same(specOf(app.auth.secrets, (await rowOf(app, http.id as string))!).remote?.headers, { authorization: TOKEN }, 'the imported header value is stored sealed')

      for (const [entry, field] of [
        [{ type: 'http', url: URL_A, command: 'node' }, 'mcpServers.imp-bad.command'],
        [{ type: 'sse' }, 'mcpServers.imp-bad.url'],
        [{ url: 'ftp://mcp.example.com/mcp' }, 'mcpServers.imp-bad.url'],
        [{ url: URL_A, headers: { Connection: 'close' } }, 'mcpServers.imp-bad.headers.Connection'],
        [{ url: URL_A, headers: { Authorization: MASK } }, 'mcpServers.imp-bad.headers.authorization'],
        [{ type: 'stdio', command: 'node', url: URL_A }, 'mcpServers.imp-bad.url']
      ] as Array<[object, string]>) {
        const bad = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: { 'imp-more': { url: URL_A, disabled: true }, 'imp-bad': { disabled: true, ...entry } } })
        t.equal(bad.status, 422, field)
        t.equal(bad.body.error.details.field, field)
      }
      t.equal((await call(app, admin, 'GET', '/api/servers?search=imp-more')).body.data.pagination.total, 0, 'all or nothing')

      const exported = (await call(app, admin, 'GET', '/api/servers/export')).body.data.mcpServers
      t.same(exported['imp-http'], { type: 'streamable-http', url: URL_A, headers: { authorization: MASK }, disabled: true, description: 'vendor' })
      t.same(exported['imp-url'], { type: 'streamable-http', url: 'https://mcp.example.com/url', headers: {}, keepAlive: 15_000, disabled: true })
      t.same(exported['imp-sse'], { type: 'sse', url: 'https://mcp.example.com/sse', headers: {}, disabled: true })
      t.same(exported['imp-full'], { type: 'streamable-http', url: 'https://mcp.example.com/full', headers: {}, disabled: true, startTimeout: 20_000 })
      t.same(exported['imp-local'], { command: process.execPath, args: ['--version'], env: {}, disabled: true })

      // Round trip: the servers without secrets deleted and imported back from the export are the same.
      const again = ['imp-url', 'imp-sse', 'imp-camel', 'imp-full']
      for (const name of again) await call(app, admin, 'DELETE', `/api/servers/${listed.find((server) => server.name === name)!.id as string}`)
      const back = await call(app, admin, 'POST', '/api/servers/import', { mcpServers: Object.fromEntries(again.map((name) => [name, exported[name]])) })
      t.same(back.body.data, { created: again, skipped: [], unsupported: [] })
      const reexported = (await call(app, admin, 'GET', '/api/servers/export')).body.data.mcpServers
      t.same(reexported, exported, 'the export is the same')
      t.same((await call(app, admin, 'POST', '/api/servers/import', { mcpServers: exported })).body.data.created, [], 'the export imported over itself changes nothing (existing names are kept)')
    })

    t.test('no header value in the hub log', async (t) => {
      t.ok(hubLog.lines.some((line) => line.includes('server created')), 'the hub logged what happened')
      t.notOk(hubLog.lines.some((line) => line.includes(TOKEN)))
    })
  })

  t.test(`${driver}: MCPHUB_EGRESS_ALLOW admits a private target`, async (t) => {
    const app = await build(t, driver, { config: { egressAllow: ['127.0.0.1'] } })
    const admin = await signIn(app)
    const res = await call(app, admin, 'POST', '/api/servers', { name: 'local-remote', url: 'http://127.0.0.1:9/mcp', enabled: false })
    t.equal(res.status, 201)
    t.match(res.body.data, { type: 'streamable-http', url: 'http://127.0.0.1:9/mcp' })
    const other = await call(app, admin, 'POST', '/api/servers', { name: 'metadata', url: 'http://169.254.169.254/mcp', enabled: false })
    t.equal(other.status, 422, 'what the list does not admit is still refused')
  })
}
