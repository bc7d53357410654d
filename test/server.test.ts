import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DRIVERS, emptyPostgresDatabase, processAlive, testConfig } from './helper.ts'
import { startTcpProxy } from './tcp-proxy.ts'

const ROOT = new URL('..', import.meta.url).pathname

interface Running {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

/** Runs `node server.ts` as a user would, and waits until it listens. */
async function startServer (env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['server.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  const deadline = Date.now() + 30_000
  let url: string | undefined
  while (url === undefined && Date.now() < deadline) {
    url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1]
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`)
    if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (url === undefined) throw new Error('server did not start')
  return { child, url, stdout: () => stdout, stderr: () => stderr, exit }
}

t.test('a bad configuration stops the hub with one line per problem', async (t) => {
  const child = spawn(process.execPath, ['server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: 'eighty', LOG_LEVEL: 'loud', MCPHUB_JWT_SECRET: 'too-short', MCPHUB_DATA_DIR: testConfig(t).dataDir }
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr, /PORT: must be integer/)
  t.match(stderr, /LOG_LEVEL: must be one of/)
  t.match(stderr, /MCPHUB_JWT_SECRET: .*32/)
  t.notMatch(stderr, /too-short/, 'the rejected secret is not echoed')
})

t.test('the embedded default: starts, prints the admin password once, stops on SIGTERM with 0', async (t) => {
  const dataDir = testConfig(t).dataDir
  const server = await startServer({ MCPHUB_DATA_DIR: dataDir })
  t.teardown(() => server.child.kill('SIGKILL'))
  const health = await fetch(`${server.url}/healthz`)
  t.equal(health.status, 200)
  t.same(await (await fetch(`${server.url}/readyz`)).json(), { status: 'ready', database: 'pglite' })
  t.equal((await fetch(`${server.url}/docs/`)).status, 200)
  const password = /password: (\S+)/.exec(server.stdout())?.[1]
  t.ok(password && password.length >= 20, 'the generated password is printed')
  t.equal(server.stdout().split('password:').length, 2, 'exactly once')
  server.child.kill('SIGTERM')
  t.equal(await server.exit, 0)
  t.match(server.stdout(), /"signal":"SIGTERM".*shutting down/)

  const again = await startServer({ MCPHUB_DATA_DIR: dataDir })
  again.child.kill('SIGINT')
  t.equal(await again.exit, 0, 'SIGINT also exits 0')
  t.notMatch(again.stdout(), /password:/, 'the second start prints no password')
})

if (DRIVERS.includes('pg')) {
  t.test('SIGTERM lets an in-flight request finish before exiting 0', async (t) => {
    const url = new URL(await emptyPostgresDatabase(t))
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) })
    t.teardown(() => proxy.close())
    url.port = String(proxy.port)
    const server = await startServer({ MCPHUB_DATA_DIR: testConfig(t).dataDir, DATABASE_URL: url.toString(), MCPHUB_ADMIN_PASSWORD: 'server-test-password' })
    t.teardown(() => server.child.kill('SIGKILL'))

    proxy.delay(800)
    const inFlight = fetch(`${server.url}/readyz`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    server.child.kill('SIGTERM')
    const res = await inFlight
    t.equal(res.status, 200, 'the request under way completes')
    t.same(await res.json(), { status: 'ready', database: 'pg' })
    t.equal(await server.exit, 0)
    await t.rejects(fetch(`${server.url}/healthz`), 'no longer accepting connections')
  })
}

t.test('a hub killed with SIGKILL: its children see stdin EOF, and the next start reaps the rest', async (t) => {
  const dataDir = testConfig(t).dataDir
  const fixture = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
  const settings = join(dataDir, 'mcp_settings.json')
  writeFileSync(settings, JSON.stringify({
    mcpServers: {
      polite: { command: process.execPath, args: [fixture], env: { FIXTURE_MODE: 'normal' } },
      stubborn: { command: process.execPath, args: [fixture], env: { FIXTURE_MODE: 'ignore-term' } }
    }
  }))
  const env = { MCPHUB_DATA_DIR: dataDir, MCPHUB_SETTINGS_FILE: settings, MCPHUB_ADMIN_PASSWORD: 'server-test-password' }
  const groupsFile = join(dataDir, 'supervisor-groups.json')
  const runningGroups = async (count: number) => {
    for (let i = 0; i < 200; i++) {
      try {
        const groups = Object.values(JSON.parse(readFileSync(groupsFile, 'utf8')) as Record<string, number>)
        if (groups.length === count) return groups
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error('servers did not start')
  }
  const gone = async (pid: number) => {
    for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    return !processAlive(pid)
  }

  const first = await startServer(env)
  t.teardown(() => first.child.kill('SIGKILL'))
  const [politePid, stubbornPid] = await runningGroups(2)
  first.child.kill('SIGKILL')
  await first.exit
  t.ok(await gone(politePid!), 'a child that exits on stdin EOF is gone with its hub')
  t.ok(processAlive(stubbornPid!), 'one that ignores EOF outlives the killed hub')
  t.teardown(() => { try { process.kill(-stubbornPid!, 'SIGKILL') } catch {} })

  const second = await startServer(env)
  t.teardown(() => second.child.kill('SIGKILL'))
  t.ok(await gone(stubbornPid!), 'the next start reaps the left-over process group')
  t.match(second.stdout(), /killed MCP server processes left over by a previous run/)
  const restarted = await runningGroups(2)
  second.child.kill('SIGTERM')
  t.equal(await second.exit, 0)
  for (const pid of restarted) t.ok(await gone(pid), 'children stop with the hub')
})
