import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import { buildApp, type App } from './app.ts'
import { ConfigError, isWideBind, loadConfig } from './lib/config.ts'

/** Bounded shutdown: longer than a child's stop timeout, shorter than a container's grace period. */
const SHUTDOWN_GRACE_MS = 20_000
/**
 * A stop asked for while the hub is still being built (opening and migrating its database)
 * waits this long for it, to close it cleanly; then the hub exits without it. No child runs yet.
 */
const STARTING_GRACE_MS = 3000

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(error.message + '\n')
    process.exit(1)
  }

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
  await app.listen({ port: config.port, host: config.host })
}

await main()
