import t from 'tap'
import { build, createUser, signIn, type SignedIn } from './helper.ts'
import { apiAs, startFixture } from './helpers/live-hub.ts'

const LISTINGS = ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']

/**
 * Listings on a 2025 session are answered past the SDK server, from the JSON the caller's view
 * keeps of them; a page asked for (`cursor`) still goes through the SDK server, which answers
 * the same whole list (the hub does not page). Both must say the same, byte for byte, and both
 * must follow every change of what the caller may see.
 */
t.test('listings on a session', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 10_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const api = apiAs(app, admin)
  const alpha = await startFixture(api, 'Alpha', { FIXTURE_EXTRA_TOOLS: '3' })
  const beta = await startFixture(api, 'Beta', { FIXTURE_TOOL_NAMES: JSON.stringify(['naïve ☃', 'x'.repeat(70)]) })
  const group = await api('POST', '/api/groups', { name: 'listers', permissions: { servers: ['read'], tools: ['read', 'execute'] } }) as { id: string }
  await api('POST', '/api/groups/listers/servers', { serverId: alpha.id, permissions: ['read'] })
  await api('POST', '/api/groups/listers/servers', { serverId: beta.id, permissions: ['read'] })
  const lister = await createUser(app, admin, { groups: ['listers'] })

  /** A raw 2025 session: each POST answers its body as text. */
  const open = async (who: SignedIn, path: string, version = '2025-06-18') => {
    const headers: Record<string, string> = { ...who.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    const post = async (message: object) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(message) })
      t.equal(res.status, 200)
      t.match(res.headers.get('content-type'), /^application\/json/)
      return await res.text()
    }
    const init = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) })
    await init.text()
    headers['mcp-session-id'] = init.headers.get('mcp-session-id')!
    headers['mcp-protocol-version'] = version
    await (await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text()
    /** A listing, answered past the SDK server; checked to be what the SDK server answers. */
    const list = async (method: string, id: string | number = 1) => {
      const passed = await post({ jsonrpc: '2.0', id, method, params: {} })
      const bySdk = await post({ jsonrpc: '2.0', id, method, params: { cursor: 'whole' } })
      t.equal(passed, bySdk, `${method} ${path}: the same bytes as the SDK path's`)
      return JSON.parse(passed).result
    }
    return { list, post }
  }
  const toolNames = async (list: (method: string) => Promise<{ tools: Array<{ name: string }> }>) => (await list('tools/list')).tools.map((tool) => tool.name)

  t.test('every listing, on each kind of endpoint, is the SDK path\'s answer', async (t) => {
    for (const [path, version] of [['/mcp', '2025-06-18'], [`/mcp/servers/${beta.key}`, '2025-06-18'], ['/mcp', '2025-11-25']] as const) {
      const { list, post } = await open(admin, path, version)
      for (const method of LISTINGS) {
        await list(method)
        // Without a session, the SDK answers (on an event stream).
        const request = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} })
        const stateless = await fetch(`${base}${path}`, { method: 'POST', headers: { ...admin.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': version }, body: request })
        const data = (await stateless.text()).split('\n').find((line) => line.startsWith('data: '))?.slice('data: '.length)
        t.equal(await post(JSON.parse(request)), data, `${method} ${path}: the same bytes as the stateless path's`)
      }
      await list('tools/list', 'a string id')
    }
    const names = await toolNames((await open(admin, '/mcp')).list)
    t.same(names.slice(0, 15), [
      'alpha__echo', 'alpha__add', 'alpha__env', 'alpha__log', 'alpha__add_tool', 'alpha__slow', 'alpha__extra_1', 'alpha__extra_2', 'alpha__extra_3',
      'beta__echo', 'beta__add', 'beta__env', 'beta__log', 'beta__add_tool', 'beta__slow'
    ], 'in the endpoint\'s order')
    t.match(names.slice(15), [/^beta__na_ve___[0-9a-f]{8}$/, /^beta__x+_[0-9a-f]{8}$/], 'names that are not valid as they are, made valid')
  })

  t.test('a change of per-item settings shows in the next listing', async (t) => {
    const { list } = await open(admin, '/mcp')
    await api('PUT', `/api/servers/${alpha.id}/tools`, { kind: 'tool', name: 'echo', description: 'Says it back' })
    t.match((await list('tools/list')).tools.find((tool: { name: string }) => tool.name === 'alpha__echo'), { description: 'Says it back' })
    await api('PUT', `/api/servers/${alpha.id}/tools`, { kind: 'tool', name: 'echo', enabled: false, description: null })
    t.notOk((await toolNames(list)).includes('alpha__echo'), 'a tool disabled')
    await api('PUT', `/api/servers/${alpha.id}/tools`, { kind: 'prompt', name: 'greet', enabled: false })
    t.same((await list('prompts/list')).prompts.map((prompt: { name: string }) => prompt.name), ['beta__greet'], 'a prompt disabled')
    await api('PUT', `/api/servers/${alpha.id}/tools`, { kind: 'tool', name: 'echo', enabled: true })
    await api('PUT', `/api/servers/${alpha.id}/tools`, { kind: 'prompt', name: 'greet', enabled: true })
    t.match((await list('tools/list')).tools.find((tool: { name: string }) => tool.name === 'alpha__echo'), { description: 'Returns the given text' }, 'back as the server has it')
  })

  t.test('a server stopping and starting shows in the next listing', async (t) => {
    const { list } = await open(admin, '/mcp')
    await api('POST', `/api/servers/${beta.id}/stop`)
    t.notOk((await toolNames(list)).some((name) => name.startsWith('beta__')), 'its tools gone')
    t.same((await list('prompts/list')).prompts.map((prompt: { name: string }) => prompt.name), ['alpha__greet'], 'its prompts gone')
    await api('POST', `/api/servers/${beta.id}/start`)
    t.ok((await toolNames(list)).includes('beta__echo'), 'its tools back')
  })

  t.test('a permission change shows in the next listing', async (t) => {
    const { list } = await open(lister, '/mcp')
    t.ok((await toolNames(list)).includes('alpha__echo'))
    await api('PUT', `/api/groups/${group.id}`, { permissions: { servers: ['read'], tools: [] } })
    t.same(await toolNames(list), [], 'tools no longer readable')
    t.same((await list('prompts/list')).prompts.map((prompt: { name: string }) => prompt.name), ['alpha__greet', 'beta__greet'], 'prompts still are')
    await api('PUT', `/api/groups/${group.id}`, { permissions: { servers: ['read'], tools: ['read', 'execute'] } })
    await api('DELETE', `/api/groups/listers/servers/${beta.id}`)
    t.notOk((await toolNames(list)).some((name) => name.startsWith('beta__')), 'a server taken out of the group')
    t.same((await list('resources/list')).resources.map((resource: { uri: string }) => resource.uri), ['fixture://hello'])
    await api('POST', '/api/groups/listers/servers', { serverId: beta.id, permissions: ['read'] })
    t.ok((await toolNames(list)).includes('beta__echo'), 'and put back')
  })
})
