import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { build, signIn } from './helper.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const VALID_NAME = /^[a-zA-Z0-9_-]{1,64}$/

// Names that clash once sanitised, that run past 64 characters, and that are not ASCII.
const AWKWARD = ['search.repos', 'search_repos', `${'x'.repeat(80)}1`, `${'x'.repeat(80)}2`, '读取文件', 'a__b']
const BASE_TOOLS = ['echo', 'add', 'env', 'log', 'add_tool', 'slow']
const LONG_KEY = 'k'.repeat(32)

t.test('aggregate names keep the 64-character rule without collisions; server endpoints stay transparent', async (t) => {
  const app = await build(t, 'pglite', { supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  for (const key of ['files', LONG_KEY]) {
    const res = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: `awkward ${key}`, key, command: process.execPath, args: [FIXTURE], env: { FIXTURE_TOOL_NAMES: JSON.stringify(AWKWARD), FIXTURE_LABEL: `${key}:` }, enabled: false } })
    t.equal(res.statusCode, 201, 'server created')
    t.equal((await app.inject({ method: 'POST', url: `/api/servers/${res.json().data.id}/start`, headers: admin.headers })).statusCode, 200, 'and started')
  }
  const connect = async (path: string) => {
    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}${path}`), { requestInit: { headers: admin.headers } }))
    t.teardown(() => client.close())
    return client
  }

  const aggregate = await connect('/mcp')
  const exposed = (await aggregate.listTools()).tools.map((tool) => tool.name)
  t.equal(exposed.length, 2 * (BASE_TOOLS.length + AWKWARD.length), 'every tool of both servers is listed')
  t.equal(new Set(exposed).size, exposed.length, 'no two tools share a name')
  t.same(exposed.filter((name) => !VALID_NAME.test(name)), [], 'every name is valid and at most 64 characters')
  t.ok(exposed.includes('files__search_repos'), 'a name that is already valid is kept as {key}__{name}')
  t.ok(exposed.includes('files__a__b'), 'a name holding the separator is kept too')
  const overlong = exposed.filter((name) => name.includes('xxxx'))
  t.equal(overlong.length, 4, 'both servers\' overlong names are listed')
  t.same(overlong.filter((name) => !/_[0-9a-f]{8}$/.test(name)), [], 'cut to 64 characters with a hash suffix')

  // Each exposed name reaches exactly its own tool on its own server: the extra tools answer with `{key}:{their name}`.
  const baseTools = ['files', LONG_KEY].flatMap((key) => BASE_TOOLS.map((tool) => `${key}__${tool}`))
  const reached: Array<[string, string]> = []
  for (const name of exposed.filter((name) => !baseTools.includes(name))) {
    const result = await aggregate.callTool({ name, arguments: {} })
    reached.push([name, (result.content as Array<{ text: string }>)[0]!.text])
  }
  t.same(reached.map(([, answer]) => answer).sort(), ['files', LONG_KEY].flatMap((key) => AWKWARD.map((name) => `${key}:${name}`)).sort(), 'every awkward tool of each server is reached by exactly one exposed name')
  t.same(reached.filter(([exposed, answer]) => !exposed.startsWith(`${answer.split(':')[0]}__`)), [], 'a name that starts with its own server\'s key')

  const again = await connect('/mcp')
  t.same((await again.listTools()).tools.map((tool) => tool.name), exposed, 'the names are deterministic across sessions')

  const transparent = await connect('/mcp/servers/files')
  const own = (await transparent.listTools()).tools.map((tool) => tool.name)
  t.same(own.filter((name) => AWKWARD.includes(name)).sort(), [...AWKWARD].sort(), '/mcp/servers/{key} lists the server\'s own names unchanged')
  t.same((await transparent.callTool({ name: '读取文件', arguments: {} })).content, [{ type: 'text', text: 'files:读取文件' }], 'and calls them by those names')
})
