import t from 'tap'
import { build, captureLogs } from './helper.ts'

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
