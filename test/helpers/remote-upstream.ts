import type { Test } from 'tap'
import { startProcess, type Tracked } from './processes.ts'

const REMOTE_FIXTURE = new URL('../fixtures/remote-server.ts', import.meta.url).pathname

/** A remote MCP server run by a test: test/fixtures/remote-server.ts in a process of its own. */
export interface Upstream {
  process: Tracked
  port: number
  /** Its MCP endpoint. */
  url: string
}

/** Starts the remote fixture (`kind`: streamable-http, modern or sse) on `port` (0: any); ended with the test. */
export async function startUpstream (t: Test, kind: 'streamable-http' | 'modern' | 'sse', port = 0): Promise<Upstream> {
  const upstream = startProcess(t, process.execPath, [REMOTE_FIXTURE, kind, String(port)])
  const [, listening] = await upstream.waitFor(/listening on (\d+)/)
  return { process: upstream, port: Number(listening), url: `http://127.0.0.1:${listening}/mcp` }
}

export async function stopUpstream (upstream: Upstream): Promise<void> {
  upstream.process.child.kill('SIGTERM')
  await upstream.process.exit
}

/** The headers of each request the upstream received. */
export function headersSeen (upstream: Upstream): Array<Record<string, string>> {
  return [...upstream.process.stderr().matchAll(/^headers (.*)$/gm)].map((match) => JSON.parse(match[1]!))
}
