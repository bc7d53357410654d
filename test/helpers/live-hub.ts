import type { AddressInfo } from 'node:net'
import type { App } from '../../app.ts'
import { build, TEST_ADMIN, type BuildOptions, type Driver } from '../helper.ts'

interface Tap {
  teardown(fn: () => unknown): void
}

export interface LiveHub {
  app: App
  /** `http://127.0.0.1:<port>`: what an SDK is given as its base URL. */
  baseUrl: string
  admin: { username: string, password: string }
  /** A real MCP server (the test fixture) to store and start: `command` and `args` of a server record. */
  fixture: { command: string, args: string[] }
}

const FIXTURE = new URL('../fixtures/mcp-server.ts', import.meta.url).pathname

/** The real app listening on a port of 127.0.0.1, for clients that come over a socket (the SDKs); closed with the test. */
export async function startLiveHub (t: Tap, driver: Driver = 'pglite', options: BuildOptions = {}): Promise<LiveHub> {
  const app = await build(t, driver, options)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    admin: { ...TEST_ADMIN },
    fixture: { command: process.execPath, args: [FIXTURE] }
  }
}

/** The REST API as a signed-in user, through the real app: a status of 300 or more throws; answers the envelope's data. */
export function apiAs (app: App, user: { headers: Record<string, string> }) {
  return async (method: string, url: string, payload?: object) => {
    const res = await app.inject({ method: method as 'POST', url, headers: user.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.body}`)
    return res.body === '' ? undefined : res.json().data
  }
}

/** Stores the test fixture as server `name` (with `env`) through `api`, and starts it. */
export async function startFixture (api: ReturnType<typeof apiAs>, name: string, env: Record<string, string> = {}): Promise<{ id: string, key: string }> {
  const created = await api('POST', '/api/servers', { name, command: process.execPath, args: [FIXTURE], env, enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${created.id}/start`)
  return created
}
