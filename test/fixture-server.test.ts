import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { isRunning, startProcess } from './helpers/processes.ts'
import { Client } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'

// Proves that test/fixtures/mcp-server.ts speaks real MCP, using the official SDK client.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

type Tap = Parameters<typeof startProcess>[0]

/** The SDK's own stdio transport to the fixture; the process ends with the test, passed or failed. */
function transportFor (t: Tap, mode: string): { transport: StdioClientTransport, stderr: () => string } {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [FIXTURE],
    env: { FIXTURE_MODE: mode },
    stderr: 'pipe'
  })
  t.teardown(async () => {
    const pid = transport.pid
    await transport.close()
    if (pid !== null && isRunning(pid)) process.kill(pid, 'SIGKILL')
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  return { transport, stderr: () => stderr }
}

function textOf (result: unknown): string | undefined {
  const content = (result as { content?: Array<{ type: string, text?: string }> }).content
  return content?.[0]?.type === 'text' ? content[0].text : undefined
}

/** The fixture in its own process group, which ends with the test, passed or failed. */
function startFixture (t: Tap, mode: string, env: Record<string, string> = {}) {
  return startProcess(t, process.execPath, [FIXTURE], { env: { ...process.env, FIXTURE_MODE: mode, ...env } })
}

function spawnFixture (t: Tap, mode: string) {
  return startFixture(t, mode).child
}

t.test('normal mode speaks MCP to the SDK client', async (t) => {
  const { transport, stderr } = transportFor(t, 'normal')
  const client = new Client({ name: 'fixture-test', version: '1.0.0' })
  const messages: Array<{ level: string, data: unknown }> = []
  let listChanged = 0
  client.setNotificationHandler('notifications/message', (n) => { messages.push({ level: n.params.level, data: n.params.data }) })
  client.setNotificationHandler('notifications/tools/list_changed', () => { listChanged++ })
  await client.connect(transport)
  t.teardown(() => client.close())

  t.same(client.getServerVersion(), { name: 'fixture', version: '1.0.0' })
  t.ok(client.getServerCapabilities()?.tools?.listChanged)
  t.match(stderr(), /fixture started pid \d+ mode normal/)

  const { tools } = await client.listTools()
  t.same(tools.map((tool) => tool.name), ['echo', 'add', 'env', 'log', 'add_tool', 'slow'])

  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi there' } })), 'hi there')
  t.equal(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })), '42')
  t.equal(textOf(await client.callTool({ name: 'slow', arguments: { ms: 20 } })), 'slept 20')
  const env = JSON.parse(textOf(await client.callTool({ name: 'env', arguments: { name: 'FIXTURE_MODE' } })) ?? '{}')
  t.ok(env.keys.includes('FIXTURE_MODE'))
  t.equal(env.value, 'normal')
  await t.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), 'an unknown tool is an error')
  await client.ping()

  const { prompts } = await client.listPrompts()
  t.same(prompts.map((p) => p.name), ['greet'])
  const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })
  t.match(prompt.messages[0]?.content, { type: 'text', text: 'Hello, Ada!' })

  const { resources } = await client.listResources()
  t.match(resources, [{ uri: 'fixture://hello', mimeType: 'text/plain' }])
  const read = await client.readResource({ uri: 'fixture://hello' })
  t.match(read.contents[0], { uri: 'fixture://hello', text: 'Hello from the fixture' })

  await client.setLoggingLevel('debug')
  t.equal(textOf(await client.callTool({ name: 'log', arguments: { level: 'warning', message: 'careful' } })), 'ok')
  t.same(messages, [{ level: 'warning', data: 'careful' }], 'the log tool sends notifications/message first')

  t.equal(textOf(await client.callTool({ name: 'add_tool', arguments: {} })), 'extra_1')
  t.equal(listChanged, 1, 'add_tool sends notifications/tools/list_changed')
  const after = await client.listTools()
  t.ok(after.tools.some((tool) => tool.name === 'extra_1'), 'the new tool is listed')
  t.equal(textOf(await client.callTool({ name: 'extra_1', arguments: {} })), 'extra_1')
})

t.test('exit mode exits at once with code 3', async (t) => {
  const child = spawnFixture(t, 'exit')
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit')
  t.equal(code, 3)
  t.match(stderr, 'fixture: exiting at once')
})

t.test('normal mode exits 0 on stdin EOF', async (t) => {
  const child = spawnFixture(t, 'normal')
  child.stdin.end()
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
})

t.test('stdout-noise mode: the SDK client skips the non-JSON lines', async (t) => {
  // The SDK's ReadBuffer drops lines that fail JSON.parse, so the handshake still works.
  const { transport } = transportFor(t, 'stdout-noise')
  const client = new Client({ name: 'fixture-test', version: '1.0.0' })
  await client.connect(transport)
  t.teardown(() => client.close())
  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'through the noise' } })), 'through the noise')
})

t.test('stdout-noise mode writes the noise before any MCP traffic', async (t) => {
  const child = spawnFixture(t, 'stdout-noise')
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stdin.end('{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
  await once(child, 'exit')
  t.same(stdout.split('\n'), ['hello from fixture', 'not json', '{"jsonrpc":"2.0","id":1,"result":{}}', ''])
})

t.test('raw JSON-RPC: split chunks, several messages per chunk, errors, notifications', async (t) => {
  const child = spawnFixture(t, 'normal')
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2026-07-28', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })
  child.stdin.write(init.slice(0, 20))
  child.stdin.write(init.slice(20) + '\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc":"2.0","id":2,"method":"nope"}\n')
  child.stdin.write('{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}\r\n')
  child.stdin.end('{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}')
  await once(child, 'exit')
  const replies = stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.equal(replies.length, 4, 'notifications get no reply')
  t.match(replies[0], { id: 1, result: { protocolVersion: '2026-07-28', serverInfo: { name: 'fixture' } } })
  t.match(replies[1], { id: 2, error: { code: -32601 } })
  t.match(replies[2], { id: 3, result: { protocolVersion: '2025-06-18' } })
  t.match(replies[3], { id: 4, error: { code: -32602 } })
})

t.test('crash-after-init mode exits 1 after the handshake', async (t) => {
  const { transport } = transportFor(t, 'crash-after-init')
  const client = new Client({ name: 'fixture-test', version: '1.0.0' })
  const closed = new Promise<void>((resolve) => { client.onclose = resolve })
  const started = Date.now()
  await client.connect(transport)
  const pid = transport.pid
  t.ok(pid, 'the transport knows the pid')
  await closed
  t.ok(Date.now() - started >= 90, 'it lived through the handshake')

  // The SDK does not expose the exit code, so check it on a raw spawn too.
  const child = spawnFixture(t, 'crash-after-init')
  child.stdin.write('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}\n')
  child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
})

const INIT_LINE = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}\n'
const INITIALIZED_LINE = '{"jsonrpc":"2.0","method":"notifications/initialized"}\n'

t.test('giant-line mode writes one 20 MiB line after the handshake', async (t) => {
  const child = spawnFixture(t, 'giant-line')
  const chunks: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  child.stdin.end(INIT_LINE + INITIALIZED_LINE)
  // 'close', not 'exit': the last of stdout may still be on its way when the process has exited.
  await once(child, 'close')
  t.equal(child.exitCode, 0)
  const lines = Buffer.concat(chunks).toString().split('\n')
  t.equal(lines.length, 3)
  t.match(JSON.parse(lines[0] ?? ''), { id: 1, result: { serverInfo: { name: 'fixture' } } })
  t.ok((lines[1] ?? '').length > 20 * 1024 * 1024, 'the second line is over 20 MiB')
  t.match(JSON.parse(lines[1] ?? ''), { method: 'notifications/message', params: { level: 'info' } })
})

t.test('secret mode writes the token to stderr', async (t) => {
  const fixture = startFixture(t, 'secret', { FIXTURE_SECRET: 'hunter2' })
  fixture.child.stdin.end()
  await fixture.exit
  t.match(fixture.stderr(), /^token=hunter2$/m)
})

t.test('grandchild mode leaves a grandchild behind when only the fixture dies', async (t) => {
  const fixture = startFixture(t, 'grandchild')
  const grandchild = Number((await fixture.waitFor(/grandchild pid (\d+)\n/, 'stderr'))[1])
  fixture.child.kill('SIGKILL')
  await fixture.exit
  t.ok(isRunning(grandchild), 'the grandchild outlives the fixture (the teardown ends its group)')
})

t.test('setsid-grandchild mode: the grandchild runs in a session of its own', async (t) => {
  const fixture = startFixture(t, 'setsid-grandchild')
  const grandchild = Number((await fixture.waitFor(/grandchild pid (\d+)\n/, 'stderr'))[1])
  t.teardown(() => { if (isRunning(grandchild)) process.kill(grandchild, 'SIGKILL') })
  const session = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[3])
  t.equal(session(grandchild), grandchild, 'it leads its own session')
  t.not(session(grandchild), session(fixture.pid))
})

t.test('ignore-term mode survives SIGTERM and stdin EOF, not SIGKILL', async (t) => {
  const fixture = startFixture(t, 'ignore-term')
  const { child } = fixture
  await fixture.waitFor(/fixture started/, 'stderr')
  child.stdin.end()
  await fixture.waitFor(/stdin closed/, 'stderr')
  child.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(child.exitCode, null, 'still running')
  t.equal(child.signalCode, null)
  child.kill('SIGKILL')
  t.match(await fixture.exit, { signal: 'SIGKILL' })
})

t.test('no-init mode never answers initialize', async (t) => {
  const child = spawnFixture(t, 'no-init')
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stdin.end(INIT_LINE + '{"jsonrpc":"2.0","id":2,"method":"ping"}\n')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'exits on stdin EOF')
  t.equal(stdout, '{"jsonrpc":"2.0","id":2,"result":{}}\n')
})

t.test('flood-stderr mode floods stderr and still answers', async (t) => {
  const fixture = startFixture(t, 'flood-stderr')
  fixture.child.stdin.write(INIT_LINE)
  await fixture.waitFor(/"id":1/)
  await fixture.waitFor(/^[\s\S]{1048576}/, 'stderr')
  fixture.child.stdin.end()
  t.equal((await fixture.exit).code, 0)
  t.match(JSON.parse(fixture.stdout().split('\n')[0] ?? ''), { id: 1, result: { serverInfo: { name: 'fixture' } } })
})
