import { createServer, type RequestListener, type Server } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { EgressError, EgressGuard } from '../lib/egress.ts'
import { problemsOf } from './helpers/config.ts'
import { selfSignedCertificate } from './helpers/tls.ts'

type Tap = Test

async function receiver (t: Tap, handler: RequestListener, server: Server = createServer()): Promise<{ port: number, hits: string[] }> {
  const hits: string[] = []
  server.on('request', (request, response) => {
    hits.push(request.url ?? '')
    handler(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { port: (server.address() as AddressInfo).port, hits }
}

async function refusal (action: () => Promise<unknown>): Promise<EgressError> {
  try {
    await action()
  } catch (error) {
    if (error instanceof EgressError) return error
    throw error
  }
  throw new Error('expected an EgressError')
}

const FORBIDDEN = {
  'IPv4 loopback': '127.0.0.1',
  'another loopback address': '127.3.4.5',
  'the unspecified address': '0.0.0.0',
  'RFC 1918 10/8': '10.1.2.3',
  'RFC 1918 172.16/12': '172.20.0.1',
  'RFC 1918 192.168/16': '192.168.1.1',
  'cloud metadata (link-local)': '169.254.169.254',
  'CGNAT (Alibaba metadata)': '100.100.100.200',
  multicast: '224.0.0.1',
  broadcast: '255.255.255.255',
  'IPv6 loopback': '::1',
  'IPv6 loopback in brackets': '[::1]',
  'IPv4-mapped loopback': '[::ffff:127.0.0.1]',
  'IPv4-mapped loopback, hex form': '::ffff:7f00:1',
  'IPv4-mapped metadata': '::ffff:169.254.169.254',
  'NAT64 of loopback': '64:ff9b::7f00:1',
  '6to4 of loopback': '2002:7f00:1::',
  Teredo: '2001::1',
  'unique-local': 'fd00::1',
  'AWS IPv6 metadata (unique-local)': 'fd00:ec2::254',
  'IPv6 link-local': 'fe80::1',
  'IPv6 unspecified': '::'
}

t.test('every private, loopback, metadata and IPv4-embedding form is refused without the allow-list', async (t) => {
  const guard = new EgressGuard()
  for (const [what, host] of Object.entries(FORBIDDEN)) {
    const error = await refusal(() => guard.resolve(host))
    t.equal(error.kind, 'refused', `${what} (${host}) is refused`)
    t.match(error.message, /MCPHUB_EGRESS_ALLOW/, `${what}: the refusal says how to admit it`)
  }
})

t.test('URLs spelling loopback another way are refused too', async (t) => {
  const guard = new EgressGuard()
  for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://127.1/', 'http://[::ffff:127.0.0.1]/', 'http://localhost/', 'http://LOCALHOST./']) {
    const error = await refusal(() => guard.request(url))
    t.equal(error.kind, 'refused', `${url} is refused`)
  }
})

t.test('public addresses pass, IPv4-mapped ones by their IPv4 address', async (t) => {
  const guard = new EgressGuard()
  t.same(await guard.resolve('8.8.8.8'), { host: '8.8.8.8', address: '8.8.8.8', family: 4 })
  t.same(await guard.resolve('[2606:4700::1111]'), { host: '2606:4700::1111', address: '2606:4700::1111', family: 6 })
  t.equal((await guard.resolve('::ffff:8.8.8.8')).family, 6)
})

t.test('a name is checked by every address it resolves to', async (t) => {
  const mixed = new EgressGuard([], async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }])
  const error = await refusal(() => mixed.resolve('mixed.example'))
  t.equal(error.kind, 'refused', 'one private address among public ones refuses the name')
  t.match(error.message, /10\.0\.0\.5 is a private address/)

  const real = new EgressGuard()
  t.equal((await refusal(() => real.resolve('localhost'))).kind, 'refused', 'localhost, through the system resolver')
  t.equal((await refusal(() => real.resolve('no-such-host.invalid'))).kind, 'dns', 'a name that does not resolve')
})

t.test('the allow-list admits host names and CIDRs, and nothing beside them', async (t) => {
  const guard = new EgressGuard(['smtp.internal', '10.0.0.0/8', '::1', '169.254.169.254/32'], async () => [{ address: '192.168.7.7', family: 4 }])
  t.equal((await guard.resolve('SMTP.internal')).address, '192.168.7.7', 'an allowed name, whatever it resolves to')
  t.equal((await guard.resolve('10.9.8.7')).address, '10.9.8.7', 'inside an allowed CIDR')
  t.equal((await guard.resolve('[::1]')).address, '::1', 'an allowed address')
  t.equal((await guard.resolve('::ffff:10.1.1.1')).family, 6, 'an IPv4-mapped address inside an allowed IPv4 CIDR')
  t.equal((await refusal(() => guard.resolve('192.168.1.1'))).kind, 'refused', 'other private ranges stay refused')
  t.equal((await refusal(() => guard.resolve('127.0.0.1'))).kind, 'refused', 'IPv4 loopback is not IPv6 loopback')
  t.equal((await refusal(() => guard.resolve('other.internal'))).kind, 'refused', 'another name resolving to a private address')
})

t.test('a bad CIDR in MCPHUB_EGRESS_ALLOW stops the start with a clear line', async (t) => {
  t.same(problemsOf({ MCPHUB_EGRESS_ALLOW: 'smtp.internal,10.0.0.0/33' }), ['MCPHUB_EGRESS_ALLOW: 10.0.0.0/33 is not a CIDR (10.0.0.0/8, fd00::/8)'])
  t.same(problemsOf({ MCPHUB_EGRESS_ALLOW: 'smtp.internal,10.0.0.0/8,::1' }), [])
})

t.test('the connection goes to the address that was checked: the name is resolved once', async (t) => {
  const { port, hits } = await receiver(t, (_request, response) => response.end('pinned'))
  let lookups = 0
  const guard = new EgressGuard(['hooks.example'], async () => {
    lookups++
    // A rebinding resolver would answer differently the second time.
    return lookups === 1 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]
  })
  const response = await guard.request(`http://hooks.example:${port}/hook`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(response.status, 200)
  t.equal(response.body.toString(), 'pinned')
  t.equal(lookups, 1, 'one lookup, the checked one')
  t.same(hits, ['/hook'])
})

t.test('redirects are answered, never followed', async (t) => {
  const target = await receiver(t, (_request, response) => response.end('should not be reached'))
  const { port } = await receiver(t, (_request, response) => {
    response.writeHead(302, { location: `http://127.0.0.1:${target.port}/next` })
    response.end()
  })
  const response = await new EgressGuard(['127.0.0.1']).request(`http://127.0.0.1:${port}/`)
  t.equal(response.status, 302)
  t.same(target.hits, [], 'the redirect target was not contacted')
})

t.test('answers are bounded in time and size', async (t) => {
  const guard = new EgressGuard(['127.0.0.1'])
  const silent = await receiver(t, () => { /* never answers */ })
  const slow = await refusal(() => guard.request(`http://127.0.0.1:${silent.port}/`, { timeoutMs: 300 }))
  t.equal(slow.kind, 'timeout')
  t.match(slow.message, /did not answer within 300 ms/)

  const big = await receiver(t, (_request, response) => response.end(Buffer.alloc(64 * 1024, 'x')))
  const large = await refusal(() => guard.request(`http://127.0.0.1:${big.port}/`, { maxResponseBytes: 1024 }))
  t.equal(large.kind, 'too-large')
  t.equal((await guard.request(`http://127.0.0.1:${big.port}/`)).body.length, 64 * 1024, 'under the default cap it is read whole')
})

t.test('failures are said in plain words, without the URL or its token', async (t) => {
  const guard = new EgressGuard(['127.0.0.1'])
  // A port nobody listens on: take one and free it.
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const freePort = (free.address() as AddressInfo).port
  await new Promise<void>((resolve) => free.close(() => resolve()))
  const refused = await refusal(() => guard.request(`http://127.0.0.1:${freePort}/hooks/T000/B000/canary-slack-token?token=canary-query-token`))
  t.equal(refused.kind, 'connect')
  t.equal(refused.message, '127.0.0.1 refused the connection')
  t.notMatch(refused.message, /canary/)

  const ftp = await refusal(() => guard.request('ftp://127.0.0.1/file'))
  t.equal(ftp.kind, 'protocol')

  const forbidden = await refusal(() => new EgressGuard().request('http://169.254.169.254/latest/meta-data/iam?token=canary-query-token'))
  t.notMatch(forbidden.message, /canary|meta-data/, 'a refusal names the host, not the path or query')
})

t.test('a TLS server whose certificate is not trusted fails as TLS', async (t) => {
  const { port, hits } = await receiver(t, (_request, response) => response.end('secret'), createTlsServer(selfSignedCertificate()))
  const error = await refusal(() => new EgressGuard(['127.0.0.1']).request(`https://localhost:${port}/`))
  t.equal(error.kind, 'tls')
  t.match(error.message, /^TLS with localhost failed/)
  t.same(hits, [], 'no request was sent over the untrusted connection')
})
