import { createServer } from 'node:net'
import pg from 'pg'
import t from 'tap'
import { describeConnectionError, openPostgres, DatabaseUnavailableError } from '../db/client.ts'
import { DRIVERS, postgresUrl } from './helper.ts'
import { passwordRefusingPostgres } from './helpers/fake-postgres.ts'

const PASSWORD = 'canary-db-password'

/** The error a real connection attempt to `url` ends with. */
async function connectionError (url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    return error
  } finally {
    await client.end().catch(() => {})
  }
  throw new Error(`${url} accepted the connection`)
}

/** A port nothing listens on (taken, then freed). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('a refused port: is PostgreSQL running?', async (t) => {
  const url = `postgres://mcphub:${PASSWORD}@127.0.0.1:${await closedPort()}/mcphub`
  const line = describeConnectionError(await connectionError(url), url)
  t.match(line, /^DATABASE_URL: cannot connect to 127\.0\.0\.1:\d+ \(connection refused\): is PostgreSQL running/)
  t.notOk(line.includes(PASSWORD))
})

t.test('an unknown host', async (t) => {
  const url = `postgres://mcphub:${PASSWORD}@no-such-host.invalid:5432/mcphub`
  const line = describeConnectionError(await connectionError(url), url)
  t.equal(line, 'DATABASE_URL: unknown host "no-such-host.invalid": correct the host name in DATABASE_URL')
})

// The local PostgreSQL trusts every connection: a server that asks for a password and refuses it
// gives the real error pg reports for a wrong one.
t.test('a wrong password: the user is named, the password never', async (t) => {
  const url = `postgres://mcphub:${PASSWORD}@127.0.0.1:${await passwordRefusingPostgres(t)}/mcphub`
  const error = await connectionError(url)
  t.equal((error as { code?: string }).code, '28P01', 'what PostgreSQL answers a wrong password')
  const line = describeConnectionError(error, url)
  t.match(line, /^DATABASE_URL: password authentication failed for user "mcphub" on 127\.0\.0\.1:\d+: correct the user name and password/)
  t.notOk(line.includes(PASSWORD))
})

t.test('the hub\'s first connection fails with that one line, as a DatabaseUnavailableError', async (t) => {
  const url = `postgres://mcphub:${PASSWORD}@127.0.0.1:${await closedPort()}/mcphub`
  const database = openPostgres(url, { warn () {} })
  t.teardown(() => database.close())
  const error = await database.migrate().then(() => undefined, (error: unknown) => error)
  t.ok(error instanceof DatabaseUnavailableError)
  t.match((error as Error).message, /^DATABASE_URL: cannot connect to 127\.0\.0\.1:\d+ \(connection refused\)/)
})

if (DRIVERS.includes('pg')) {
  t.test('a database that does not exist: how to create it', async (t) => {
    const url = postgresUrl(`mcphub_missing_${process.pid}`)
    const line = describeConnectionError(await connectionError(url), url)
    t.match(line, new RegExp(`^DATABASE_URL: database "mcphub_missing_${process.pid}" does not exist on [^:]+:\\d+: create it \\(createdb `))
  })

  t.test('a role that does not exist', async (t) => {
    const url = new URL(postgresUrl('postgres'))
    url.username = 'mcphub_no_such_role'
    const line = describeConnectionError(await connectionError(url.toString()), url.toString())
    t.match(line, /^DATABASE_URL: [^ ]+ refused user "mcphub_no_such_role" \(role "mcphub_no_such_role" does not exist\)/)
  })
}
