import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, isWideBind, loadConfig } from './lib/config.ts'

/** Bounded shutdown: longer than a child's stop timeout, shorter than a container's grace period. */
const SHUTDOWN_GRACE_MS = 20_000

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(error.message + '\n')
    process.exit(1)
  }

  const app = await buildApp({ config })
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an unexpected error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })

  if (isWideBind(config.host)) {
    app.log.warn({ host: config.host }, 'listening beyond loopback: put the hub behind TLS and a firewall')
  }
  await app.listen({ port: config.port, host: config.host })
}

await main()
