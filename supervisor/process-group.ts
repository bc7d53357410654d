import { readdirSync, readFileSync } from 'node:fs'

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
 * True while a process of the group is still running. Zombies do not count: where nothing reaps
 * orphans (a container without an init), an exited grandchild stays a zombie indefinitely.
 */
export function groupAlive (pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return true
  }
  return entries.some((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      // /proc/<pid>/stat: pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return Number(fields[2]) === pgid && fields[0] !== 'Z'
    } catch {
      return false
    }
  })
}

/** True when the process was started by an MCPHub supervisor for this server (its marker is in its environment). */
export function isOurProcess (pid: number, serverId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`MCPHUB_SERVER_ID=${serverId}`)
  } catch {
    return false
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
