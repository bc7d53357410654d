import { randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { processAlive } from './helper.ts'
import { isRunning, startProcess } from './helpers/processes.ts'
import { childBaseEnv } from '../lib/config.ts'
import { DEFAULT_POLICY, ManagedServer, type ServerSpec, type SupervisorPolicy } from '../supervisor/managed-server.ts'
import { groupAlive } from '../supervisor/process-group.ts'
import { HUB_ID_VARIABLE, Supervisor } from '../supervisor/supervisor.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const FAST: SupervisorPolicy = { ...DEFAULT_POLICY, startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000, backoffBaseMs: 100, backoffJitter: 0 }
function spec (mode: string, extra: Partial<ServerSpec> = {}, env: Record<string, string> = {}): ServerSpec {
  return { id: randomUUID(), name: `fixture-${mode}`, key: `fixture-${mode}`, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: mode, ...env }, cwd: null, enabled: false, ...extra }
}

function managed (t: Tap, serverSpec: ServerSpec, policy: Partial<SupervisorPolicy> = {}): ManagedServer {
  const server = new ManagedServer(serverSpec, { ...FAST, ...policy }, {
    baseEnv: childBaseEnv(process.env),
    onStatus: () => {},
    onResourceUpdated: () => {},
    onCatalog: () => {},
    onProcessGroup: () => {}
  })
  t.teardown(() => server.stop({ graceful: false }))
  return server
}
type Tap = { teardown(fn: () => unknown): void }

async function until (check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}
/** Processes on this machine carrying a server's marker in their environment. */
function processesOf (serverId: string): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`MCPHUB_SERVER_ID=${serverId}`) } catch { return false }
  }).map(Number)
}
const messages = (server: ManagedServer) => server.logs.entries().map((entry) => `${entry.source}/${entry.level}: ${entry.message}`)

t.test('start → running with a pid and the catalog; stop → stopped, nothing left', async (t) => {
  const server = managed(t, spec('normal'))
  await server.start()
  const status = server.status()
  t.equal(status.state, 'running')
  t.ok(status.pid && processAlive(status.pid))
  t.same(server.catalog.tools.map((tool) => tool.name), ['echo', 'add', 'env', 'log', 'add_tool', 'slow'])
  t.same(server.catalog.prompts.map((prompt) => prompt.name), ['greet'])
  t.equal(server.catalog.resources.length, 1)
  t.same((await server.client!.callTool({ name: 'echo', arguments: { text: 'hi' } })).content, [{ type: 'text', text: 'hi' }])
  await server.stop()
  t.equal(server.state, 'stopped')
  t.equal(server.status().pid, null)
  t.notOk(processAlive(status.pid!), 'the child is gone')
  t.match(messages(server).join('\n'), /started pid \d+[\s\S]*running: 6 tools[\s\S]*exited with code 0[\s\S]*stopped/)
})

t.test('a child that ignores SIGTERM is killed within the timeout', async (t) => {
  const server = managed(t, spec('ignore-term'))
  await server.start()
  const pid = server.status().pid!
  const started = Date.now()
  await server.stop({ graceful: true, timeoutMs: 800 })
  const took = Date.now() - started
  t.notOk(processAlive(pid))
  t.ok(took >= 800 && took < 3000, `stopped in ${took} ms (stdin grace + 800 ms timeout, then SIGKILL)`)
  t.match(messages(server).join('\n'), /did not stop within 800 ms of SIGTERM; killing/)
  t.match(server.status().lastExit?.signal, 'SIGKILL')
})

t.test('graceful: false kills at once', async (t) => {
  const server = managed(t, spec('ignore-term'))
  await server.start()
  const started = Date.now()
  await server.stop({ graceful: false })
  t.ok(Date.now() - started < 1000)
  t.equal(server.state, 'stopped')
})

t.test('the grandchild dies with the group: on stop, and when the child exits by itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mcphub-gc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pidFile = join(dir, 'pid')
  const server = managed(t, spec('grandchild', {}, { FIXTURE_PID_FILE: pidFile }))
  await server.start()
  const pid = server.status().pid!
  t.ok(await until(() => { try { return readFileSync(pidFile, 'utf8').trim() !== '' } catch { return false } }))
  const grandchild = Number(readFileSync(pidFile, 'utf8'))
  t.ok(processAlive(grandchild))
  await server.stop()
  t.ok(await until(() => !processAlive(grandchild), 3000), 'grandchild gone after stop')
  t.notOk(groupAlive(pid), 'no process of the group is left')
  t.same(processesOf(server.spec.id), [])

  rmSync(pidFile, { force: true })
  await server.start()
  t.ok(await until(() => { try { return readFileSync(pidFile, 'utf8').trim() !== '' } catch { return false } }))
  const second = Number(readFileSync(pidFile, 'utf8'))
  process.kill(server.status().pid!, 'SIGKILL')
  t.ok(await until(() => !processAlive(second), 3000), 'the grandchild of a crashed child is reaped too')
})

t.test('crashes back off exponentially, then give up in error', async (t) => {
  const server = managed(t, spec('crash-after-init', { enabled: true }), { backoffBaseMs: 100, maxFailures: 4 })
  const restarts: number[] = []
  server.logs.subscribe((entry) => { if (/restarting in \d+/.test(entry.message)) restarts.push(Number(/restarting in (\d+)/.exec(entry.message)![1])) })
  await server.start()
  t.ok(await until(() => server.state === 'error', 10_000), 'ends in error')
  t.same(restarts, [100, 200, 400], 'delays double: 100, 200, 400 ms (no jitter in this test)')
  t.match(server.status().lastError, /gave up after 4 failures/)
  t.equal(server.status().restartCount, 3)
  t.equal(server.status().nextRetryAt, null)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(server.state, 'error', 'stays in error')
  t.same(processesOf(server.spec.id), [], 'no child left')
})

t.test('a run that lasted long enough clears earlier failures', async (t) => {
  // Each run lasts ~400 ms; counting runs of 50 ms as healthy (a wide margin on a busy machine), no failure ever accumulates.
  const server = managed(t, spec('crash-after-init', { enabled: true }, { FIXTURE_CRASH_MS: '400' }), { backoffBaseMs: 50, maxFailures: 2, healthyAfterMs: 50 })
  const delays: number[] = []
  server.logs.subscribe((entry) => { if (/restarting in \d+/.test(entry.message)) delays.push(Number(/restarting in (\d+)/.exec(entry.message)![1])) })
  await server.start()
  t.ok(await until(() => delays.length >= 4, 10_000), 'keeps restarting')
  t.same(delays.slice(0, 4), [50, 50, 50, 50], 'always the first delay: the count was reset')
  t.not(server.state, 'error')
  await server.stop({ graceful: false })
})

t.test('jitter keeps delays within ±20%', async (t) => {
  const server = managed(t, spec('crash-after-init', { enabled: true }), { backoffBaseMs: 200, backoffJitter: 0.2, maxFailures: 2 })
  let delay = 0
  server.logs.subscribe((entry) => { if (/restarting in \d+/.test(entry.message)) delay = Number(/restarting in (\d+)/.exec(entry.message)![1]) })
  await server.start()
  t.ok(await until(() => server.state === 'error', 5000))
  t.ok(delay >= 160 && delay <= 240, `first delay ${delay} ms`)
})

t.test('a program that cannot be started goes to error at once, without retries', async (t) => {
  const server = managed(t, { ...spec('normal', { enabled: true }), command: '/nonexistent/mcp-server' })
  await server.start()
  t.equal(server.state, 'error')
  t.match(server.status().lastError, /ENOENT/)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(server.status().restartCount, 0)
  t.equal(server.state, 'error')
  t.notOk(messages(server).some((line) => line.includes('restarting')))
})

t.test('a server that never initializes fails its start after its own timeout', async (t) => {
  const server = managed(t, spec('no-init', { startTimeoutMs: 500 }), { maxFailures: 1 })
  const started = Date.now()
  await server.start()
  t.equal(server.state, 'error')
  t.match(server.status().lastError, /no MCP initialize response within 500 ms/)
  t.ok(Date.now() - started < 3000)
  t.same(processesOf(server.spec.id), [])
})

// A child that dies during its start, at each step of it: the start fails (never `running`
// without a child), and an enabled server is retried until its budget ends in error.
t.test('a child that exits at any step of its start fails the start, and is retried', async (t) => {
  await Promise.all(['initialize', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list'].map(async (method) => {
    const server = managed(t, spec('normal', { enabled: true }, { FIXTURE_EXIT_ON: method }), { backoffBaseMs: 50, maxFailures: 2 })
    await server.start()
    t.not(server.state, 'running', `${method}: not running after the start`)
    t.equal(server.status().pid, null, `${method}: no child`)
    t.same(server.catalog.tools, [], `${method}: no catalog from the dead child`)
    t.ok(await until(() => server.state === 'error', 10_000), `${method}: ends in error (state ${server.state})`)
    t.equal(server.status().restartCount, 1, `${method}: retried`)
    t.match(server.status().lastError, /gave up after 2 failures in \d+ min: exited with code 1 during its start/, `${method}: the reason`)
    t.same(processesOf(server.spec.id), [], `${method}: no child left`)
  }))
})

t.test('20 parallel restarts leave exactly one child', async (t) => {
  const server = managed(t, spec('normal'))
  await server.start()
  await Promise.all(Array.from({ length: 20 }, () => server.restart()))
  t.equal(server.state, 'running')
  t.same(processesOf(server.spec.id), [server.status().pid])
  t.equal(server.status().restartCount, 20)
})

t.test('a stderr flood leaves memory bounded and counts what it drops', async (t) => {
  const server = managed(t, spec('flood-stderr'), { log: { maxLines: 200, maxBytes: 16 * 1024, maxLineBytes: 1024 }, maxLinesPerSecond: 500 })
  await server.start()
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(server.state, 'running', 'still serving MCP')
  t.ok(server.logs.size <= 200)
  t.ok(server.logs.bytes <= 16 * 1024)
  t.ok(server.status().droppedLogLines > 0, `${server.status().droppedLogLines} lines dropped`)
  t.same((await server.client!.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content, [{ type: 'text', text: '5' }])
})

t.test('a giant MCP message kills the child with a clear error', async (t) => {
  const server = managed(t, spec('giant-line'), { maxMessageBytes: 1024 * 1024, maxFailures: 1 })
  await server.start()
  t.ok(await until(() => server.state === 'error', 5000))
  t.match(server.status().lastError, /exceeds the 1048576-byte limit/)
  t.same(processesOf(server.spec.id), [])
})

t.test('stdout noise is logged, never forwarded; MCP log messages keep their level', async (t) => {
  const server = managed(t, spec('stdout-noise'))
  await server.start()
  t.equal(server.state, 'running')
  t.match(messages(server).join('\n'), /stderr\/warning: non-MCP output on stdout: hello from fixture/)
  t.equal(server.status().nonMcpStdoutLines, 2, 'counted')
  await server.client!.callTool({ name: 'log', arguments: { level: 'error', message: 'disk almost full' } })
  t.ok(await until(() => messages(server).includes('mcp/error: disk almost full')))
})

t.test('list_changed refreshes the catalog', async (t) => {
  const server = managed(t, spec('normal'))
  await server.start()
  await server.client!.callTool({ name: 'add_tool', arguments: {} })
  t.ok(await until(() => server.catalog.tools.some((tool) => tool.name === 'extra_1')))
})

t.test('the child sees only the base environment and its own variables; secrets are redacted', async (t) => {
  process.env.MCPHUB_TEST_CANARY = 'hub-only-value'
  t.teardown(() => { delete process.env.MCPHUB_TEST_CANARY })
  const secret = `secret-${Date.now()}`
  const server = managed(t, spec('secret', {}, { FIXTURE_SECRET: secret }))
  await server.start()
  const result = await server.client!.callTool({ name: 'env', arguments: { name: 'FIXTURE_SECRET' } })
  const seen = JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as { keys: string[] }
  const allowed = new Set([...Object.keys(childBaseEnv(process.env)), 'FIXTURE_MODE', 'FIXTURE_SECRET', 'MCPHUB_SERVER_ID'])
  // tap instruments child_process in its test processes and adds these to every child it sees.
  const tapInstrumentation = (key: string) => key.startsWith('_TAPJS_PROCESSINFO_') || key === 'NODE_OPTIONS'
  t.same(seen.keys.filter((key) => !allowed.has(key) && !tapInstrumentation(key)), [], 'nothing else')
  t.notOk(seen.keys.includes('MCPHUB_TEST_CANARY'))
  t.notOk(seen.keys.includes('DATABASE_URL'))
  t.ok(await until(() => messages(server).some((line) => line.includes('token='))))
  t.ok(messages(server).includes('stderr/info: token=[redacted]'))
  t.notOk(messages(server).join('\n').includes(secret))
})

/** A process that runs until killed, in a group of its own, ended with the test. */
function idle (t: Tap, env: Record<string, string>) {
  return startProcess(t, process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env })
}

/** A state file as a killed hub leaves it: its id and the groups of its children. */
function leftState (t: Tap, groups: Record<string, number>, hub = randomUUID()): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcphub-reap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stateFile = join(dir, 'groups.json')
  writeFileSync(stateFile, JSON.stringify({ hub, groups }))
  return stateFile
}

t.test('the reaper kills a recorded group whose leader still runs; a group without our marker is left alone', async (t) => {
  const serverId = randomUUID()
  const orphan = idle(t, { MCPHUB_SERVER_ID: serverId })
  const stranger = idle(t, {})
  const stateFile = leftState(t, { [serverId]: orphan.pid, other: stranger.pid })
  const supervisor = new Supervisor({ policy: FAST, baseEnv: {}, stateFile })
  t.same(await supervisor.reapLeftovers(), { reaped: 1, allGone: true })
  t.match(await orphan.exit, { signal: 'SIGKILL' }, 'our orphan is killed')
  t.ok(isRunning(stranger.pid), 'a process without our marker is left alone')
  t.same(JSON.parse(readFileSync(stateFile, 'utf8')).groups, {}, 'the records are cleared')
})

t.test('the reaper kills every member of a recorded group whose leader has exited', async (t) => {
  const serverId = randomUUID()
  // The leader starts a grandchild in its group, says its pid and exits: the grandchild is reparented.
  const leader = startProcess(t, process.execPath, ['-e', `
    const grandchild = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    process.stdout.write(grandchild.pid + '\\n', () => process.exit(0))
  `], { env: { MCPHUB_SERVER_ID: serverId } })
  const grandchild = Number((await leader.waitFor(/(\d+)\n/))[1])
  t.equal((await leader.exit).code, 0)
  t.ok(isRunning(grandchild), 'the grandchild outlives its leader')
  const supervisor = new Supervisor({ policy: FAST, baseEnv: {}, stateFile: leftState(t, { [serverId]: leader.pid }) })
  t.same(await supervisor.reapLeftovers(), { reaped: 1, allGone: true })
  t.notOk(isRunning(grandchild), 'the grandchild is gone when the reaper returns')
})

t.test('the reaper kills the processes that left their group but carry the hub\'s id, only this hub\'s', async (t) => {
  const hub = randomUUID()
  const escaped = idle(t, { MCPHUB_SERVER_ID: randomUUID(), [HUB_ID_VARIABLE]: hub })
  const otherHubs = idle(t, { MCPHUB_SERVER_ID: randomUUID(), [HUB_ID_VARIABLE]: randomUUID() })
  const supervisor = new Supervisor({ policy: FAST, baseEnv: {}, stateFile: leftState(t, {}, hub) })
  t.same(await supervisor.reapLeftovers(), { reaped: 1, allGone: true })
  t.notOk(isRunning(escaped.pid), 'the escaped process is gone')
  t.ok(isRunning(otherHubs.pid), 'another hub\'s child is left alone')
})

t.test('a grandchild that left the group (setsid) ends with its server: on stop, and when the child exits by itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mcphub-setsid-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pidFile = join(dir, 'pid')
  /** The grandchild's pid, once the fixture has written it (then the file is removed for the next one). */
  const escapee = async () => {
    let pid = 0
    await until(() => {
      try {
        pid = Number(readFileSync(pidFile, 'utf8'))
      } catch {}
      return pid > 0
    })
    t.teardown(() => { if (isRunning(pid)) process.kill(pid, 'SIGKILL') })
    rmSync(pidFile)
    return pid
  }
  const supervisor = new Supervisor({ policy: FAST, baseEnv: childBaseEnv(process.env), stateFile: join(dir, 'groups.json') })
  t.teardown(() => supervisor.stopAll(0))
  const server = supervisor.upsert(spec('setsid-grandchild', {}, { FIXTURE_PID_FILE: pidFile }))
  await server.start()
  const first = await escapee()
  t.ok(isRunning(first), 'it runs in a session of its own')
  await server.stop()
  t.ok(await until(() => !isRunning(first)), 'gone after stop')

  await server.start()
  const second = await escapee()
  process.kill(server.status().pid!, 'SIGKILL')
  t.ok(await until(() => !isRunning(second)), 'gone after its parent crashed')
})

t.test('stopAll stops every server and no start happens afterwards', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mcphub-all-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const supervisor = new Supervisor({ policy: FAST, baseEnv: childBaseEnv(process.env), stateFile: join(dir, 'groups.json') })
  const specs = Array.from({ length: 6 }, () => spec('normal'))
  await supervisor.startAll(specs)
  t.ok(supervisor.list().every((server) => server.state === 'running'))
  t.same(Object.keys(JSON.parse(readFileSync(join(dir, 'groups.json'), 'utf8')).groups).sort(), specs.map((s) => s.id).sort(), 'running groups recorded')
  await supervisor.stopAll(1000)
  t.ok(supervisor.list().every((server) => server.state === 'stopped'))
  t.same(specs.flatMap((s) => processesOf(s.id)), [])
  await supervisor.startAll([spec('normal')])
  t.equal(supervisor.list().length, 6, 'closed: nothing new starts')
})

t.test('a spawn that throws (a NUL byte in a stored value) ends in error at once; stop answers', async (t) => {
  const secret = 'nul-secret-value'
  for (const broken of [
    spec('normal', {}, { X: `${secret}\u0000b` }),
    spec('normal', { args: [FIXTURE, 'a\u0000b'] }),
    spec('normal', { cwd: '/tmp\u0000x' }),
    spec('normal', { command: `${process.execPath}\u0000x` })
  ]) {
    const server = managed(t, { ...broken, enabled: true })
    const started = Date.now()
    await server.start()
    t.equal(server.state, 'error', 'not stuck in starting')
    t.match(server.status().lastError, /a NUL character in the command, args, env or cwd/)
    t.notOk(messages(server).join('\n').includes(secret), 'the value is not quoted in the error')
    await server.stop()
    t.equal(server.state, 'stopped')
    t.ok(Date.now() - started < 2000, `start and stop answered in ${Date.now() - started} ms`)
    t.equal(server.status().restartCount, 0, 'no retries')
  }
})

t.test('stop and restart do not wait for a start in progress to time out', async (t) => {
  const server = managed(t, spec('no-init'), { startTimeoutMs: 60_000 })
  const starting = server.start()
  t.ok(await until(() => server.status().pid !== null), 'the child runs')
  const startedAt = Date.now()
  await server.stop({ graceful: false })
  await starting
  t.ok(Date.now() - startedAt < 3000, `stop answered in ${Date.now() - startedAt} ms`)
  t.equal(server.state, 'stopped')
  t.same(processesOf(server.spec.id), [], 'the child is gone')

  const again = server.start()
  t.ok(await until(() => server.status().pid !== null))
  const restartedAt = Date.now()
  const restarting = server.restart()
  // The restart's own start waits for an initialize that never comes: a stop ends it too.
  t.ok(await until(() => server.status().restartCount === 1))
  await server.stop({ graceful: false })
  await Promise.all([again, restarting])
  t.ok(Date.now() - restartedAt < 5000, `restart and stop answered in ${Date.now() - restartedAt} ms`)
  t.equal(server.state, 'stopped')
  t.same(processesOf(server.spec.id), [])
})

t.test('secrets are redacted in every form: JSON-escaped, line by line, and cut at the line limit', async (t) => {
  const values = {
    FIXTURE_SECRET_QUOTED: 'pa"ss\\wo\trd-quoted',
    FIXTURE_SECRET_LINES: 'first-line-of-the-key\nsecond-line-of-the-key\r\nthird-line-of-the-key',
    FIXTURE_SECRET_PLAIN: 'plain-secret-0123456789'
  }
  const lineLimit = 1024
  const server = managed(t, spec('leak-secrets', {}, { ...values, FIXTURE_LINE_LIMIT: String(lineLimit), FIXTURE_CUT_AT: '6' }), { log: { ...DEFAULT_POLICY.log, maxLineBytes: lineLimit } })
  const entries: string[] = []
  server.logs.subscribe((entry) => entries.push(entry.message))
  await server.start()
  t.ok(await until(() => entries.includes('fixture: every secret shown')))
  t.ok(await until(() => entries.filter((message) => message.includes('"config"')).length === 3), 'the three MCP log messages arrived')
  const captured = entries.join('\n')
  for (const value of Object.values(values)) {
    const forms = [value, JSON.stringify(value).slice(1, -1), ...value.split(/\r?\n/), value.slice(0, 6)]
    for (const form of forms) t.notOk(captured.includes(form), `${JSON.stringify(form)} never appears`)
  }
  t.ok(entries.includes('secret: [redacted]'), 'a value on stderr')
  t.ok(entries.includes('{"config":{"secret":"[redacted]"}}'), 'a JSON-escaped value in an MCP message')
  t.ok(entries.filter((message) => message === '[redacted]').length >= 2, 'each line of a multi-line value')
  const cut = entries.filter((message) => message.startsWith('xxxx'))
  t.equal(cut.length, 3)
  t.ok(cut.every((message) => /^x+ …\[cut, \d+ bytes\]$/.test(message) && Buffer.byteLength(message) <= lineLimit), 'a line cut inside a value keeps none of it')
})

t.test('a start still queued when a stop comes does not run after it', async (t) => {
  const server = managed(t, spec('no-init'), { startTimeoutMs: 60_000 })
  const first = server.start()
  const queued = server.start()
  const stopped = server.stop({ graceful: false })
  const began = Date.now()
  await Promise.all([first, queued, stopped])
  t.ok(Date.now() - began < 3000, `answered in ${Date.now() - began} ms`)
  t.equal(server.state, 'stopped')
  t.same(processesOf(server.spec.id), [])
})

for (const enabled of [true, false]) {
  t.test(`a failed start backs off and retries within the budget; a manual start in error gets a fresh one (enabled: ${enabled})`, async (t) => {
    const server = managed(t, spec('no-init', { enabled, startTimeoutMs: 300 }), { backoffBaseMs: 50, maxFailures: 3 })
    const failures: string[] = []
    server.logs.subscribe((entry) => { if (entry.message.startsWith('start failed, restarting in')) failures.push(entry.message) })
    await server.start()
    t.equal(server.state, 'backoff', 'not straight to error')
    t.ok(await until(() => server.state === 'error', 10_000), 'gives up once the budget is spent')
    t.match(failures, [/\(failure 1 of 3\): no MCP initialize response within 300 ms$/, /\(failure 2 of 3\)/])
    t.match(server.status().lastError, /^gave up after 3 failures in 10 min: no MCP initialize response within 300 ms/)

    await server.start()
    t.equal(server.state, 'backoff', 'started again from error: back off, not error')
    t.ok(await until(() => server.state === 'error', 10_000))
    t.equal(failures.length, 4, 'a fresh budget of 3: two more retries')
    t.same(processesOf(server.spec.id), [], 'no child left')
  })
}

t.test('a crash before the MCP initialize response is a failed start too, with the exit in the reason', async (t) => {
  const server = managed(t, spec('exit'), { backoffBaseMs: 60_000 })
  await server.start()
  t.equal(server.state, 'backoff')
  t.match(server.status().lastError, /^exited with code 3 during its start/)
  t.ok(server.status().nextRetryAt)
})

t.test('a crash of a running server that is not enabled ends in error: enabled means restarted after crashes', async (t) => {
  const server = managed(t, spec('crash-after-init', { enabled: false }))
  await server.start()
  t.equal(server.state, 'running')
  t.ok(await until(() => server.state === 'error'))
  t.match(server.status().lastError, /^crashed \(not enabled, so not restarted\): exited with code 1 after \d+\.\d s/)
})

t.test('the exit line reports how long the child ran, whether it ever answered or not', async (t) => {
  const server = managed(t, spec('no-init', { startTimeoutMs: 1200 }), { maxFailures: 1 })
  await server.start()
  const exit = messages(server).find((line) => line.includes('killed by SIGKILL after'))
  const seconds = Number(/after (\d+\.\d) s/.exec(exit ?? '')?.[1])
  t.ok(seconds >= 1 && seconds < 5, `${exit}`)

  const crashing = managed(t, spec('crash-after-init', { enabled: true }, { FIXTURE_CRASH_MS: '1000' }), { maxFailures: 1 })
  await crashing.start()
  t.ok(await until(() => crashing.state === 'error'))
  t.match(crashing.status().lastError, /exited with code 1 after (1|2|3)\.\d s/, 'a run of about a second says so')
})
