import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { promisify } from 'node:util'
import t from 'tap'
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import packageJson from '../package.json' with { type: 'json' }
import { createApiKey } from './helpers/auth.ts'
import { build, captureLogs, signIn, TEST_ADMIN } from './helper.ts'
import { until } from './helpers/wait.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname
const ERROR = 2

interface Tap {
  teardown(fn: () => unknown): void
}

interface OtlpValue { stringValue?: string, intValue?: number | string, boolValue?: boolean }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  attributes: Array<{ key: string, value: OtlpValue }>
  status: { code?: number, message?: string }
}
interface OtlpExport {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string, value: OtlpValue }> }
    scopeSpans: Array<{ spans: OtlpSpan[] }>
  }>
}

/** A local OTLP/HTTP receiver: keeps every body POSTed to /v1/traces, answers `status`. */
async function otlpReceiver (t: Tap, status = 200) {
  const bodies: string[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/v1/traces') bodies.push(Buffer.concat(chunks).toString('utf8'))
      response.writeHead(status, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const { port } = server.address() as { port: number }
  const exports = () => bodies.map((body) => JSON.parse(body) as OtlpExport)
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bodies,
    resources: () => exports().flatMap((exported) => exported.resourceSpans.map((resourceSpans) => resourceSpans.resource)),
    spans: () => exports().flatMap((exported) => exported.resourceSpans.flatMap((resourceSpans) => resourceSpans.scopeSpans.flatMap((scope) => scope.spans)))
  }
}

/** A span's attributes as a plain object. */
function attributesOf (span: { attributes: Array<{ key: string, value: OtlpValue }> }): Record<string, unknown> {
  return Object.fromEntries(span.attributes.map(({ key, value }) => [key, value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue))]))
}

t.test('without an OTLP endpoint, tracing is not even loaded: no plugin, no decorator, no hook', async (t) => {
  const app = await build(t, 'pglite')
  t.notOk(app.hasPlugin('telemetry'))
  t.notOk(app.hasDecorator('tracing'))
  t.equal(app.tracing, undefined, 'the gateway finds nothing to trace with')
})

t.test('the app\'s modules import no OpenTelemetry SDK: it is loaded only when tracing is on', async (t) => {
  // A fresh process lists every module importing the app loads (prom-client loads the API alone, a no-op facade).
  const script = `
    import { registerHooks } from 'node:module'
    const loaded = []
    registerHooks({ load (url, context, next) { loaded.push(url); return next(url, context) } })
    await import('./app.ts')
    process.stdout.write(JSON.stringify(loaded))`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname })
  const loaded = JSON.parse(stdout) as string[]
  t.ok(loaded.some((url) => url.endsWith('/plugins/telemetry.ts')), 'the plugin module itself is there')
  t.same(loaded.filter((url) => url.endsWith('/lib/tracing.ts') || /\/@opentelemetry\/(?!api\/)/.test(url)), [])
})

t.test('HTTP requests, MCP requests and upstream tool calls are exported as spans', async (t) => {
  const receiver = await otlpReceiver(t)
  const app = await build(t, 'pglite', {
    config: { otlpEndpoint: receiver.endpoint, otelServiceName: 'mcphub-test' },
    supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 },
    extend: (app) => { app.get('/test/fails', { config: { access: 'public' } }, async () => { throw new Error('an internal failure') }) }
  })
  t.ok(app.hasPlugin('telemetry'))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const admin = await signIn(app)
  const apiKey = await createApiKey(app, admin)
  const created = await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name: 'Alpha', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal' } } })
  t.equal(created.statusCode, 201)
  const serverKey: string = created.json().data.key
  await until('the server running', () => app.supervisor.get(created.json().data.id)?.state === 'running')

  // A caller that traces its own requests: the hub's span continues its trace.
  const callerTraceId = '0af7651916cd43dd8448eb211c80319c'
  const callerSpanId = 'b7ad6b7169203331'
  const listed = await app.inject({ method: 'GET', url: '/api/servers?limit=5', headers: { ...admin.headers, traceparent: `00-${callerTraceId}-${callerSpanId}-01` } })
  t.equal(listed.statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/healthz', headers: { traceparent: '00-not-a-trace-parent' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/test/fails' })).statusCode, 500)
  const queryToken = 'a-token-in-a-query-string'
  t.equal((await app.inject({ method: 'GET', url: `/api/no/such/page?token=${queryToken}` })).statusCode, 404)

  const client = new Client({ name: 'test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { 'x-api-key': apiKey.key } } }))
  const argument = 'an-argument-that-must-not-be-exported'
  t.same((await client.callTool({ name: `${serverKey}__echo`, arguments: { text: argument } })).content, [{ type: 'text', text: argument }])
  await t.rejects(client.callTool({ name: `${serverKey}__add`, arguments: { a: 'not a number', b: 1 } }), /must be a number/)
  await client.close()
  // The older HTTP+SSE transport: each message is a POST /messages.
  const withAuth = (url: string | URL, init?: RequestInit) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), ...admin.headers } })
  const sseClient = new Client({ name: 'sse', version: '1.0.0' })
  await sseClient.connect(new SSEClientTransport(new URL(`http://127.0.0.1:${port}/sse`), { fetch: withAuth, eventSourceInit: { fetch: withAuth } }))
  t.same((await sseClient.callTool({ name: `${serverKey}__add`, arguments: { a: 1, b: 2 } })).content, [{ type: 'text', text: '3' }])
  await sseClient.close()
  // Closing the app exports what is still queued.
  await app.close()

  const spans = receiver.spans()
  const named = (name: string) => spans.filter((span) => span.name === name)
  const parentOf = (span: OtlpSpan | undefined) => spans.find((parent) => parent.spanId === span?.parentSpanId)

  t.test('every export names the service', async (t) => {
    t.ok(receiver.resources().length > 0)
    for (const resource of receiver.resources()) t.match(attributesOf(resource), { 'service.name': 'mcphub-test', 'service.version': packageJson.version })
  })

  t.test('a span per HTTP request, named by its route, continuing the caller\'s trace', async (t) => {
    const [rest] = named('GET /api/servers')
    t.match(attributesOf(rest!), { 'http.request.method': 'GET', 'http.route': '/api/servers', 'url.path': '/api/servers', 'http.response.status_code': 200 })
    t.not(rest!.status.code, ERROR)
    t.equal(rest!.traceId, callerTraceId, 'in the trace of the caller\'s traceparent')
    t.equal(rest!.parentSpanId, callerSpanId)
    const [health] = named('GET /healthz')
    t.ok(health, 'a malformed traceparent is ignored')
    t.notOk(health!.parentSpanId, 'the request starts a trace of its own')
  })

  t.test('a 5xx answer is an error; a 4xx one is not', async (t) => {
    const [failing] = named('GET /test/fails')
    t.match(attributesOf(failing!), { 'http.response.status_code': 500 })
    t.equal(failing!.status.code, ERROR)
    const notFound = spans.find((span) => attributesOf(span)['url.path'] === '/api/no/such/page')
    t.match(notFound, { name: 'GET' }, 'without a route, the span is named by the method alone')
    t.not(notFound?.status.code, ERROR)
  })

  t.test('a span per MCP request, a child of its HTTP request\'s', async (t) => {
    t.ok(named('mcp initialize').length > 0)
    const mcpCalls = named('mcp tools/call')
    t.equal(mcpCalls.length, 3)
    for (const mcp of mcpCalls) {
      t.match(attributesOf(mcp), { 'mcp.method.name': 'tools/call', 'jsonrpc.request.id': /^\d+$/ })
      t.match(parentOf(mcp), { name: /^POST \/(mcp|messages)$/, traceId: mcp.traceId })
    }
    t.ok(mcpCalls.some((mcp) => typeof attributesOf(mcp)['mcp.session.id'] === 'string'), 'with the session, when there is one')
  })

  t.test('a span per upstream tool call, a child of its MCP request\'s, with its outcome', async (t) => {
    const [echo] = named('tools/call echo')
    t.match(attributesOf(echo!), { 'mcp.server': serverKey, 'mcp.tool.name': 'echo', 'mcp.tool.is_error': false })
    t.not(echo!.status.code, ERROR)
    t.match(parentOf(echo), { name: 'mcp tools/call', traceId: echo!.traceId })
    t.not(parentOf(echo)?.status.code, ERROR)

    const failed = named('tools/call add').find((span) => attributesOf(span)['mcp.tool.is_error'] === true)
    t.match(attributesOf(failed!), { 'mcp.server': serverKey, 'mcp.tool.name': 'add' })
    t.match(failed!.status, { code: ERROR, message: /must be a number/ }, 'a failed call is an error, with its message')
    t.match(parentOf(failed), { name: 'mcp tools/call', status: { code: ERROR } }, 'the MCP request fails with its call')

    const overSse = named('tools/call add').find((span) => attributesOf(span)['mcp.tool.is_error'] === false)
    t.equal(parentOf(overSse)?.name, 'mcp tools/call', 'calls over HTTP+SSE are traced too')
    t.equal(parentOf(parentOf(overSse))?.name, 'POST /messages')
  })

  t.test('no credential, header or argument is exported', async (t) => {
    const exported = receiver.bodies.join('\n')
    for (const secret of [admin.token, apiKey.key, TEST_ADMIN.password, argument, queryToken]) t.notOk(exported.includes(secret))
  })
})

t.test('export failures are logged, never thrown into requests', async (t) => {
  const receiver = await otlpReceiver(t, 400)
  const logs = captureLogs()
  const app = await build(t, 'pglite', { config: { otlpEndpoint: receiver.endpoint, logLevel: 'warn' }, logStream: logs.stream })
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  await app.close()
  t.ok(receiver.bodies.length > 0, 'the spans were sent')
  const warnings = logs.lines.filter((line) => line.includes('could not export traces'))
  t.equal(warnings.length, 1)
})
