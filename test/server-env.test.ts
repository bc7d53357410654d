import { tmpdir } from 'node:os'
import t from 'tap'
import type { App } from '../app.ts'
import { servers } from '../db/schema.ts'
import { build, DRIVERS, signIn, type SignedIn } from './helper.ts'

// What a server may be configured with: variables that run code or redirect a package manager
// are refused by family, NUL bytes are refused everywhere (the spawn would fail), and a stored
// record that cannot be spawned (written before these checks) never holds up the hub.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const POLICY = { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 }

function fixture (name: string, extra: object = {}) {
  return { name, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' }, enabled: false, ...extra }
}

/** Each key is refused, whatever its case. */
const REFUSED_KEYS = [
  'GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0', 'GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG',
  'GIT_ASKPASS', 'SSH_ASKPASS', 'GIT_PROXY_COMMAND', 'GIT_EXTERNAL_DIFF', 'GIT_PAGER', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR',
  'GIT_EXEC_PATH', 'GIT_SSH_COMMAND', 'PAGER', 'MANPAGER', 'EDITOR', 'VISUAL', 'BROWSER', 'LESSOPEN',
  'npm_config_registry', 'npm_config_script_shell', 'NPM_CONFIG_REGISTRY', 'Npm_Config_Userconfig',
  'SHELLOPTS', 'BASHOPTS', 'ZDOTDIR', 'UV_INDEX_URL', 'UV_EXTRA_INDEX_URL', 'UV_DEFAULT_INDEX', 'UV_INDEX', 'UV_FIND_LINKS',
  'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'pip_config_file', 'NODE_OPTIONS', 'LD_PRELOAD', 'PYTHONSTARTUP', 'BASH_ENV'
]

/** Neighbours of the refused families that configure nothing executable. */
const ALLOWED_KEYS = ['GIT_AUTHOR_NAME', 'GIT_COMMITTER_EMAIL', 'GITHUB_TOKEN', 'NPM_TOKEN', 'UV_CACHE_DIR', 'PAGERDUTY_KEY', 'EDITOR_THEME', 'MY_PIP_NOTE']

async function post (app: App, admin: SignedIn, url: string, payload: object) {
  const res = await app.inject({ method: 'POST', url, headers: admin.headers, payload })
  return { status: res.statusCode, body: res.json() }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: variables that run code or redirect package indexes are refused`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)
    for (const key of REFUSED_KEYS) {
      const res = await post(app, admin, '/api/servers', fixture('refused', { env: { [key]: 'x' } }))
      t.equal(res.status, 422, key)
      t.match(res.body.error, { code: 'VALIDATION_ERROR', details: { field: `env.${key}` } }, key)
    }
    t.equal((await app.db.select().from(servers)).length, 0, 'nothing was created')
    for (const [n, key] of ALLOWED_KEYS.entries()) {
      t.equal((await post(app, admin, '/api/servers', fixture(`allowed-${n}`, { env: { [key]: 'x' } }))).status, 201, key)
    }
  })

  t.test(`${driver}: NUL bytes are refused in command, args, env and cwd, on create, update and import`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)
    const cases: Array<[object, string]> = [
      [{ env: { X: 'a\u0000b' } }, 'env.X'],
      // A bad key is reported as its object: the field name never echoes the NUL.
      [{ env: { 'X\u0000Y': 'b' } }, 'env'],
      [{ args: [FIXTURE, 'a\u0000b'] }, 'args.1'],
      [{ cwd: `${tmpdir()}\u0000x` }, 'cwd'],
      [{ command: `${process.execPath}\u0000x` }, 'command']
    ]
    for (const [change, field] of cases) {
      const created = await post(app, admin, '/api/servers', fixture('nul', change))
      t.equal(created.status, 422, `create ${field}`)
      t.match(created.body.error, { code: 'VALIDATION_ERROR', details: { field } })
      const imported = await post(app, admin, '/api/servers/import', { mcpServers: { ok: { command: process.execPath }, nul: { command: process.execPath, ...change } } })
      t.equal(imported.status, 422, `import ${field}`)
      t.match(imported.body.error, { code: 'VALIDATION_ERROR', details: { field: `mcpServers.nul.${field}` } })
    }
    t.equal((await app.db.select().from(servers)).length, 0, 'nothing was created')
    const fine = await post(app, admin, '/api/servers', fixture('fine'))
    for (const [change, field] of cases) {
      const res = await app.inject({ method: 'PUT', url: `/api/servers/${fine.body.data.id}`, headers: admin.headers, payload: change })
      t.equal(res.statusCode, 422, `update ${field}`)
      t.equal(res.json().error.details.field, field)
    }
    const [row] = await app.db.select().from(servers)
    t.same(row!.args, [FIXTURE], 'refused updates changed nothing')
  })

  t.test(`${driver}: a stored record that cannot be spawned ends in error; stop, delete and close answer at once`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: POLICY })
    const admin = await signIn(app)
    // As a record stored before NUL bytes were refused would be.
    const [row] = await app.db.insert(servers).values({
      name: 'old-record',
      key: 'old_record',
      command: process.execPath,
      args: [FIXTURE],
      env: { FIXTURE_MODE: app.auth.secrets.seal('normal'), X: app.auth.secrets.seal('a\u0000b') },
      enabled: true
    }).returning()
    const url = `/api/servers/${row!.id}`
    const began = Date.now()
    const started = await app.inject({ method: 'POST', url: `${url}/start`, headers: admin.headers })
    t.equal(started.statusCode, 200)
    t.match(started.json().data, { status: 'error', lastError: /a NUL character/ })
    const stopped = await app.inject({ method: 'POST', url: `${url}/stop`, headers: admin.headers })
    t.equal(stopped.json().data.status, 'stopped')
    t.equal((await app.inject({ method: 'POST', url: `${url}/restart`, headers: admin.headers })).json().data.status, 'error')
    t.equal((await app.inject({ method: 'DELETE', url, headers: admin.headers })).statusCode, 204)
    await app.close()
    t.ok(Date.now() - began < 3000, `start, stop, restart, delete and close answered in ${Date.now() - began} ms`)
  })
}
