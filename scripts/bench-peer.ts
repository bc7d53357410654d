import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { signalGroup } from '../supervisor/process-group.ts'

/**
 * A peer gateway run as a child process for the benchmark: spawned detached (its own process
 * group), polled until its HTTP endpoint answers, and stopped with its whole group.
 */
export interface Peer { url: string, stop: () => Promise<void> }

export interface PeerOptions {
  name: string
  /** A Node script (the package's bin), run with the bench's own Node. */
  script: string
  /** Arguments; `{port}` is replaced by a free port. */
  args: string[]
  env: Record<string, string>
  path: string
  readyTimeoutMs?: number
}

/** A TCP port free at the time of asking. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Single-quotes a word for `sh -c`. */
export const shellQuote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

export async function startPeer (options: PeerOptions): Promise<Peer> {
  const port = await freePort()
  const child = spawn(process.execPath, [options.script, ...options.args.map((arg) => arg.replaceAll('{port}', String(port)))], {
    env: { ...process.env, ...options.env },
    detached: true,
    // stdin stays open: supergateway shuts down (and stops its children) when it closes, which
    // is also what it sees if the bench dies.
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  const keep = (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  child.on('error', (error) => { output += `\n${error.message}` })
  const exited = once(child, 'exit')

  const stop = async () => {
    if (child.pid === undefined) return
    // SIGTERM to the group lets the peer stop children it placed in groups of their own.
    if (alive(child)) signalGroup(child.pid, 'SIGTERM')
    child.stdin.end()
    const timedOut = await Promise.race([exited.then(() => false), sleep(5000, true)])
    signalGroup(child.pid, 'SIGKILL')
    if (timedOut) await exited
  }

  const url = `http://127.0.0.1:${port}${options.path}`
  const deadline = performance.now() + (options.readyTimeoutMs ?? 15_000)
  try {
    while (true) {
      if (!alive(child)) throw new Error(`${options.name} exited (${child.exitCode ?? child.signalCode}): ${output}`)
      if (performance.now() > deadline) throw new Error(`${options.name} did not answer on ${url}: ${output}`)
      // Any HTTP answer (a GET without a session is a 4xx) means it is listening.
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined)
      if (response) {
        await response.body?.cancel()
        return { url, stop }
      }
      await sleep(100)
    }
  } catch (error) {
    await stop()
    throw error
  }
}
