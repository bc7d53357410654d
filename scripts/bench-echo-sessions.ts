import type { AddressInfo } from 'node:net'
import type { App } from '../app.ts'

const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const INITIALIZE = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }

/**
 * On a listening hub: signs in as `admin`, stores and starts the test fixture as server `echo`,
 * and opens one MCP session per caller on its endpoint. Answers the endpoint's URL and, per
 * caller, the headers and body of its `tools/call` of `echo`.
 */
export async function echoSessions (app: App, admin: { username: string, password: string }, callers: number): Promise<{ url: string, callers: Array<{ headers: Record<string, string>, body: string }> }> {
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const post = async (path: string, headers: Record<string, string>, body?: unknown) => await fetch(`${base}${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const login = await (await post('/api/auth/login', { 'content-type': 'application/json' }, admin)).json() as { data: { token: string } }
  const auth = { authorization: `Bearer ${login.data.token}` }
  const created = await (await post('/api/servers', { ...auth, 'content-type': 'application/json' }, { name: 'echo', command: process.execPath, args: [FIXTURE], enabled: false })).json() as { data: { id: string, key: string } }
  await post(`/api/servers/${created.data.id}/start`, auth)
  const path = `/mcp/servers/${created.data.key}`
  const headers = { ...auth, ...MCP_HEADERS }
  const sessions = await Promise.all(Array.from({ length: callers }, async (_, n) => {
    const response = await post(path, headers, INITIALIZE)
    await response.text()
    const session = response.headers.get('mcp-session-id')
    if (session === null) throw new Error('initialize answered without an mcp-session-id')
    await (await post(path, { ...headers, 'mcp-session-id': session }, { jsonrpc: '2.0', method: 'notifications/initialized' })).text()
    const call = { jsonrpc: '2.0', id: n + 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } }
    return { headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(call) }
  }))
  return { url: `${base}${path}`, callers: sessions }
}
