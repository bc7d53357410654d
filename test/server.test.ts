import { existsSync, readFileSync, watch, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { DRIVERS, embeddedDataDir, emptyPostgresDatabase, testConfig } from './helper.ts'
import { endHubChildren, isRunning, startProcess, type Tracked } from './helpers/processes.ts'
import { startTcpProxy } from './tcp-proxy.ts'
import { processesWithEnv } from '../supervisor/process-group.ts'
import { HUB_ID_VARIABLE } from '../supervisor/supervisor.ts'

type Tap = Parameters<typeof startProcess>[0]

// Each test runs real hubs: on a loaded two-core machine one start alone can take 20 s.
t.setTimeout(360_000)

const ROOT = new URL('..', import.meta.url).pathname
const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

/**
 * Runs `node server.ts` as a user would. The hub, and every process it starts, end with the
 * test however it ends.
 */
function spawnHub (t: Tap, env: Record<string, string>): Tracked {
  if (env.MCPHUB_DATA_DIR !== undefined) endHubChildren(t, env.MCPHUB_DATA_DIR)
  return startProcess(t, process.execPath, ['server.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } })
}

/** A hub that listens: waits for its log line, however long a busy machine takes. */
async function startHub (t: Tap, env: Record<string, string>): Promise<Tracked & { url: string }> {
  const hub = spawnHub(t, env)
  const [, url] = await hub.waitFor(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  return { ...hub, url: url! }
}

/** Resolves when the file exists; rejects if `exit` settles first. */
function fileAppears (file: string, exit: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(join(file, '..'), () => { if (existsSync(file)) done() })
    const done = (error?: Error) => {
      watcher.close()
      if (error === undefined) resolve()
      else reject(error)
    }
    exit.then(() => done(new Error(`exited before ${file} appeared`)), done)
    if (existsSync(file)) done()
  })
}

/** The hub's id and its recorded process groups, as its supervisor last wrote them. */
function hubState (dataDir: string): { hub: string, groups: Record<string, number> } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'supervisor-groups.json'), 'utf8'))
  } catch {
    return undefined // not written yet, or being rewritten
  }
}

/** Every process started by the hub of this data dir that still runs, wherever it went. */
function hubProcesses (dataDir: string): number[] {
  const state = hubState(dataDir)
  if (state === undefined) throw new Error(`no hub id in ${dataDir}`)
  return processesWithEnv([`${HUB_ID_VARIABLE}=${state.hub}`])
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls (the processes are not ours to wait on) until the process is gone. */
async function gone (pid: number): Promise<true> {
  while (isRunning(pid)) await sleep(20)
  return true
}

/** Polls until the pid file has been written; returns the pid in it. */
async function pidIn (file: string): Promise<number> {
  for (;;) {
    try {
      const pid = Number(readFileSync(file, 'utf8'))
      if (pid > 0) return pid
    } catch {}
    await sleep(20)
  }
}

t.test('a bad configuration stops the hub with one line per problem', async (t) => {
  const hub = spawnHub(t, { PORT: 'eighty', LOG_LEVEL: 'loud', MCPHUB_JWT_SECRET: 'too-short', MCPHUB_DATA_DIR: testConfig(t).dataDir })
  t.equal((await hub.exit).code, 1)
  t.match(hub.stderr(), /PORT: must be integer/)
  t.match(hub.stderr(), /LOG_LEVEL: must be one of/)
  t.match(hub.stderr(), /MCPHUB_JWT_SECRET: .*32/)
  t.notMatch(hub.stderr(), /too-short/, 'the rejected secret is not echoed')
})

t.test('the embedded default: starts, prints the admin password once, stops on SIGTERM with 0', async (t) => {
  const dataDir = testConfig(t).dataDir
  const server = await startHub(t, { MCPHUB_DATA_DIR: dataDir })
  const health = await fetch(`${server.url}/healthz`)
  t.equal(health.status, 200)
  t.same(await (await fetch(`${server.url}/readyz`)).json(), { status: 'ready', database: 'pglite' })
  t.equal((await fetch(`${server.url}/docs/`)).status, 200)
  const password = /password: (\S+)/.exec(server.stdout())?.[1]
  t.ok(password && password.length >= 20, 'the generated password is printed')
  t.equal(server.stdout().split('password:').length, 2, 'exactly once')
  server.child.kill('SIGTERM')
  t.equal((await server.exit).code, 0)
  t.match(server.stdout(), /"signal":"SIGTERM".*shutting down/)

  const again = await startHub(t, { MCPHUB_DATA_DIR: dataDir })
  again.child.kill('SIGINT')
  t.equal((await again.exit).code, 0, 'SIGINT also exits 0')
  t.notMatch(again.stdout(), /password:/, 'the second start prints no password')
})

if (DRIVERS.includes('pg')) {
  t.test('SIGTERM lets an in-flight request finish before exiting 0', async (t) => {
    const url = new URL(await emptyPostgresDatabase(t))
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) })
    t.teardown(() => proxy.close())
    url.port = String(proxy.port)
    const server = await startHub(t, { MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: url.toString(), MCPHUB_ADMIN_PASSWORD: 'server-test-password' })

    proxy.delay(800)
    const inFlight = fetch(`${server.url}/readyz`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    server.child.kill('SIGTERM')
    const res = await inFlight
    t.equal(res.status, 200, 'the request under way completes')
    t.same(await res.json(), { status: 'ready', database: 'pg' })
    t.equal((await server.exit).code, 0)
    await t.rejects(fetch(`${server.url}/healthz`), 'no longer accepting connections')
  })
}

t.test('SIGTERM while the hub is starting closes it with 0, and no server is left running', async (t) => {
  const dataDir = await embeddedDataDir(t)
  const settings = join(dataDir, 'mcp_settings.json')
  writeFileSync(settings, JSON.stringify({ mcpServers: { fixture: { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' } } } }))
  const hub = spawnHub(t, { MCPHUB_DATA_DIR: dataDir, MCPHUB_SETTINGS_FILE: settings, MCPHUB_ADMIN_PASSWORD: 'server-test-password' })
  // Written while the app is being built: the database is migrated, the servers are about to start.
  await fileAppears(join(dataDir, 'supervisor-groups.json'), hub.exit)
  hub.child.kill('SIGTERM')
  t.same(await hub.exit, { code: 0, signal: null }, 'it closes and exits 0 (not killed by the signal)')
  t.match(hub.stdout() + hub.stderr(), /shutting down|stopped while starting/)
  t.same(hubProcesses(dataDir), [], 'no process of its servers runs')
})

if (DRIVERS.includes('pg')) {
  t.test('SIGTERM while the hub gets ready: it closes before it ever listens', async (t) => {
    const url = new URL(await emptyPostgresDatabase(t))
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) })
    t.teardown(() => proxy.close())
    url.port = String(proxy.port)
    const dataDir = testConfig(t).dataDir
    const settings = join(dataDir, 'mcp_settings.json')
    writeFileSync(settings, JSON.stringify({ mcpServers: { fixture: { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' } } } }))
    const hub = spawnHub(t, { MCPHUB_DATA_DIR: dataDir, DATABASE_URL: url.toString(), MCPHUB_SETTINGS_FILE: settings, MCPHUB_ADMIN_PASSWORD: 'server-test-password' })
    await fileAppears(join(dataDir, 'supervisor-groups.json'), hub.exit)
    // What is left of the start (importing the settings file, listing the servers) now takes seconds.
    proxy.delay(1000)
    hub.child.kill('SIGTERM')
    t.same(await hub.exit, { code: 0, signal: null })
    t.notMatch(hub.stdout(), /Server listening/, 'it never listened')
    t.same(hubProcesses(dataDir), [], 'no process of its servers runs')
  })
}

t.test('SIGTERM while the database does not answer: the hub exits promptly, with 0', async (t) => {
  // A "database" that accepts connections and never answers: the hub waits in its migration.
  const sockets = new Set<Socket>()
  let connected: () => void
  const connection = new Promise<void>((resolve) => { connected = resolve })
  const silent = createServer((socket) => {
    sockets.add(socket)
    connected()
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const port = (silent.address() as { port: number }).port
  const hub = spawnHub(t, { MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: `postgres://mcphub@127.0.0.1:${port}/mcphub`, MCPHUB_ADMIN_PASSWORD: 'server-test-password' })
  await connection
  const signalled = Date.now()
  hub.child.kill('SIGTERM')
  t.same(await hub.exit, { code: 0, signal: null })
  const took = Date.now() - signalled
  t.ok(took < 15_000, `exited ${took} ms after SIGTERM, without waiting for the database (nor the 20 s shutdown bound)`)
  t.match(hub.stderr(), /SIGTERM: stopped while starting/)
})

t.test('after a hub is killed with SIGKILL, the next start ends every process its servers left', async (t) => {
  const dataDir = await embeddedDataDir(t)
  const pidFile = (name: string) => join(dataDir, `${name}.pid`)
  const settings = join(dataDir, 'mcp_settings.json')
  const server = (mode: string, name = mode) => ({ command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: mode, FIXTURE_PID_FILE: pidFile(name) } })
  writeFileSync(settings, JSON.stringify({
    mcpServers: {
      polite: server('normal'),
      stubborn: server('ignore-term'),
      family: server('grandchild', 'family'),
      escaper: server('setsid-grandchild', 'escaper')
    }
  }))
  const env = { MCPHUB_DATA_DIR: dataDir, MCPHUB_SETTINGS_FILE: settings, MCPHUB_ADMIN_PASSWORD: 'server-test-password' }
  /** Once the four servers run and their grandchildren are there: the pid of each. */
  const running = async () => {
    const grandchildren = { family: await pidIn(pidFile('family')), escaper: await pidIn(pidFile('escaper')) }
    let groups: number[] = []
    while (groups.length < 4) {
      groups = Object.values(hubState(dataDir)?.groups ?? {})
      await sleep(20)
    }
    const modeOf = (pid: number) => /(?:^|\0)FIXTURE_MODE=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1]
    const children = Object.fromEntries(groups.map((pid) => [modeOf(pid), pid]))
    return { ...grandchildren, polite: children.normal!, stubborn: children['ignore-term']!, parent: children.grandchild!, all: groups }
  }

  const first = await startHub(t, env)
  const { polite, stubborn, parent, family, escaper } = await running()
  first.child.kill('SIGKILL')
  await first.exit
  t.ok(await gone(polite), 'a child that exits on stdin EOF is gone with its hub')
  t.ok(await gone(parent), 'so is the grandchild\'s parent, the leader of its group')
  t.ok(isRunning(stubborn), 'a child that ignores EOF outlives the killed hub')
  t.ok(isRunning(family), 'a grandchild in the group outlives its leader')
  t.ok(isRunning(escaper), 'a grandchild that left the group (setsid) outlives everything')

  for (const name of ['family', 'escaper']) writeFileSync(pidFile(name), '')
  const second = await startHub(t, env)
  t.match(second.stdout(), /"reaped":3,.*killed MCP server processes left over by a previous run/)
  for (const [what, pid] of Object.entries({ stubborn, family, escaper })) t.ok(await gone(pid), `the ${what} left over is gone`)

  const again = await running()
  second.child.kill('SIGTERM')
  t.equal((await second.exit).code, 0)
  for (const pid of [...again.all, again.family, again.escaper]) t.ok(await gone(pid), `${pid} stopped with the hub`)
  t.same(hubProcesses(dataDir), [], 'a normal stop leaves nothing either, a setsid grandchild included')
})
