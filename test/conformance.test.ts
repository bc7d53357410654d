import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { build, rememberSecret, signIn } from './helper.ts'
import { startUpstream } from './helpers/remote-upstream.ts'

/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance), run against the hub:
 * its server scenarios speak to /mcp/servers/{key} through a proxy that adds an API key,
 * and the server behind the hub is test/fixtures/conformance-server.ts, which passes every
 * scenario when served directly: as a stdio child, and as a remote Streamable HTTP server
 * (test/fixtures/remote-server.ts). A failing scenario here is the hub's doing.
 */

const FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname
const require = createRequire(import.meta.url)
const CONFORMANCE_PACKAGE = require.resolve('@modelcontextprotocol/conformance/package.json')
const CONFORMANCE_CLI = join(dirname(CONFORMANCE_PACKAGE), (JSON.parse(readFileSync(CONFORMANCE_PACKAGE, 'utf8')) as { bin: { conformance: string } }).bin.conformance)

/**
 * Scenarios that cannot pass through the hub, each with the reason. Only for reasons that are
 * not the hub's to fix; what the gateway does not relay yet fails here until it does.
 */
const EXCEPTIONS: Record<string, string> = {}

interface Check {
  id: string
  name: string
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED'
  errorMessage?: string
}

/** Headers that belong to one connection, not to the message. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

function endToEnd (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)))
}

/**
 * Forwards every request to the hub with an API key added, Host and Origin untouched (so the
 * DNS rebinding scenario tests the hub), and streams responses back as they come (SSE).
 */
async function credentialProxy (target: { port: number }, apiKey: string): Promise<HttpServer> {
  const proxy = createServer((incoming, outgoing) => {
    const forwarded = httpRequest({
      host: '127.0.0.1',
      port: target.port,
      method: incoming.method,
      path: incoming.url,
      headers: { ...endToEnd(incoming.headers), 'x-api-key': apiKey }
    }, (response) => {
      outgoing.writeHead(response.statusCode ?? 502, endToEnd(response.headers))
      outgoing.flushHeaders()
      response.pipe(outgoing)
    })
    forwarded.on('error', () => { outgoing.destroy() })
    // The client went away mid-response (a closed SSE stream): so does the hub's side.
    outgoing.on('close', () => { if (!outgoing.writableFinished) forwarded.destroy() })
    incoming.pipe(forwarded)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  return proxy
}

/** Runs the suite against /mcp/servers/{key} for the server `record` describes. */
async function passesThroughTheHub (t: Test, record: Record<string, unknown>): Promise<void> {
  const app = await build(t, 'pglite', { config: { egressAllow: ['127.0.0.1'] }, supervisorPolicy: { startTimeoutMs: 15_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const admin = await signIn(app)
  const api = async (url: string, payload?: object) => {
    const res = await app.inject({ method: 'POST', url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
    return res.body === '' ? undefined : res.json().data
  }
  const server = await api('/api/servers', { name: 'Conformance', ...record, enabled: false }) as { id: string, key: string }
  await api(`/api/servers/${server.id}/start`)
  const { key: apiKey } = await api('/api/auth/api-keys', { name: 'conformance suite' }) as { key: string }
  rememberSecret(apiKey)

  const proxy = await credentialProxy(app.server.address() as { port: number }, apiKey)
  t.teardown(() => new Promise((resolve) => {
    proxy.closeAllConnections()
    proxy.close(resolve)
  }))
  const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/mcp/servers/${server.key}`

  const outputDir = mkdtempSync(join(tmpdir(), 'mcphub-conformance-'))
  t.teardown(() => rmSync(outputDir, { recursive: true, force: true }))
  // Every server scenario, pending ones included (all pass against the fixture served directly).
  const run = await execa(process.execPath, [CONFORMANCE_CLI, 'server', '--url', url, '--suite', 'all', '--output-dir', outputDir], {
    reject: false,
    timeout: 90_000,
    // Not tap's loaders: the suite is a plain Node program.
    env: { NODE_OPTIONS: '' }
  })
  t.notOk(run.timedOut, 'the suite finished within 90 s')

  const scenarios = [...run.stdout.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((match) => match[1]!)
  t.ok(scenarios.length >= 30, `the suite ran its server scenarios (${scenarios.length})`)
  const resultDirs = readdirSync(outputDir)
  for (const scenario of scenarios) {
    // Each scenario writes <output>/server-<scenario>-<timestamp>/checks.json.
    const dir = resultDirs.find((name) => name.startsWith(`server-${scenario}-`) && /^\d{4}-/.test(name.slice(`server-${scenario}-`.length)))
    const checks: Check[] = dir === undefined
      ? [{ id: scenario, name: scenario, status: 'FAILURE', errorMessage: 'the scenario crashed before reporting (see the suite\'s output)' }]
      : JSON.parse(readFileSync(join(outputDir, dir, 'checks.json'), 'utf8'))
    const failures = checks.filter((check) => check.status === 'FAILURE').map((check) => `${check.name}: ${check.errorMessage ?? 'failed'}`)
    for (const check of checks.filter((check) => check.status === 'WARNING')) t.comment(`${scenario} warns: ${check.name}: ${check.errorMessage ?? ''}`)
    const exception = EXCEPTIONS[scenario]
    t.same(failures, [], scenario, exception === undefined ? {} : { todo: exception })
  }
}

t.test('the MCP conformance suite passes against /mcp/servers/{key} for a stdio server', async (t) => {
  await passesThroughTheHub(t, { command: process.execPath, args: [FIXTURE] })
})

t.test('and for the same server as a remote Streamable HTTP server', async (t) => {
  const upstream = await startUpstream(t, 'streamable-http')
  await passesThroughTheHub(t, { type: 'streamable-http', url: upstream.url })
})
