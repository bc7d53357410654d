import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { killAll, listProcesses, processesWithEnv, processRunning, signalGroup } from '../../supervisor/process-group.ts'
import { HUB_ID_VARIABLE } from '../../supervisor/supervisor.ts'

interface Tap {
  teardown(fn: () => unknown): void
}

export interface Tracked {
  child: ChildProcessWithoutNullStreams
  pid: number
  /** Everything written so far. */
  stdout(): string
  stderr(): string
  exit: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /**
   * The first match of `pattern` in what the process has written (or writes next) on `stream`;
   * rejects as soon as the process exits without it. No deadline of its own: the test's
   * timeout bounds it, however slow the machine.
   */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>
}

/** Kills what this test file started and has not ended yet. */
const pending = new Set<() => void>()
const killPending = () => {
  for (const kill of pending) kill()
  // And what the code under test started from this process (the supervisor's children, each in
  // a group of its own): one by one, never by group (this process may share its group with tap).
  killAll(descendants(process.pid))
}

/** Every process descended from `pid` by parent links (not those already reparented). */
function descendants (pid: number): number[] {
  const processes = listProcesses()
  const found: number[] = []
  for (let parents = [pid]; parents.length > 0;) {
    parents = processes.filter((info) => parents.includes(info.ppid) && !info.zombie).map((info) => info.pid)
    found.push(...parents)
  }
  return found
}
// The last resort, should the test process end before a teardown ran: when it exits, and when
// it is killed by a signal (tap's file timeout sends SIGALRM, Ctrl-C SIGINT), after which the
// signal is raised again for the listeners already there (tap's own) to end the process.
process.on('exit', killPending)
for (const signal of ['SIGALRM', 'SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, function onSignal () {
    killPending()
    process.removeListener(signal, onSignal)
    process.kill(process.pid, signal)
  })
}

/** Runs `kill` in a teardown of the test, and when the test process exits if that comes first. */
function endWith (t: Tap, kill: () => void): void {
  pending.add(kill)
  t.teardown(() => {
    pending.delete(kill)
    kill()
  })
}

/**
 * Starts a process in a process group of its own and ends it with the test, passed or failed:
 * the teardown, registered before anything can fail, SIGKILLs its whole group if anything of it
 * still runs (tests that check a graceful stop do so themselves first).
 */
export function startProcess (t: Tap, command: string, args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): Tracked {
  const child = spawn(command, args, { ...options, detached: true, stdio: 'pipe' })
  const pid = child.pid
  if (pid === undefined) throw new Error(`cannot start ${command}`)
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  endWith(t, () => signalGroup(pid, 'SIGKILL'))

  const output = { stdout: '', stderr: '' }
  const waiters = new Set<() => void>()
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].on('data', (chunk: Buffer) => {
      output[stream] += chunk.toString()
      for (const waiter of waiters) waiter()
    })
  }
  let exited = false
  child.on('close', () => {
    exited = true
    for (const waiter of waiters) waiter()
  })
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout') => new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(output[stream])
      if (match === null && !exited) return
      waiters.delete(check)
      if (match !== null) resolve(match)
      else reject(new Error(`${command} exited without writing ${pattern} on ${stream}; stderr: ${output.stderr.slice(-2000)}`))
    }
    waiters.add(check)
    check()
  })
  return { child, pid, stdout: () => output.stdout, stderr: () => output.stderr, exit, waitFor }
}

/**
 * Ends with the test every process a hub run on this data dir started (they carry its id),
 * wherever they went: real hubs' children live in process groups of their own. Call it before
 * starting the hub, so that the hub is killed first.
 */
export function endHubChildren (t: Tap, dataDir: string): void {
  endWith(t, () => {
    let hub: unknown
    try {
      hub = (JSON.parse(readFileSync(join(dataDir, 'supervisor-groups.json'), 'utf8')) as { hub?: unknown }).hub
    } catch {
      return
    }
    if (typeof hub === 'string') killAll(processesWithEnv([`${HUB_ID_VARIABLE}=${hub}`]))
  })
}

/** Whether a process still runs (a zombie does not: it has exited and waits to be collected). */
export const isRunning = processRunning
