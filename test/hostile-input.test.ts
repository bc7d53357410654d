import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { build } from './helper.ts'

t.test('a request whose body drips in is cut off with a 408 within the bound; a slow response is not', async (t) => {
  const REQUEST_TIMEOUT = 1000
  let release = () => {}
  const app = await build(t, 'pglite', {
    config: { requestTimeoutMs: REQUEST_TIMEOUT },
    extend: (app) => {
      app.get('/fixture/slow', { config: { access: 'public' } }, async () => {
        await new Promise<void>((resolve) => { release = resolve })
        return { done: true }
      })
    }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  // A response that takes longer than the bound: streams (MCP, log follow) are like it.
  const slow = fetch(`http://127.0.0.1:${port}/fixture/slow`)

  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('utf8') })
  socket.write('POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{')
  const drip = setInterval(() => socket.write(' '), 100)
  t.teardown(() => clearInterval(drip))
  await once(socket, 'close')
  clearInterval(drip)
  const elapsed = Date.now() - started

  t.ok(elapsed >= REQUEST_TIMEOUT, `not before the bound (${elapsed} ms)`)
  t.ok(elapsed < REQUEST_TIMEOUT * 2, `cut within the bound and one check interval (${elapsed} ms)`)
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 408 /)
  t.match(JSON.parse(body), { success: false, error: { code: 'INVALID_REQUEST', message: 'Request not received in time' } })

  release()
  const res = await slow
  t.equal(res.status, 200, 'the slow response still arrives')
  t.same(await res.json(), { done: true })
})
