import t from 'tap'
import { DEFAULT_CHILD_ENV, loadConfig } from '../lib/config.ts'
import { build, signIn, testConfig } from './helper.ts'
import { problemsOf } from './helpers/config.ts'

// MCPHUB_CHILD_ENV: which of the hub's variables its MCP servers get, on top of PATH, HOME and
// the locale. By default the proxy and CA variables npx and uvx need; never the hub's own secrets.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

/** The hub's environment as an operator behind a proxy has it, secrets included. */
const HUB_ENV = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  HTTP_PROXY: 'http://proxy.internal:3128',
  https_proxy: 'http://proxy.internal:3128',
  NO_PROXY: 'localhost,127.0.0.1',
  NODE_EXTRA_CA_CERTS: '/etc/ssl/corp-ca.pem',
  DATABASE_URL: 'postgres://hub:db-password-canary@db:5432/hub',
  MCPHUB_JWT_SECRET: 'jwt-secret-canary-0123456789abcdef0123456789',
  UNRELATED_VARIABLE: 'not for children'
}

t.test('by default children get the proxy and CA variables that are set, and nothing else of the hub', async (t) => {
  const config = loadConfig({ ...HUB_ENV, MCPHUB_DATA_DIR: testConfig(t).dataDir })
  t.same(Object.keys(config.childBaseEnv).sort(), ['HOME', 'HTTP_PROXY', 'NODE_EXTRA_CA_CERTS', 'NO_PROXY', 'PATH', 'https_proxy'])
  t.same(DEFAULT_CHILD_ENV, ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'])
})

t.test('MCPHUB_CHILD_ENV replaces the list', async (t) => {
  const config = loadConfig({ ...HUB_ENV, MCPHUB_DATA_DIR: testConfig(t).dataDir, MCPHUB_CHILD_ENV: 'UNRELATED_VARIABLE,HTTP_PROXY' })
  t.same(Object.keys(config.childBaseEnv).sort(), ['HOME', 'HTTP_PROXY', 'PATH', 'UNRELATED_VARIABLE'])
})

t.test('the hub\'s own configuration and secrets are refused in MCPHUB_CHILD_ENV, one line naming them', async (t) => {
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'MCPHUB_JWT_SECRET', 'MCPHUB_ADMIN_PASSWORD', 'MCPHUB_METRICS_TOKEN', 'mcphub_anything', 'PGPASSWORD', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'API_KEY']) {
    const problems = problemsOf({ MCPHUB_CHILD_ENV: `HTTP_PROXY,${name}` })
    t.equal(problems.length, 1, name)
    t.match(problems[0], new RegExp(`^MCPHUB_CHILD_ENV: ${name} is the hub's own configuration or secret and never passed to servers`), name)
  }
  t.match(problemsOf({ MCPHUB_CHILD_ENV: 'HTTP_PROXY;rm -rf' }), [/^MCPHUB_CHILD_ENV: /], 'a list of variable names, comma-separated')
})

t.test('a real child sees the passed variables and none of the hub\'s secrets', async (t) => {
  const config = loadConfig({ ...HUB_ENV, MCPHUB_DATA_DIR: testConfig(t).dataDir })
  const app = await build(t, 'pglite', { config: { childBaseEnv: config.childBaseEnv }, supervisorPolicy: { stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  const admin = await signIn(app)
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'env-printer', command: process.execPath, args: [FIXTURE], enabled: false } })
  const { id } = created.json().data as { id: string }
  const started = await app.inject({ method: 'POST', url: `/api/servers/${id}/start`, headers: admin.headers })
  t.equal(started.json().data.status, 'running')
  const client = app.supervisor.get(id)!.client!
  const seen = async (name: string) => JSON.parse(((await client.callTool({ name: 'env', arguments: { name } })).content as Array<{ text: string }>)[0]!.text) as { keys: string[], value: string | null }
  t.equal((await seen('HTTP_PROXY')).value, HUB_ENV.HTTP_PROXY)
  t.equal((await seen('https_proxy')).value, HUB_ENV.https_proxy)
  t.equal((await seen('NODE_EXTRA_CA_CERTS')).value, HUB_ENV.NODE_EXTRA_CA_CERTS)
  const { keys } = await seen('DATABASE_URL')
  for (const hidden of ['DATABASE_URL', 'MCPHUB_JWT_SECRET', 'UNRELATED_VARIABLE']) t.notOk(keys.includes(hidden), `${hidden} is not passed`)
  await app.inject({ method: 'POST', url: `/api/servers/${id}/stop`, headers: admin.headers, payload: { graceful: false } })
})
