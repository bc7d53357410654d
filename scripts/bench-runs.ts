import type { Figures } from './bench-load.ts'

/**
 * How every benchmark target is run: for `SECONDS` a run, `RUNS` times, interleaved with the
 * other targets it is compared with (A, B, C, A, B, C) so that each sees the same machine; the
 * median of the runs is what is compared, and every run is printed too.
 */
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
export const RUNS = Math.max(2, Number(process.env.BENCH_RUNS ?? 2))

export interface Run extends Figures {
  /** The load generator's thread: its CPU time over the wall time, percent of one core (absent when it is the target's own thread). */
  loadCpuPercent?: number
}

export interface Target {
  name: string
  callers: number
  /** One run of `seconds`. */
  run: (seconds: number) => Promise<Run>
}

export interface Result {
  name: string
  callers: number
  runs: Run[]
  median: Run
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

function medianRun (runs: Run[]): Run {
  const of = (pick: (run: Run) => number) => Number(median(runs.map(pick)).toFixed(3))
  const shares = runs.flatMap((run) => run.loadCpuPercent === undefined ? [] : [run.loadCpuPercent])
  return {
    callsPerSecond: Math.round(of((run) => run.callsPerSecond)),
    p50Ms: of((run) => run.p50Ms),
    p99Ms: of((run) => run.p99Ms),
    ...(shares.length === 0 ? {} : { loadCpuPercent: Math.round(median(shares)) })
  }
}

/** Each target for `WARM_UP_SECONDS`, not counted: code compiled, caches full, connections open. */
const WARM_UP_SECONDS = 1

/**
 * A warm-up round, then `runs` rounds, each running every target once in the order given for
 * `SECONDS`; each run printed as a JSON line.
 */
export async function interleaved (targets: Target[], runs = RUNS): Promise<Result[]> {
  for (const target of targets) await target.run(WARM_UP_SECONDS)
  const all = targets.map((): Run[] => [])
  for (let round = 1; round <= runs; round++) {
    for (const [index, target] of targets.entries()) {
      const run = await target.run(SECONDS)
      all[index]!.push(run)
      process.stdout.write(`${JSON.stringify({ target: target.name, callers: target.callers, run: round, ...run })}\n`)
    }
  }
  return targets.map((target, index) => ({ name: target.name, callers: target.callers, runs: all[index]!, median: medianRun(all[index]!) }))
}

/** The results as a Markdown table: the medians, each run's calls/s, the load generator's CPU share. */
export function table (results: Result[]): string {
  return [
    `Medians of ${results[0]?.runs.length ?? 0} interleaved runs of ${SECONDS} s each:`,
    '',
    '| target | callers | calls/s | p50 ms | p99 ms | runs, calls/s | load generator CPU |',
    '|---|---|---|---|---|---|---|',
    ...results.map(({ name, callers, runs, median }) => `| ${name} | ${callers} | ${median.callsPerSecond} | ${median.p50Ms} | ${median.p99Ms} | ${runs.map((run) => run.callsPerSecond).join(', ')} | ${median.loadCpuPercent === undefined ? 'same thread' : `${median.loadCpuPercent}%`} |`)
  ].join('\n')
}

export const find = (results: Result[], name: string, callers: number): Result | undefined => results.find((result) => result.name === name && result.callers === callers)

/** One line of the goals: what was measured, the goal, met or MISSED. */
export const goal = (what: string, measured: string, target: string, met: boolean) => `${what}: ${measured} (goal ${target}: ${met ? 'met' : 'MISSED'})`
