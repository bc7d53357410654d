import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import t from 'tap'
import { childBaseEnv, DEFAULT_CHILD_ENV } from '../lib/config.ts'
import { build, signIn } from './helper.ts'

// The three reference servers from npm, registered as the README shows (`npx -y <package>`) and
// used through /mcp with the official SDK. They are devDependencies: run from the repository
// root, npx finds them in node_modules. The hub passes `npm_config_offline=true` to its children
// (through MCPHUB_CHILD_ENV, as an operator would): were npx about to download anything, it would
// fail at once (ENOTCACHED) instead of reaching the network.

const ROOT = fileURLToPath(new URL('..', import.meta.url))

t.test('server-everything, server-filesystem and server-memory run through the hub with npx, offline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mcphub-real-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'hello.txt'), 'hello from the filesystem server\n')
  const hubEnv = { ...process.env, npm_config_offline: 'true' }
  const app = await build(t, 'pglite', {
    config: { childBaseEnv: childBaseEnv(hubEnv, [...DEFAULT_CHILD_ENV, 'npm_config_offline']) },
    supervisorPolicy: { stopTimeoutMs: 2000, stdinGraceMs: 500, maxFailures: 1 }
  })
  const admin = await signIn(app)
  const register = async (name: string, args: string[], env: Record<string, string> = {}) => {
    const res = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: 'npx', args, env, cwd: ROOT } })
    t.equal(res.statusCode, 201, `${name} registered`)
    return res.json().data.id as string
  }
  const ids = await Promise.all([
    register('everything', ['-y', '@modelcontextprotocol/server-everything']),
    register('filesystem', ['-y', '@modelcontextprotocol/server-filesystem', dir]),
    register('memory', ['-y', '@modelcontextprotocol/server-memory'], { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') })
  ])
  for (const id of ids) {
    const server = await new Promise<{ name: string, status: string, lastError: string | null, startTimeout: number }>((resolve) => {
      const check = async () => {
        const data = (await app.inject({ method: 'GET', url: `/api/servers/${id}`, headers: admin.headers })).json().data
        if (data.status === 'running' || data.status === 'error') resolve(data)
        else setTimeout(() => { check().catch(() => {}) }, 100)
      }
      check().catch(() => {})
    })
    t.equal(server.status, 'running', `${server.name} runs${server.lastError === null ? '' : `: ${server.lastError}`}`)
    t.equal(server.startTimeout, 120_000, 'the package-runner default')
  }

  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const client = new Client({ name: 'real-servers-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: admin.headers } }))
  t.teardown(() => client.close())
  const text = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args })
    t.notOk(result.isError, `${name} succeeded`)
    return (result.content as Array<{ type: string, text?: string }>).map((item) => item.text ?? '').join('\n')
  }
  const tools = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(['everything__echo', 'filesystem__read_text_file', 'memory__create_entities'].every((name) => tools.includes(name)), 'the three catalogs, namespaced')

  t.equal(await text('everything__echo', { message: 'through the hub' }), 'Echo: through the hub')
  t.equal(await text('filesystem__read_text_file', { path: join(dir, 'hello.txt') }), 'hello from the filesystem server\n')
  await text('memory__create_entities', { entities: [{ name: 'MCPHub', entityType: 'project', observations: ['runs real servers'] }] })
  t.match(await text('memory__read_graph', {}), /"name":\s*"MCPHub"/)
})
