import t from 'tap'
import { build, captureLogs } from './helper.ts'

t.test('LOG_FORMAT=pretty: human-readable lines, secrets redacted as in JSON', async (t) => {
  const logs = captureLogs()
  const app = await build(t, 'pglite', { config: { logLevel: 'info', logFormat: 'pretty' }, logStream: logs.stream })
  app.log.info({ password: 'canary-password-1', user: { token: 'canary-token-2', name: 'ada' } }, 'logging credentials')
  await app.inject({ method: 'GET', url: '/healthz', headers: { authorization: 'Bearer canary-bearer-3' } })
  const all = logs.lines.join('\n')
  t.match(all, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: logging credentials$/m, 'a readable line')
  t.match(all, /password: "\[redacted\]"/)
  t.match(all, /"name": "ada"/, 'other fields are shown')
  t.notMatch(all, /^\{/m, 'no JSON line')
  for (const canary of ['canary-password-1', 'canary-token-2', 'canary-bearer-3']) t.notOk(all.includes(canary), `${canary} is not logged`)
})

t.test('LOG_FORMAT=json: one JSON object a line', async (t) => {
  const logs = captureLogs()
  const app = await build(t, 'pglite', { config: { logLevel: 'info', logFormat: 'json' }, logStream: logs.stream })
  app.log.info({ password: 'canary-password-4' }, 'logging credentials')
  const line = logs.lines.map((text) => JSON.parse(text) as { msg: string, password?: string }).find((entry) => entry.msg === 'logging credentials')
  t.equal(line?.password, '[redacted]')
})
