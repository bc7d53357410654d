import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks'

export interface HubFigures {
  /** Percent of one core since the previous sample. */
  cpu: number
  memory: number
  heapUsed: number
  /** Mean event-loop delay since the previous sample, ms. */
  eventLoopDelay: number
  /** Share of the time since the previous sample the event loop was busy, 0 to 1. */
  eventLoopUtilization: number
}

/** The hub's own process: each sample covers the time since the previous one. */
export class HubProcess {
  readonly #delay = monitorEventLoopDelay({ resolution: 20 })
  #cpu = process.cpuUsage()
  #at = performance.now()
  #utilization: EventLoopUtilization = performance.eventLoopUtilization()

  constructor () {
    this.#delay.enable()
  }

  sample (): HubFigures {
    const cpu = process.cpuUsage(this.#cpu)
    const at = performance.now()
    const elapsedMs = Math.max(1, at - this.#at)
    this.#cpu = process.cpuUsage()
    this.#at = at
    const utilization = performance.eventLoopUtilization(this.#utilization)
    this.#utilization = performance.eventLoopUtilization()
    const meanDelayMs = Number.isNaN(this.#delay.mean) ? 0 : this.#delay.mean / 1e6
    this.#delay.reset()
    const memory = process.memoryUsage()
    return {
      cpu: round((cpu.user + cpu.system) / 10 / elapsedMs, 1),
      memory: memory.rss,
      heapUsed: memory.heapUsed,
      eventLoopDelay: round(meanDelayMs, 2),
      eventLoopUtilization: round(utilization.utilization, 3)
    }
  }

  stop (): void {
    this.#delay.disable()
  }
}

export interface ChildFigures {
  /** Percent of one core since the previous sample; undefined on a group's first sample. */
  cpu: number | undefined
  memory: number
}

/** Linux's clock ticks per second (`getconf CLK_TCK`) and page size: the values of every common build. */
const TICKS_PER_SECOND = 100
const PAGE_BYTES = 4096

interface ProcStat { pgid: number, ticks: number, rssBytes: number }

type PidUsage = (pid: number) => Promise<{ cpu: number, memory: number }>

/**
 * The children's CPU and memory. On Linux, from /proc in one pass: each child's process group
 * (everything it spawned that stayed in its group) summed; CPU from the ticks used since the
 * previous sample. Without /proc, the `pidusage` package measures the child itself.
 */
export class ChildProcesses {
  /** CPU ticks of each process at the previous sample, by pid. */
  #ticks = new Map<number, number>()
  #groupsSeen = new Set<number>()
  #at = performance.now()
  #pidusage: PidUsage | undefined

  /** The figures of each process group led by one of `pgids` (a child's pid is its group's id). */
  async sample (pgids: readonly number[]): Promise<Map<number, ChildFigures>> {
    const figures = new Map<number, ChildFigures>()
    if (pgids.length === 0) return figures
    const stats = readProcStats()
    if (stats === undefined) return await this.#sampleWithPidusage(pgids)
    const at = performance.now()
    const elapsedSeconds = Math.max(0.001, (at - this.#at) / 1000)
    this.#at = at
    const wanted = new Set(pgids)
    const ticks = new Map<number, number>()
    const used = new Map<number, number>()
    for (const [pid, stat] of stats) {
      if (!wanted.has(stat.pgid)) continue
      ticks.set(pid, stat.ticks)
      // A process born since the previous sample used all its ticks within it.
      used.set(stat.pgid, (used.get(stat.pgid) ?? 0) + stat.ticks - (this.#ticks.get(pid) ?? 0))
      const group = figures.get(stat.pgid) ?? { cpu: undefined, memory: 0 }
      group.memory += stat.rssBytes
      figures.set(stat.pgid, group)
    }
    for (const [pgid, group] of figures) {
      if (this.#groupsSeen.has(pgid)) group.cpu = round(Math.max(0, used.get(pgid)!) / TICKS_PER_SECOND / elapsedSeconds * 100, 1)
    }
    this.#ticks = ticks
    this.#groupsSeen = new Set(figures.keys())
    return figures
  }

  async #sampleWithPidusage (pids: readonly number[]): Promise<Map<number, ChildFigures>> {
    this.#pidusage ??= createRequire(import.meta.url)('pidusage') as PidUsage
    const figures = new Map<number, ChildFigures>()
    await Promise.all(pids.map(async (pid) => {
      const usage = await this.#pidusage!(pid).catch(() => undefined)
      if (usage !== undefined) figures.set(pid, { cpu: round(usage.cpu, 1), memory: usage.memory })
    }))
    return figures
  }
}

/** Every process's group, CPU ticks (user + system) and RSS from /proc/<pid>/stat; undefined without /proc. */
function readProcStats (): Map<number, ProcStat> | undefined {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return undefined
  }
  const stats = new Map<number, ProcStat>()
  for (const entry of entries) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime … rss is the 24th field.
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      stats.set(pid, { pgid: Number(fields[2]), ticks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE_BYTES })
    } catch {}
  }
  return stats
}

function round (value: number, digits: number): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}
