import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import type { App } from './app.ts'
import { ConfigError, isWideBind, loadConfig } from './lib/config.ts'
import { usage } from './lib/usage.ts'

/** Bounded shutdown: longer than a child's stop timeout, shorter than a container's grace period. */
const SHUTDOWN_GRACE_MS = 20_000
/**
 * A stop asked for while the hub is still being built (opening and migrating its database)
 * waits this long for it, to close it cleanly; then the hub exits without it. No child runs yet.
 */
const STARTING_GRACE_MS = 3000

/** Ends the process with one line saying what is wrong and what to do. */
function fail (message: string, code = 1): never {
  process.stderr.write(message + '\n')
  process.exit(code)
}

/** `--help` and `--version` answer and exit 0, before anything is read or opened. */
function answerArguments (args: string[]): void {
  if (args.length === 0) return
  const [first] = args
  if (args.length === 1 && (first === '--help' || first === '-h')) {
    process.stdout.write(usage())
    process.exit(0)
  }
  if (args.length === 1 && (first === '--version' || first === '-v')) {
    const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string }
    process.stdout.write(version + '\n')
    process.exit(0)
  }
  fail(`unknown argument ${JSON.stringify(args.find((arg) => !['--help', '-h', '--version', '-v'].includes(arg)) ?? first)}: MCPHub is configured through environment variables; see node server.ts --help`, 2)
}

/** One line for a port the hub cannot listen on, or undefined for another error. */
function describeListenError (error: unknown, port: number, host: string): string | undefined {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `PORT ${port} is already in use on ${host}: stop the other process or set PORT to a free port`
    case 'EACCES':
      return `PORT ${port}: permission denied on ${host}: use a port above 1023, or set PORT`
    case 'EADDRNOTAVAIL':
      return `HOST ${host} is not an address of this machine: set HOST (127.0.0.1, or 0.0.0.0 for every interface)`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${host}: unknown host name: set HOST to an address of this machine`
  }
  return undefined
}

/**
 * Binds the port and lets it go again, so that a port in use is said before the (long) start,
 * not after it. The hub itself listens only once ready; a port taken meanwhile is said then.
 */
async function checkPort (port: number, host: string): Promise<void> {
  if (port === 0) return
  const probe = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.listen({ port, host }, resolve)
    })
  } catch (error) {
    const line = describeListenError(error, port, host)
    if (line === undefined) throw error
    fail(line)
  }
  await new Promise((resolve) => probe.close(resolve))
}

async function main (): Promise<void> {
  answerArguments(process.argv.slice(2))
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    fail(error.message)
  }
  await checkPort(config.port, config.host)
  // The app (and all it loads, seconds of it) only now: the answers above come at once.
  const [{ buildApp }, { DatabaseUnavailableError }] = await Promise.all([import('./app.ts'), import('./db/client.ts')])

  // SIGTERM and SIGINT are answered from here on, while the hub starts too.
  let stopping = false
  let app: App | undefined
  const building = buildApp({ config }).then((built) => { app = built })
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    stopping = true
    if (app === undefined) await Promise.race([building.catch(() => {}), sleep(STARTING_GRACE_MS)])
    if (app === undefined) {
      process.stderr.write(err === undefined ? `${signal}: stopped while starting\n` : `${err.stack ?? err.message}\n`)
      return
    }
    if (err) app.log.error({ err }, 'closing after an unexpected error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  try {
    await building
  } catch (error) {
    // Asked to stop meanwhile: the stop has already been answered, whatever became of the start.
    if (stopping) return
    // Nothing runs yet but the database connection: the one line is all there is to say.
    if (error instanceof DatabaseUnavailableError) fail(error.message)
    throw error
  }
  if (stopping || app === undefined) return

  if (isWideBind(config.host)) {
    app.log.warn({ host: config.host }, 'listening beyond loopback: put the hub behind TLS and a firewall')
  }
  // Ready first (the database's first admin, the servers starting), so that a stop asked for
  // meanwhile closes the hub before it listens rather than after.
  await app.ready()
  if (stopping) return
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    // Taken since the check: the servers have started, so the hub closes before it exits.
    const line = describeListenError(error, config.port, config.host)
    if (line === undefined) throw error
    stopping = true
    await app.close()
    fail(line)
  }
}

await main()
