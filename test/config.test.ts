import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { isWideBind, loadConfig, parseEnv } from '../lib/config.ts'
import { DRIVERS, emptyPostgresDatabase, postgresAdmin, testConfig } from './helper.ts'
import { problemsOf } from './helpers/config.ts'

t.test('defaults', async (t) => {
  const dataDir = testConfig(t).dataDir
  const config = loadConfig({ MCPHUB_DATA_DIR: dataDir })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.databaseUrl, undefined, 'the embedded database')
  t.equal(config.dataDir, dataDir)
  t.equal(config.adminUsername, 'admin')
  t.equal(config.adminPassword, undefined, 'no default password')
  t.equal(config.logLevel, 'info')
  t.equal(config.logFormat, undefined, 'pretty on a terminal, JSON otherwise')
  t.same(config.rateLimits, { anonymous: 100, user: 1000, admin: 5000, mcp: 6000 })
  t.equal(config.redisUrl, undefined)
  t.same(config.allowedHosts, ['localhost', '127.0.0.1', '[::1]'], 'bound to loopback: only loopback names')
  t.equal(loadConfig({ MCPHUB_DATA_DIR: dataDir, HOST: '0.0.0.0' }).allowedHosts, undefined, 'bound wider: set MCPHUB_ALLOWED_HOSTS')
  t.same(loadConfig({ MCPHUB_DATA_DIR: dataDir, MCPHUB_ALLOWED_HOSTS: 'hub.example.com,localhost' }).allowedHosts, ['hub.example.com', 'localhost'])
  t.same(Object.keys(config.childBaseEnv).filter((key) => !['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'].includes(key)), [])
  t.equal(parseEnv({}).MCPHUB_DATA_DIR, './data')
  t.same(config.wsAllowedOrigins, [], 'pages of the hub\'s own origin only')
  t.equal(config.wsMaxSocketsPerUser, 16)
})

t.test('the /ws origins and socket cap are read; what is not an origin is refused', async (t) => {
  const config = loadConfig({ MCPHUB_DATA_DIR: testConfig(t).dataDir, MCPHUB_WS_ALLOWED_ORIGINS: 'https://Dash.example.com,http://localhost:5173', MCPHUB_WS_MAX_SOCKETS_PER_USER: '4' })
  t.same(config.wsAllowedOrigins, ['https://dash.example.com', 'http://localhost:5173'], 'normalized as browsers send them')
  t.equal(config.wsMaxSocketsPerUser, 4)
  t.match(problemsOf({ MCPHUB_WS_ALLOWED_ORIGINS: 'https://dash.example.com/app' }), [/^MCPHUB_WS_ALLOWED_ORIGINS: must match pattern/], 'a path is not part of an origin')
  t.same(problemsOf({ MCPHUB_WS_ALLOWED_ORIGINS: 'https://dash.example.com:99999' }), ['MCPHUB_WS_ALLOWED_ORIGINS: https://dash.example.com:99999 is not an origin (scheme://host[:port])'])
  t.match(problemsOf({ MCPHUB_WS_MAX_SOCKETS_PER_USER: '0' }), [/^MCPHUB_WS_MAX_SOCKETS_PER_USER: /])
})

t.test('values are read and converted', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgres://u:p@db:5432/hub',
    MCPHUB_DATA_DIR: testConfig(t).dataDir,
    MCPHUB_JWT_SECRET: 'k'.repeat(40),
    MCPHUB_ADMIN_USERNAME: 'root',
    MCPHUB_ADMIN_PASSWORD: 'a-long-enough-password',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
    UNRELATED: 'ignored'
  })
  t.equal(config.port, 8080)
  t.equal(config.databaseUrl, 'postgres://u:p@db:5432/hub')
  t.equal(config.jwtSecret, 'k'.repeat(40))
  t.equal(config.adminUsername, 'root')
  t.equal(config.adminPassword, 'a-long-enough-password')
  t.equal(config.logLevel, 'debug')
  t.equal(config.logFormat, 'json')
})

t.test('one clear error per bad value, secrets not echoed', async (t) => {
  const problems = problemsOf({
    PORT: '70000',
    DATABASE_URL: 'mysql://localhost/db',
    MCPHUB_JWT_SECRET: 'short-secret',
    MCPHUB_ADMIN_USERNAME: 'has spaces',
    MCPHUB_ADMIN_PASSWORD: 'short',
    LOG_LEVEL: 'verbose'
  })
  t.equal(problems.length, 6)
  t.match(problems, [/^PORT: /, /^DATABASE_URL: /, /^MCPHUB_JWT_SECRET: /, /^MCPHUB_ADMIN_USERNAME: /, /^MCPHUB_ADMIN_PASSWORD: /, /^LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/])
  t.notOk(problems.join('\n').includes('short-secret'))
  t.notOk(problems.join('\n').match(/"short"/))
  t.same(problemsOf({ PORT: 'abc' }), ['PORT: must be integer, got "abc"'])
  t.same(problemsOf({ LOG_FORMAT: 'yaml' }), ['LOG_FORMAT: must be one of pretty, json, got "yaml"'])
})

t.test('a published example JWT secret is refused even though it is long', async (t) => {
  const problems = problemsOf({ MCPHUB_JWT_SECRET: 'your-super-secret-jwt-key-change-in-production' })
  t.equal(problems.length, 1)
  t.match(problems[0], /example value/)
})

t.test('without MCPHUB_JWT_SECRET a secret is generated once and kept in the data dir', async (t) => {
  const dataDir = testConfig(t).dataDir
  const first = loadConfig({ MCPHUB_DATA_DIR: dataDir })
  const second = loadConfig({ MCPHUB_DATA_DIR: dataDir })
  t.ok(first.jwtSecret.length >= 32)
  t.equal(second.jwtSecret, first.jwtSecret, 'the same secret across restarts')
  const file = join(dataDir, 'jwt-secret')
  t.equal(readFileSync(file, 'utf8').trim(), first.jwtSecret)
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by the hub only')
  const other = loadConfig({ MCPHUB_DATA_DIR: testConfig(t).dataDir })
  t.not(other.jwtSecret, first.jwtSecret, 'another hub gets another secret')
})

t.test('binding beyond loopback is recognised (it logs a warning)', async (t) => {
  t.notOk(isWideBind('127.0.0.1'))
  t.notOk(isWideBind('::1'))
  t.ok(isWideBind('0.0.0.0'))
  t.ok(isWideBind('::'))
})

/** What node-postgres makes of a connection string, without connecting. */
function pgParts (url: string | undefined) {
  const client = new pg.Client({ connectionString: url })
  return { host: client.host, port: client.port, user: client.user, password: client.password, database: client.database }
}

const AWKWARD = 'p@ss:w/rd#?% &=+$,;[]é'

t.test('PGHOST selects PostgreSQL; the PG* parts, any password included, reach pg intact', async (t) => {
  const dataDir = testConfig(t).dataDir
  const parts = { PGHOST: 'db', PGPORT: '5433', PGUSER: 'hub:user@x/y#z', PGPASSWORD: AWKWARD, PGDATABASE: 'hub db' }
  t.same(pgParts(loadConfig({ MCPHUB_DATA_DIR: dataDir, ...parts }).databaseUrl),
    { host: 'db', port: 5433, user: 'hub:user@x/y#z', password: AWKWARD, database: 'hub db' })
  t.match(pgParts(loadConfig({ MCPHUB_DATA_DIR: dataDir, PGHOST: '/var/run/postgresql', PGDATABASE: 'hub' }).databaseUrl),
    { host: '/var/run/postgresql', database: 'hub' }, 'a Unix socket directory')
  t.match(pgParts(loadConfig({ MCPHUB_DATA_DIR: dataDir, PGHOST: '::1', PGPASSWORD: AWKWARD }).databaseUrl),
    { host: '::1', password: AWKWARD }, 'an IPv6 address, a password without a user')
  t.equal(loadConfig({ MCPHUB_DATA_DIR: dataDir, PGUSER: 'hub', PGPASSWORD: 'x' }).databaseUrl, undefined, 'no PGHOST: the embedded database')
  t.equal(loadConfig({ MCPHUB_DATA_DIR: dataDir, ...parts, DATABASE_URL: 'postgres://u@h/d' }).databaseUrl, 'postgres://u@h/d', 'DATABASE_URL wins')
  t.same(problemsOf({ PGPORT: 'x', PGDATABASE: 'a/b', PGPASSWORD: 'ignored', PGHOST: '' }).map((line) => line.replace(/:.*/, '')), ['PGPORT', 'PGDATABASE'])
})

if (DRIVERS.includes('pg')) {
  t.test('a hub configured by PG* variables connects to PostgreSQL as a user with an awkward name', async (t) => {
    const url = new URL(await emptyPostgresDatabase(t))
    const role = `hub@${process.pid}:a/b#c`
    await postgresAdmin(`create role "${role}" login password '${AWKWARD.replaceAll("'", "''")}'`)
    t.teardown(() => postgresAdmin(`drop role if exists "${role}"`))
    const config = loadConfig({
      MCPHUB_DATA_DIR: testConfig(t).dataDir,
      PGHOST: url.hostname,
      PGPORT: url.port || '5432',
      PGUSER: role,
      PGPASSWORD: AWKWARD,
      PGDATABASE: url.pathname.slice(1)
    })
    const client = new pg.Client({ connectionString: config.databaseUrl })
    await client.connect()
    t.teardown(() => client.end())
    const { rows } = await client.query('select current_user as user, current_database() as database')
    t.same(rows, [{ user: role, database: url.pathname.slice(1) }])
  })
}

t.test('a webhook preset needs its signing secret, in the Standard Webhooks form', async (t) => {
  t.same(problemsOf({ MCPHUB_WEBHOOK_URL: 'https://hooks.example.com/mcphub' }), ['MCPHUB_WEBHOOK_SECRET: is required with MCPHUB_WEBHOOK_URL, to sign what it receives; generate one with `echo whsec_$(openssl rand -base64 32)`'])
  const problems = problemsOf({ MCPHUB_WEBHOOK_URL: 'https://hooks.example.com/mcphub', MCPHUB_WEBHOOK_SECRET: 'not-a-canary-but-not-whsec' })
  t.equal(problems.length, 1)
  t.match(problems[0], /^MCPHUB_WEBHOOK_SECRET: .*got \(hidden\)$/, 'a bad secret is named, never shown')
  t.same(problemsOf({ MCPHUB_WEBHOOK_URL: 'https://hooks.example.com/mcphub', MCPHUB_WEBHOOK_SECRET: `whsec_${Buffer.alloc(24, 7).toString('base64')}` }), [])
})
