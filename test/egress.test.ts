import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node'
import { fromJsonSchema, McpServer, type Transport } from '@modelcontextprotocol/server'
import t, { type Test } from 'tap'
import { EgressError, EgressGuard, type FetchLike } from '../lib/egress.ts'
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
  const error = await rejection(action)
  if (error instanceof EgressError) return error
  throw error
}

async function rejection (action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action()
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** How many connections `server` was asked for. */
function connectionsTo (server: Server): () => number {
  let connections = 0
  server.on('connection', () => connections++)
  return () => connections
}

const text = new TextDecoder()

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

// guard.fetcher(): the streaming fetch the MCP SDK's HTTP transports are given.

const local = new EgressGuard(['127.0.0.1'])

t.test('fetch: a body streams as it arrives, before the answer ends', async (t) => {
  const firstRead = Promise.withResolvers<void>()
  const { port } = await receiver(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    response.write('data: one\n\n')
    firstRead.promise.then(() => response.end('data: two\n\n'))
  })
  const response = await local.fetcher()(`http://127.0.0.1:${port}/sse`)
  t.equal(response.status, 200)
  t.ok(response instanceof Response, 'a real Response')
  const reader = response.body!.getReader()
  t.equal(text.decode((await reader.read()).value), 'data: one\n\n', 'the first event, while the server still holds the answer open')
  firstRead.resolve()
  t.equal(text.decode((await reader.read()).value), 'data: two\n\n')
  t.equal((await reader.read()).done, true)
})

t.test('fetch: the method, headers in every form and the body arrive intact, Host naming the URL\'s host', async (t) => {
  const seen: Array<{ method?: string, headers: Record<string, unknown>, body: string }> = []
  const { port } = await receiver(t, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.push({ method: request.method, headers: request.headers, body: Buffer.concat(chunks).toString() })
      response.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-1' })
      response.end('{"ok":true}')
    })
  })
  const guard = new EgressGuard(['mcp.example'], async () => [{ address: '127.0.0.1', family: 4 }])
  const fetch = guard.fetcher()
  const url = `http://mcp.example:${port}/mcp?tenant=1`
  const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}'

  const response = await fetch(url, { method: 'POST', body, headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer abc', 'mcp-protocol-version': '2025-11-25' }) })
  t.same(await response.json(), { ok: true })
  t.equal(response.headers.get('mcp-session-id'), 'session-1')
  await fetch(url, { method: 'post', body: new TextEncoder().encode(body), headers: [['x-one', '1'], ['x-two', '2']] })
  await fetch(new URL(url), { method: 'DELETE', headers: { 'x-record': 'yes', host: 'elsewhere.example', 'accept-encoding': 'gzip' } })

  t.match(seen[0], { method: 'POST', body, headers: { host: `mcp.example:${port}`, 'content-type': 'application/json', authorization: 'Bearer abc', 'mcp-protocol-version': '2025-11-25', 'content-length': String(body.length) } })
  t.match(seen[1], { method: 'POST', body, headers: { 'x-one': '1', 'x-two': '2' } })
  t.match(seen[2], { method: 'DELETE', body: '', headers: { 'x-record': 'yes', host: `mcp.example:${port}` } }, 'a Host header given is not sent: the URL names the host')
  t.notOk(seen[2]?.headers['accept-encoding'], 'no content coding is asked for: bodies are not decoded')
})

t.test('fetch: every call resolves and checks the host again', async (t) => {
  const { port, hits } = await receiver(t, (_request, response) => response.end('ok'))
  let lookups = 0
  // A rebinding resolver: a public-looking answer is not needed, the first is admitted by address.
  const guard = new EgressGuard(['127.0.0.1'], async () => (++lookups === 1 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]))
  const fetch = guard.fetcher()
  t.equal(await (await fetch(`http://rebind.example:${port}/`)).text(), 'ok')
  const second = await refusal(() => fetch(`http://rebind.example:${port}/`))
  t.equal(second.kind, 'refused')
  t.equal(lookups, 2)
  t.same(hits, ['/'], 'one request, to the address checked for it')
})

t.test('fetch: refused targets make no connection', async (t) => {
  const server = createServer((_request, response) => response.end('reached'))
  const connections = connectionsTo(server)
  const { port } = await receiver(t, () => {}, server)
  const fetch = new EgressGuard([], async () => [{ address: '127.0.0.1', family: 4 }]).fetcher()
  for (const host of ['169.254.169.254', '[::ffff:127.0.0.1]', '[2002:7f00:1::]', 'loopback.example']) {
    const error = await refusal(() => fetch(`http://${host}:${port}/mcp?token=canary-query-token`, { headers: { authorization: 'Bearer canary-header-token' } }))
    t.equal(error.kind, 'refused', `${host} is refused`)
    t.notMatch(error.message, /canary|mcp/, 'the refusal names the host, not the path, query or headers')
  }
  t.equal(connections(), 0, 'no connection was made')
  t.equal((await refusal(() => fetch('file:///etc/passwd'))).kind, 'protocol', 'only http: and https:')
  t.equal((await refusal(() => fetch('not a url'))).kind, 'protocol')
})

t.test('fetch: a redirect is the answer, never followed', async (t) => {
  const target = await receiver(t, (_request, response) => response.end('should not be reached'))
  const { port } = await receiver(t, (_request, response) => {
    response.writeHead(307, { location: `http://127.0.0.1:${target.port}/next` })
    response.end('moved')
  })
  const fetch = local.fetcher()
  const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' })
  t.equal(response.status, 307)
  t.equal(response.headers.get('location'), `http://127.0.0.1:${target.port}/next`)
  t.equal(await response.text(), 'moved')

  const refused = await rejection(() => fetch(`http://127.0.0.1:${port}/`, { redirect: 'error' }))
  t.ok(refused instanceof TypeError, 'redirect: error rejects with a TypeError, as fetch does')
  t.same(target.hits, [], 'the Location target was never contacted')
})

t.test('fetch: an error answer reads as fetch\'s does; no body on 204 and HEAD', async (t) => {
  const { port } = await receiver(t, (request, response) => {
    if (request.url === '/gone') {
      response.writeHead(404, { 'content-type': 'application/json', 'mcp-session-id': 'old' })
      response.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}')
    } else if (request.method === 'HEAD') {
      response.writeHead(200, { 'content-length': '12' })
      response.end()
    } else {
      response.writeHead(204)
      response.end()
    }
  })
  const fetch = local.fetcher()
  const gone = await fetch(`http://127.0.0.1:${port}/gone`, { method: 'POST', body: '{}' })
  t.equal(gone.status, 404)
  t.equal(gone.statusText, 'Not Found')
  t.equal(gone.ok, false)
  t.equal(gone.headers.get('content-type'), 'application/json')
  t.equal(gone.headers.get('mcp-session-id'), 'old')
  t.match(JSON.parse(await gone.text()), { error: { code: -32001 } })

  const accepted = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' })
  t.equal(accepted.status, 204)
  t.equal(accepted.body, null)
  const head = await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' })
  t.equal(head.headers.get('content-length'), '12')
  t.equal(head.body, null)
})

t.test('fetch: aborting before the call makes no connection', async (t) => {
  const server = createServer((_request, response) => response.end('reached'))
  const connections = connectionsTo(server)
  const { port } = await receiver(t, () => {}, server)
  const controller = new AbortController()
  controller.abort()
  const error = await rejection(() => local.fetcher()(`http://127.0.0.1:${port}/`, { signal: controller.signal }))
  t.equal((error as Error).name, 'AbortError')
  t.equal(connections(), 0)
})

t.test('fetch: aborting while the answer is awaited, or during the body, ends the connection', async (t) => {
  const closed: Array<Promise<unknown>> = []
  const silentAsked = Promise.withResolvers<void>()
  const { port } = await receiver(t, (request, response) => {
    closed.push(once(response, 'close'))
    if (request.url === '/silent') silentAsked.resolve()
    if (request.url === '/sse') {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('data: one\n\n')
    }
  })
  const fetch = local.fetcher()

  const waiting = new AbortController()
  const pending = fetch(`http://127.0.0.1:${port}/silent`, { signal: waiting.signal })
  await silentAsked.promise
  waiting.abort()
  t.equal(((await rejection(() => pending)) as Error).name, 'AbortError', 'the call rejects')

  const streaming = new AbortController()
  const response = await fetch(`http://127.0.0.1:${port}/sse`, { signal: streaming.signal })
  const reader = response.body!.getReader()
  t.equal(text.decode((await reader.read()).value), 'data: one\n\n')
  streaming.abort()
  t.equal(((await rejection(() => reader.read())) as Error).name, 'AbortError', 'the body errors')
  await Promise.all(closed)
  t.pass('the server saw both connections close')
})

t.test('fetch: the response head and the connection are bounded in time, the body is not', async (t) => {
  const { port } = await receiver(t, (request, response) => {
    if (request.url === '/slow-body') {
      response.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders()
      setTimeout(() => response.end('data: late\n\n'), 300)
    }
  })
  const fetch = local.fetcher({ responseTimeoutMs: 150 })
  const silent = await refusal(() => fetch(`http://127.0.0.1:${port}/silent?token=canary`))
  t.equal(silent.kind, 'timeout')
  t.equal(silent.message, '127.0.0.1 did not answer within 150 ms')
  t.equal(await (await fetch(`http://127.0.0.1:${port}/slow-body`)).text(), 'data: late\n\n', 'a body may take longer than the head')

  // TCP connects but TLS never completes: the connect timeout counts the handshake.
  const sockets = new Set<Socket>()
  const mute = createTcpServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    mute.close(() => resolve())
  }))
  const mutePort = (mute.address() as AddressInfo).port
  const handshake = await refusal(() => local.fetcher({ connectTimeoutMs: 150 })(`https://127.0.0.1:${mutePort}/`))
  t.equal(handshake.kind, 'timeout')
  t.equal(handshake.message, 'cannot connect to 127.0.0.1 within 150 ms')
})

t.test('fetch: a body over the size cap, and an event-stream event over it, error the body', async (t) => {
  const { port } = await receiver(t, (request, response) => {
    if (request.url === '/json') {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ data: 'x'.repeat(64 * 1024) }))
    } else if (request.url === '/many-events') {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let i = 0; i < 20; i++) response.write(`data: ${'y'.repeat(200)}\r\n\r\n`)
      response.end()
    } else {
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' })
      response.write(`data: ${'z'.repeat(4096)}`) // and the line never ends
    }
  })
  const fetch = local.fetcher({ maxMessageBytes: 1024 })
  const json = await refusal(async () => await (await fetch(`http://127.0.0.1:${port}/json`)).json())
  t.equal(json.kind, 'too-large')
  t.equal(json.message, 'the response of 127.0.0.1 is over 1024 bytes')

  t.equal((await (await fetch(`http://127.0.0.1:${port}/many-events`)).text()).length, 20 * 210, 'an event stream longer than the cap, each event under it, passes')

  const endless = await refusal(async () => await (await fetch(`http://127.0.0.1:${port}/endless-line`)).text())
  t.equal(endless.kind, 'too-large')
  t.equal(endless.message, 'an event from 127.0.0.1 is over 1024 bytes')
})

t.test('fetch: failures name the host, never the path, query or a header value', async (t) => {
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const freePort = (free.address() as AddressInfo).port
  await new Promise<void>((resolve) => free.close(() => resolve()))
  const fetch = local.fetcher()
  const refused = await refusal(() => fetch(`http://127.0.0.1:${freePort}/canary-path?token=canary-query`, { headers: { authorization: 'Bearer canary-header' } }))
  t.equal(refused.kind, 'connect')
  t.equal(refused.message, '127.0.0.1 refused the connection')

  const badHeader = await rejection(() => fetch(`http://127.0.0.1:${freePort}/`, { headers: { authorization: 'Bearer canary\nheader' } }))
  t.ok(badHeader instanceof TypeError)
  t.notMatch((badHeader as Error).message, /canary/, 'an invalid header value is not quoted')

  const notHttp = createTcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n').resume())
  await new Promise<void>((resolve) => notHttp.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => notHttp.close(() => resolve())))
  const garbled = await refusal(() => fetch(`http://127.0.0.1:${(notHttp.address() as AddressInfo).port}/`))
  t.equal(garbled.kind, 'protocol')
  t.equal(garbled.message, '127.0.0.1 did not answer in HTTP')
})

/** An MCP server with one tool, `shout`, ended in teardown. */
function remoteServer (t: Tap): McpServer {
  const mcp = new McpServer({ name: 'remote', version: '1.0.0' })
  mcp.registerTool('shout', {
    description: 'Upper-cases a text',
    inputSchema: fromJsonSchema<{ text: string }>({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] })
  }, async ({ text }) => ({ content: [{ type: 'text', text: text.toUpperCase() }] }))
  t.teardown(() => mcp.close())
  return mcp
}

/** `fetch`, noting the method of every call. */
function counted (fetch: FetchLike, methods: string[]): FetchLike {
  return (url, init) => {
    methods.push(init?.method ?? 'GET')
    return fetch(url, init)
  }
}

async function listAndCall (t: Tap, client: Client): Promise<void> {
  const { tools } = await client.listTools()
  t.same(tools.map((tool) => tool.name), ['shout'])
  const result = await client.callTool({ name: 'shout', arguments: { text: 'hello' } })
  t.same(result.content, [{ type: 'text', text: 'HELLO' }])
}

t.test('fetch: the MCP SDK\'s Streamable HTTP client lists and calls tools through it', async (t) => {
  const mcp = remoteServer(t)
  const serverTransport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() })
  await mcp.connect(serverTransport)
  const { port } = await receiver(t, async (request, response) => { await serverTransport.handleRequest(request, response) })

  const methods: string[] = []
  const client = new Client({ name: 'hub', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: counted(local.fetcher(), methods) }))
  t.teardown(() => client.close())
  await listAndCall(t, client)
  t.ok(methods.filter((method) => method === 'POST').length >= 3, 'initialize, tools/list and tools/call went through the guard')
})

t.test('fetch: the MCP SDK\'s legacy SSE client lists and calls tools through it', async (t) => {
  // The SDK v2 has no server side of the 2024-11-05 SSE transport: a minimal one.
  let events: ServerResponse | undefined
  const serverTransport: Transport = {
    async start () {},
    async send (message) { events?.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`) },
    async close () { events?.end() }
  }
  await remoteServer(t).connect(serverTransport)
  const { port } = await receiver(t, async (request, response) => {
    if (request.method === 'GET') {
      events = response.writeHead(200, { 'content-type': 'text/event-stream' })
      events.write('event: endpoint\ndata: /messages?session=1\n\n')
      return
    }
    const chunks: Buffer[] = await request.toArray()
    response.writeHead(202).end()
    serverTransport.onmessage?.(JSON.parse(Buffer.concat(chunks).toString()))
  })

  const methods: string[] = []
  const client = new Client({ name: 'hub', version: '1.0.0' })
  await client.connect(new SSEClientTransport(new URL(`http://127.0.0.1:${port}/sse`), { fetch: counted(local.fetcher(), methods) }))
  t.teardown(() => client.close())
  await listAndCall(t, client)
  t.equal(methods[0], 'GET', 'the event stream went through the guard')
  t.ok(methods.filter((method) => method === 'POST').length >= 3, 'and so did the messages')
})
