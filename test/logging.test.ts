import { eq } from 'drizzle-orm'
import t from 'tap'
import { users } from '../db/schema.ts'
import { hashPassword } from '../lib/passwords.ts'
import { build, captureLogs, DRIVERS, TEST_ADMIN } from './helper.ts'

t.test('secrets are redacted wherever they appear in logged objects', async (t) => {
  const logs = captureLogs()
  const app = await build(t, 'pglite', {
    config: { logLevel: 'trace' },
    logStream: logs.stream,
    extend: (app) => {
      app.post('/fixture/log', { config: { access: 'public' } }, async (request) => {
        request.log.info({ headers: request.headers, body: request.body }, 'logging a request body')
        request.log.info({ password: 'canary-password-1', token: 'canary-token-2', user: { password: 'canary-password-3', apiKey: 'canary-key-4' } }, 'logging credentials')
        throw Object.assign(new Error('boom'), { refreshToken: 'canary-refresh-5' })
      })
    }
  })
  const res = await app.inject({
    method: 'POST',
    url: '/fixture/log',
    headers: { authorization: 'Bearer canary-bearer-6', 'x-api-key': 'canary-apikey-7', cookie: 'sid=canary-cookie-8' },
    payload: { password: 'canary-password-9', mfaCode: '123456' }
  })
  t.equal(res.statusCode, 500)
  const all = logs.lines.join('\n')
  t.match(all, /logging credentials/, 'the lines were written')
  t.match(all, /\[redacted\]/)
  for (const canary of ['canary-password-1', 'canary-token-2', 'canary-password-3', 'canary-key-4', 'canary-refresh-5', 'canary-bearer-6', 'canary-apikey-7', 'canary-cookie-8', 'canary-password-9']) {
    t.notOk(all.includes(canary), `${canary} is not logged`)
  }
  t.notOk(res.body.includes('canary'), 'nor returned')
})

for (const driver of DRIVERS) {
  t.test(`${driver}: a failed password update logs neither the new hash nor the row`, async (t) => {
    const logs = captureLogs()
    const hash = await hashPassword('canary-new-password')
    const app = await build(t, driver, {
      config: { logLevel: 'trace' },
      logStream: logs.stream,
      extend: (app) => {
        // A real update the database refuses (check constraint): drizzle's error carries the
        // statement's parameters, PostgreSQL's carries the failing row.
        app.post('/fixture/password', { config: { access: 'public' } }, async () => {
          await app.db.update(users).set({ passwordHash: hash, role: 'superuser' as 'user' }).where(eq(users.username, TEST_ADMIN.username))
        })
      }
    })
    const res = await app.inject({ method: 'POST', url: '/fixture/password' })
    t.equal(res.statusCode, 500)
    const failed = logs.lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'request failed')
    t.ok(failed, 'the failure is logged')
    t.match(failed.err.message, /^Failed query: update "users" set "password_hash" = \$1/, 'with its statement')
    t.match(failed.err.cause, { code: '23514' }, 'and its cause')
    const all = logs.lines.join('\n')
    t.notOk(all.includes(hash), 'the hash is not logged')
    t.notOk(all.includes(hash.split('$').at(-1)!), 'nor any part of it')
    t.notOk(res.body.includes('argon2'), 'nor returned')
  })
}

t.test('credentials in query strings are not logged with the URL', async (t) => {
  const logs = captureLogs()
  const app = await build(t, 'pglite', { config: { logLevel: 'info' }, logStream: logs.stream })
  const res = await app.inject({ method: 'GET', url: '/api/auth/verify?apiKey=canary-1&token=canary-2&access_token=canary-3&key=canary-4&password=canary-5&X-API-KEY=canary-6&page=2' })
  t.equal(res.statusCode, 401)
  const incoming = logs.lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'incoming request')
  t.equal(incoming?.req.url, '/api/auth/verify?apiKey=[redacted]&token=[redacted]&access_token=[redacted]&key=[redacted]&password=[redacted]&X-API-KEY=[redacted]&page=2', 'other parameters are kept')
  t.notOk(logs.lines.join('\n').includes('canary'))
})
