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
