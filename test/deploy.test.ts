import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { join, matchesGlob } from 'node:path'
import t from 'tap'
import { build, DRIVERS, embeddedDataDir } from './helper.ts'
import { endHubChildren, startProcess } from './helpers/processes.ts'

/*
 * No Docker engine runs here: the image is never built nor started by this suite. What can be
 * checked without one is: the Dockerfile's and the compose file's properties, read as text, and
 * the commands they run (the health check, the hub's command) run here as the container would.
 */

// A real hub starts below: on a loaded two-core machine that alone can take 30 s.
t.setTimeout(300_000)

const ROOT = new URL('..', import.meta.url).pathname
const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')

// ---- the Dockerfile, one instruction a line (continuations joined, comments dropped)

interface Stage { name: string | undefined, image: string, instructions: Array<{ keyword: string, args: string }> }

function readDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  for (const line of lines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    if (keyword.toUpperCase() === 'FROM') {
      const [image = '', , name] = args.split(/\s+/)
      stages.push({ name, image, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args })
    }
  }
  return stages
}

const stages = readDockerfile(read('Dockerfile'))
const runtime = stages.at(-1)!
const instructionsOf = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)
/** The JSON array of an exec-form instruction; undefined for the shell form. */
const execForm = (args: string | undefined): string[] | undefined => args?.startsWith('[') ? JSON.parse(args) : undefined
/** `KEY=value` pairs of the runtime stage's ENV lines. */
const imageEnv = Object.fromEntries(instructionsOf(runtime, 'ENV').flatMap((args) => args.split(/\s+/).map((pair) => pair.split('='))))
const healthcheck = instructionsOf(runtime, 'HEALTHCHECK')[0] ?? ''
const healthcheckCommand = execForm(/\bCMD\s+(\[.*\])$/.exec(healthcheck)?.[1]) ?? []

t.test('the image is built in stages and runs production dependencies only', async (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage')
  for (const stage of stages) t.match(stage.image, /^node:24-/, `${stage.name}: Node 24`)
  const copied = instructionsOf(runtime, 'COPY').map((args) => /^--from=(\S+)\s+(\S*node_modules)\b/.exec(args)).find(Boolean)
  t.ok(copied, 'the runtime copies node_modules from a build stage')
  const source = stages.find((stage) => stage.name === copied?.[1])
  t.ok(source, 'that stage is in the Dockerfile')
  const installs = instructionsOf(source!, 'RUN').filter((args) => /\bnpm (ci|install)\b/.test(args))
  t.equal(installs.length, 1)
  t.match(installs[0], /\bnpm ci\b.*--omit=dev/, 'from the lock file, without dev dependencies')
  t.notOk(instructionsOf(runtime, 'RUN').some((args) => /\bnpm\b/.test(args)), 'no npm in the runtime stage (its compilers are in the build stage)')
})

t.test('the hub runs as a non-root user, as `node server.ts` in exec form, under an init', async (t) => {
  const keywords = runtime.instructions.map((i) => i.keyword)
  const user = instructionsOf(runtime, 'USER').at(-1)
  t.ok(user !== undefined && !['root', '0'].includes(user.split(':')[0]!), `USER ${user}`)
  t.ok(keywords.lastIndexOf('USER') < keywords.indexOf('CMD'), 'USER comes before CMD')
  const entrypoint = execForm(instructionsOf(runtime, 'ENTRYPOINT').at(-1))
  const cmd = execForm(instructionsOf(runtime, 'CMD').at(-1))
  t.ok(entrypoint && cmd, 'ENTRYPOINT and CMD in exec form: no shell between Docker and the process')
  t.same(cmd, ['node', 'server.ts'])
  t.same(entrypoint, ['/usr/bin/tini', '--'], 'tini (PID 1) reaps orphans and forwards signals to node')
  t.notMatch([...entrypoint!, ...cmd!].join(' '), /\b(sh|bash|npm|npx)\b/)
})

t.test('a data volume, the port, and where the hub listens', async (t) => {
  t.equal(imageEnv.MCPHUB_DATA_DIR, '/data')
  t.same(instructionsOf(runtime, 'VOLUME'), ['["/data"]'])
  t.match(imageEnv.HOME, /^\/data\//, 'HOME (npx\'s npm cache) on the volume, writable by the hub')
  t.equal(imageEnv.HOST, '0.0.0.0', 'reachable through a published port')
  t.same(instructionsOf(runtime, 'EXPOSE'), [imageEnv.PORT])
})

t.test('the HEALTHCHECK probes /readyz, with a start period', async (t) => {
  t.match(healthcheck, /--start-period=\d+s/)
  t.match(healthcheck, /--timeout=\d+s/)
  t.equal(healthcheckCommand[0], 'node', 'no curl in a slim image: node itself')
  t.match(healthcheckCommand.join(' '), /\/readyz/)
})

t.test('.dockerignore keeps out dependencies, data, git, test output and secrets, and nothing the hub needs', async (t) => {
  const patterns = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  const ignored = (file: string) => patterns.some((pattern) => matchesGlob(file, pattern) || file.startsWith(`${pattern}/`))
  for (const file of ['node_modules/pg/package.json', 'data/jwt-secret', '.git/HEAD', '.tap/report.json', 'coverage/index.html', 'npm-debug.log', '.env']) {
    t.ok(ignored(file), `${file} stays out`)
  }
  const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean)
  const left = tracked.filter((file) => ignored(file) && !/^(test|\.ci)\//.test(file) && !['Dockerfile', '.dockerignore', 'docker-compose.yml'].includes(file))
  t.same(left, [], 'every tracked file but the tests, CI and Docker\'s own goes in')
})

// ---- docker-compose.yml, read with a parser for the YAML it is written in: block maps and
// lists, JSON-style flow lists and quoted strings, plain scalars, whole-line comments.

type Yaml = string | Yaml[] | { [key: string]: Yaml }

function readYaml (text: string): unknown {
  const lines = text.split('\n')
    .map((raw) => ({ indent: raw.search(/\S/), text: raw.trim() }))
    .filter((line) => line.indent >= 0 && !line.text.startsWith('#'))
  let next = 0
  const scalar = (value: string): Yaml => /^["[]/.test(value) ? JSON.parse(value) : value
  const block = (indent: number): Yaml => {
    if (lines[next]!.text.startsWith('- ')) {
      const list: Yaml[] = []
      while (lines[next]?.indent === indent && lines[next]!.text.startsWith('- ')) list.push(scalar(lines[next++]!.text.slice(2)))
      return list
    }
    const map: Record<string, Yaml> = {}
    while (lines[next]?.indent === indent) {
      const line = lines[next++]!
      const match = /^([\w.-]+):(?: (.+))?$/.exec(line.text)
      if (match === null) throw new Error(`docker-compose.yml: cannot read "${line.text}"`)
      const nested = lines[next] !== undefined && lines[next]!.indent > indent
      map[match[1]!] = match[2] !== undefined ? scalar(match[2]) : nested ? block(lines[next]!.indent) : ''
    }
    return map
  }
  return block(0)
}

interface Service {
  build?: Yaml
  image?: string
  command?: Yaml
  entrypoint?: Yaml
  restart?: string
  environment: Record<string, string>
  volumes?: string[]
  depends_on?: Record<string, { condition: string }>
  stop_grace_period?: string
  healthcheck?: { test: string[], start_period?: string }
}

const compose = readYaml(read('docker-compose.yml')) as { services: Record<string, Service> }
const hub = compose.services.hub!
const db = compose.services.db!

/** ms of a compose duration such as `30s` or `1m30s`. */
function duration (value: string | undefined): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(value ?? '')
  return match === null ? NaN : (Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 1000
}

t.test('compose builds the image and runs it as it is: no install at start, no source mounted', async (t) => {
  t.ok(hub.build, 'built from the Dockerfile')
  t.notOk(hub.command, 'the image\'s command')
  t.notOk(hub.entrypoint, 'the image\'s entry point')
  for (const volume of hub.volumes ?? []) t.match(volume, /^[a-z][\w-]*:\//, `${volume}: a named volume, no bind mount`)
  t.ok((hub.volumes ?? []).some((volume) => volume.endsWith(`:${imageEnv.MCPHUB_DATA_DIR}`)), 'the data dir is a volume')
  t.notMatch(read('docker-compose.yml'), /npm (ci|install)/)
})

t.test('compose restarts, stops gracefully and waits for a healthy database', async (t) => {
  const shutdownMs = Number(/SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(read('server.ts'))?.[1]?.replaceAll('_', ''))
  t.ok(shutdownMs > 0, 'the hub\'s shutdown bound, read from server.ts')
  for (const [name, service] of Object.entries(compose.services)) {
    t.match(service.restart, /^(always|unless-stopped|on-failure)/, `${name}: restarted`)
    t.ok(service.healthcheck?.test.length, `${name}: a health check`)
    t.ok(duration(service.healthcheck?.start_period) > 0, `${name}: with a start period`)
  }
  t.ok(duration(hub.stop_grace_period) > shutdownMs, `stop_grace_period ${hub.stop_grace_period} > ${shutdownMs} ms`)
  t.same(hub.healthcheck?.test, ['CMD', ...healthcheckCommand], 'the image\'s health check, tested below')
  t.same(hub.depends_on, { db: { condition: 'service_healthy' } })
})

t.test('compose gives the hub the database by PG* variables: any password works', async (t) => {
  t.notOk(hub.environment.DATABASE_URL, 'no URL to encode a password into')
  t.equal(hub.environment.PGHOST, 'db')
  t.equal(hub.environment.PGUSER, db.environment.POSTGRES_USER)
  t.equal(hub.environment.PGDATABASE, db.environment.POSTGRES_DB)
  t.equal(hub.environment.PGPASSWORD, db.environment.POSTGRES_PASSWORD, 'the same variable')
  t.ok(hub.environment.MCPHUB_ALLOWED_HOSTS, 'the MCP endpoints\' Host names are set, since the hub binds 0.0.0.0')
})

// ---- the commands themselves, run here as the container runs them

/** Runs the image's health check command (with this Node) against `port`; resolves to its exit code. */
async function runHealthcheck (t: Parameters<typeof startProcess>[0], port: number): Promise<number | null> {
  const [, ...args] = healthcheckCommand
  return (await startProcess(t, process.execPath, args, { env: { PORT: String(port) } }).exit).code
}

for (const driver of DRIVERS) {
  t.test(`${driver}: the health check passes against a ready hub`, async (t) => {
    const app = await build(t, driver)
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.equal(await runHealthcheck(t, (app.server.address() as AddressInfo).port), 0)
  })
}

t.test('the health check fails when nothing listens, and on a 503', async (t) => {
  const closed = createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const closedPort = (closed.address() as AddressInfo).port
  closed.close()
  await once(closed, 'close')
  t.not(await runHealthcheck(t, closedPort), 0, 'closed port')

  const notReady = createHttpServer((_request, response) => response.writeHead(503).end()).listen(0, '127.0.0.1')
  t.teardown(() => notReady.close())
  await once(notReady, 'listening')
  t.not(await runHealthcheck(t, (notReady.address() as AddressInfo).port), 0, '/readyz answers 503')
})

t.test('the image\'s command, with its environment, stops gracefully on SIGTERM', async (t) => {
  const dataDir = await embeddedDataDir(t)
  endHubChildren(t, dataDir)
  const [, ...args] = execForm(instructionsOf(runtime, 'CMD').at(-1))!
  // The image's environment (HOST 0.0.0.0 included), on a free port and a temporary data dir.
  const env = { ...imageEnv, PATH: process.env.PATH ?? '', PORT: '0', MCPHUB_DATA_DIR: dataDir, HOME: join(dataDir, 'home') }
  const hub = startProcess(t, process.execPath, args, { cwd: ROOT, env })
  await hub.waitFor(/Server listening at/)
  hub.child.kill('SIGTERM')
  t.same(await hub.exit, { code: 0, signal: null })
  t.match(hub.stdout(), /"signal":"SIGTERM".*shutting down/)
})
