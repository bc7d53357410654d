import { readdirSync, readFileSync } from 'node:fs'

/** What /proc/<pid>/stat says about a process: enough to find the groups and sessions it belongs to. */
export interface ProcessInfo {
  pid: number
  ppid: number
  pgid: number
  sid: number
  /** Exited, waiting for its parent (or init) to collect it: it runs nothing. */
  zombie: boolean
}

/** Every process of this machine, from /proc (Linux); empty where there is no /proc. */
export function listProcesses (): ProcessInfo[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const processes: ProcessInfo[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // /proc/<pid>/stat: pid (comm) state ppid pgrp session …; comm may contain spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      processes.push({ pid: Number(entry), zombie: fields[0] === 'Z', ppid: Number(fields[1]), pgid: Number(fields[2]), sid: Number(fields[3]) })
    } catch {}
  }
  return processes
}

/** Signals a whole process group (the child and everything it spawned); false if none is left. */
export function signalGroup (pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return true
    return false
  }
}

/**
 * True while a process of the group is still running, its leader or any other member. Zombies
 * do not count: where nothing reaps orphans (a container without an init), an exited
 * grandchild stays a zombie indefinitely.
 */
export function groupAlive (pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false
  const processes = listProcesses()
  return processes.length === 0 || processes.some((info) => info.pgid === pgid && !info.zombie)
}

/** True when the process was started with this `NAME=value` in its environment (and we may read it). */
export function hasEnv (pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry)
  } catch {
    return false
  }
}

/** The running processes that carry every one of these `NAME=value` entries in their environment. */
export function processesWithEnv (entries: string[]): number[] {
  return listProcesses()
    .filter((info) => !info.zombie && info.pid !== process.pid && entries.every((entry) => hasEnv(info.pid, entry)))
    .map((info) => info.pid)
}

/** SIGKILLs each process; the ones already gone are skipped. */
export function killAll (pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls until the group is gone or the time is up; true when it is gone. */
export async function waitGroupGone (pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false
    await sleep(20)
  }
  return true
}

/**
 * SIGKILLs what `find` returns (process groups, and running processes outside them), and looks
 * again, until it finds nothing or the time is up: a process forked between a look and a kill
 * is found by the next look. True when nothing is left.
 */
export async function killUntilGone (find: () => { groups: number[], pids: number[] }, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  // A process being killed stops showing its environment before it has exited: once found, it is watched by its pid.
  const found = new Set<number>()
  for (;;) {
    const { groups, pids } = find()
    for (const pid of pids) found.add(pid)
    const alive = groups.filter(groupAlive)
    const running = [...found].filter(processRunning)
    if (alive.length === 0 && running.length === 0) return true
    if (Date.now() >= deadline) return false
    for (const pgid of alive) signalGroup(pgid, 'SIGKILL')
    killAll(running)
    await sleep(20)
  }
}

/** True while the process exists and has not exited (a zombie has). */
export function processRunning (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}
