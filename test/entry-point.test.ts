import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { EnvSchema } from '../lib/config.ts'
import { DRIVERS, embeddedDataDir, postgresUrl, testConfig } from './helper.ts'
import { passwordRefusingPostgres } from './helpers/fake-postgres.ts'
import { endHubChildren, startProcess, type Tracked } from './helpers/processes.ts'

type Tap = Parameters<typeof startProcess>[0]

const ROOT = new URL('..', import.meta.url).pathname
const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const PASSWORD = 'canary-db-password'

/** `node server.ts` with these arguments and this environment only, as a user runs it. */
function runHub (t: Tap, args: string[], env: Record<string, string>): Tracked {
  if (env.MCPHUB_DATA_DIR !== undefined) endHubChildren(t, env.MCPHUB_DATA_DIR)
  return startProcess(t, process.execPath, ['server.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } })
}

/** A data dir that does not exist yet: a run that never touches it leaves it absent. */
function untouchedDataDir (t: Tap): string {
  return join(testConfig(t).dataDir, 'never-created')
}

/** Asserts that the run failed with exactly one line on stderr, matching `pattern`. */
async function failsWithOneLine (t: Test, hub: Tracked, pattern: RegExp, code = 1): Promise<void> {
  t.same(await hub.exit, { code, signal: null }, `exits ${code}`)
  const lines = hub.stderr().split('\n').filter(Boolean)
  t.equal(lines.length, 1, `one line on stderr: ${hub.stderr()}`)
  t.match(lines[0], pattern)
  t.notMatch(hub.stderr() + hub.stdout(), /\n\s+at /, 'no stack trace')
  t.notOk((hub.stderr() + hub.stdout()).includes(PASSWORD), 'the password is not echoed')
}

t.test('--help prints the usage and every variable with its default, and exits 0 touching nothing', async (t) => {
  const dataDir = untouchedDataDir(t)
  const hub = runHub(t, ['--help'], { MCPHUB_DATA_DIR: dataDir, DATABASE_URL: 'postgres://127.0.0.1:1/none' })
  t.same(await hub.exit, { code: 0, signal: null })
  const help = hub.stdout()
  t.match(help, /^Usage: node server\.ts/)
  for (const name of Object.keys(EnvSchema.properties)) t.match(help, new RegExp(`^  ${name} `, 'm'), `${name} is listed`)
  t.match(help, /PORT +default 3000/)
  t.match(help, /LOG_FORMAT +\(unset\)/)
  t.match(help, /README\.md/)
  t.equal(hub.stderr(), '')
  t.notOk(existsSync(dataDir), 'the data dir is not created')
})

t.test('--version prints the package version and exits 0', async (t) => {
  const dataDir = untouchedDataDir(t)
  const hub = runHub(t, ['--version'], { MCPHUB_DATA_DIR: dataDir })
  t.same(await hub.exit, { code: 0, signal: null })
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(hub.stdout(), `${version}\n`)
  t.notOk(existsSync(dataDir))
})

t.test('an unknown argument is refused with exit 2, before anything starts', async (t) => {
  const dataDir = untouchedDataDir(t)
  const hub = runHub(t, ['--port', '8080'], { MCPHUB_DATA_DIR: dataDir })
  await failsWithOneLine(t, hub, /^unknown argument "--port": MCPHub is configured through environment variables; see node server\.ts --help$/, 2)
  t.equal(hub.stdout(), '')
  t.notOk(existsSync(dataDir))
})

t.test('a refused DATABASE_URL port: one line, exit 1', async (t) => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: `postgres://mcphub:${PASSWORD}@127.0.0.1:${port}/mcphub` })
  await failsWithOneLine(t, hub, new RegExp(`^DATABASE_URL: cannot connect to 127\\.0\\.0\\.1:${port} \\(connection refused\\): is PostgreSQL running there\\?`))
})

t.test('a wrong database password: one line naming the user, exit 1', async (t) => {
  // The local PostgreSQL trusts every connection: this one asks for a password and refuses it.
  const port = await passwordRefusingPostgres(t)
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: `postgres://mcphub:${PASSWORD}@127.0.0.1:${port}/mcphub` })
  await failsWithOneLine(t, hub, /^DATABASE_URL: password authentication failed for user "mcphub" on 127\.0\.0\.1:\d+: correct the user name and password in DATABASE_URL$/)
})

if (DRIVERS.includes('pg')) {
  t.test('a database that does not exist: one line saying how to create it, exit 1', async (t) => {
    const name = `mcphub_missing_${process.pid}`
    const hub = runHub(t, [], { MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: postgresUrl(name) })
    await failsWithOneLine(t, hub, new RegExp(`^DATABASE_URL: database "${name}" does not exist on [^ ]+: create it \\(createdb .*${name}\\)`))
  })
}

t.test('a port in use is said at once, before the database is opened', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const { port } = taken.address() as { port: number }
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: testConfig(t).dataDir, PORT: String(port), LOG_FORMAT: 'json' })
  await failsWithOneLine(t, hub, new RegExp(`^PORT ${port} is already in use on 127\\.0\\.0\\.1: stop the other process or set PORT to a free port$`))
  t.notMatch(hub.stdout(), /opening the embedded database/, 'nothing was started')
})

t.test('a port taken during the start: the hub closes, then says so in one line', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  const { port } = taken.address() as { port: number }
  await new Promise((resolve) => taken.close(resolve))
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: await embeddedDataDir(t), PORT: String(port), LOG_FORMAT: 'json' })
  // Free when it was checked; taken while the database is being migrated.
  await hub.waitFor(/database open: checking its migrations/)
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  await failsWithOneLine(t, hub, new RegExp(`^PORT ${port} is already in use on 127\\.0\\.0\\.1: stop the other process`))
  t.notMatch(hub.stdout(), /Server listening/)
})

t.test('a normal start says what it does, in order, up to the servers it started', async (t) => {
  const dataDir = testConfig(t).dataDir
  const settings = join(dataDir, 'mcp_settings.json')
  writeFileSync(settings, JSON.stringify({ mcpServers: { fixture: { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' } } } }))
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: dataDir, MCPHUB_SETTINGS_FILE: settings, LOG_FORMAT: 'json' })
  await hub.waitFor(/MCP servers started: 1 of 1 running/)
  const messages = hub.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { msg: string }).msg)
  const expected = [
    `opening the embedded database at ${join(dataDir, 'pglite')}`,
    'database open: checking its migrations',
    /^database migrations applied: (\d+) of \1$/,
    'first admin created',
    'starting 1 enabled MCP server in the background',
    /^Server listening at http:\/\/127\.0\.0\.1:\d+$/,
    'MCP servers started: 1 of 1 running'
  ]
  let at = 0
  for (const want of expected) {
    const found = messages.findIndex((msg, index) => index >= at && (typeof want === 'string' ? msg === want : want.test(msg)))
    t.ok(found >= 0, `logged, in order: ${String(want)}`)
    if (found >= 0) at = found + 1
  }
  hub.child.kill('SIGTERM')
  t.equal((await hub.exit).code, 0)

  const again = runHub(t, [], { MCPHUB_DATA_DIR: dataDir, LOG_FORMAT: 'json' })
  await again.waitFor(/Server listening at/)
  t.match(again.stdout(), /"msg":"database schema up to date"/, 'the second start has nothing to migrate')
  again.child.kill('SIGTERM')
  t.equal((await again.exit).code, 0)
})

t.test('LOG_FORMAT=pretty writes human-readable lines', async (t) => {
  const hub = runHub(t, [], { MCPHUB_DATA_DIR: await embeddedDataDir(t), LOG_FORMAT: 'pretty', MCPHUB_ADMIN_PASSWORD: 'entry-point-test-password' })
  await hub.waitFor(/INFO.*: Server listening at http:\/\/127\.0\.0\.1:\d+/)
  t.match(hub.stdout(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: opening the embedded database at /m)
  t.notMatch(hub.stdout(), /^\{/m, 'no JSON line')
  hub.child.kill('SIGTERM')
  t.equal((await hub.exit).code, 0)
})
