import fp from 'fastify-plugin'
import type { Database, DatabaseHandle } from '../db/client.ts'
import { RecordsEpoch } from '../lib/epoch-cache.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The drizzle database every service queries. */
    db: Database
    /** The driver behind `db`: readiness pings and shutdown. */
    database: DatabaseHandle
    /** Bumped after every change made through the API; caches of stored records check it. */
    records: RecordsEpoch
  }
}

/** Migrates the database before the hub serves anything, and closes it last. */
export default fp<{ database: DatabaseHandle }>(async (app, { database }) => {
  const log = app.log.child({ source: 'database' })
  log.info('database open: checking its migrations')
  const { applied, total } = await database.migrate()
  if (applied > 0) log.info({ applied, total }, `database migrations applied: ${applied} of ${total}`)
  else log.info({ total }, 'database schema up to date')
  app.decorate('database', database)
  app.decorate('db', database.db)
  app.decorate('records', new RecordsEpoch())
  app.addHook('onClose', async () => {
    await database.close()
  })
}, { name: 'db' })
