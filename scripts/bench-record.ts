import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Forked, serve } from './bench-fork.ts'
import { runLoad } from './bench-load.ts'
import { goal, interleaved, median, RUNS, table, type Run } from './bench-runs.ts'

/**
 * What recording tool calls costs the hub on the embedded database: `tools/call` of the fixture's
 * `echo` at 16 callers through two hubs on PGlite, each in a process of its own, one recording
 * the calls as it does, the other with `ToolCallLog.record` a no-op; interleaved runs. Compared:
 * the CPU time per call of the hub's event-loop thread (the goal: the embedded database runs on a
 * thread of its own) and of the whole hub process, read from /proc (so the load generator's
 * thread is not in them), and calls/s.
 */
const ADMIN = { username: 'admin', password: 'bench-admin-password' }
const CALLERS = 16
const ROUNDS = Math.max(RUNS, 4)

interface Started { type: 'started', url: string, callers: Array<{ headers: Record<string, string>, body: string }> }
type Command = { type: 'start', dataDir: string, record: boolean }

// --- The hub's process --------------------------------------------------------

async function startHub ({ dataDir, record }: Command): Promise<Started> {
  const [{ buildApp }, { openPgliteThread }, { ToolCallLog }, { benchConfig }, { echoSessions }] = await Promise.all([
    import('../app.ts'), import('../db/client.ts'), import('../gateway/accounting.ts'), import('./bench-config.ts'), import('./bench-echo-sessions.ts')
  ])
  if (!record) ToolCallLog.prototype.record = () => {}
  const app = await buildApp({ config: benchConfig(dataDir, ADMIN), database: await openPgliteThread(), print: () => {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { url, callers } = await echoSessions(app, ADMIN, CALLERS)
  return { type: 'started', url, callers }
}

// --- The driver ---------------------------------------------------------------

async function main (): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-record-'))
  const hubs = [true, false].map((record) => ({ record, process: new Forked<Command, Started>(new URL(import.meta.url), 'hub') }))
  try {
    // CPU µs per call of each run: the hub's event-loop thread, and the whole process (the embedded database's thread too).
    const perCall = new Map<boolean, { loop: number[], process: number[] }>([[true, { loop: [], process: [] }], [false, { loop: [], process: [] }]])
    const targets = await Promise.all(hubs.map(async ({ record, process: hub }) => {
      const { url, callers } = await hub.ask({ type: 'start', dataDir, record })
      return {
        name: `hub on PGlite, calls ${record ? 'recorded' : 'not recorded'}`,
        callers: CALLERS,
        run: async (seconds: number): Promise<Run> => {
          const [loopBefore, processBefore] = [hub.mainThreadCpuMs(), hub.cpuMs()]
          const result = await runLoad({ url, seconds, callers })
          const [loopMs, processMs] = [hub.mainThreadCpuMs() - loopBefore, hub.cpuMs() - processBefore]
          for (const first of result.firstAnswers) {
            if (first.status !== 200 || !first.body.includes('"text":"hello"')) throw new Error(`unexpected answer: ${first.status} ${first.body.slice(0, 200)}`)
          }
          if (seconds > 1) {
            perCall.get(record)!.loop.push(Math.round(loopMs * 1000 / result.calls))
            perCall.get(record)!.process.push(Math.round(processMs * 1000 / result.calls))
          }
          return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, loadCpuPercent: result.loadCpuPercent }
        }
      }
    }))
    const results = await interleaved(targets, ROUNDS)
    const [on, off] = [perCall.get(true)!, perCall.get(false)!]
    const [loopOn, loopOff, processOn, processOff] = [median(on.loop), median(off.loop), median(on.process), median(off.process)]
    const [onRate, offRate] = results.map((result) => result.median.callsPerSecond) as [number, number]
    process.stdout.write([
      '',
      table(results),
      '',
      `hub event-loop thread CPU per call, median: recorded ${loopOn} µs, not recorded ${loopOff} µs (runs: ${on.loop.join(', ')} and ${off.loop.join(', ')})`,
      `hub process CPU per call (all threads), median: recorded ${processOn} µs, not recorded ${processOff} µs (runs: ${on.process.join(', ')} and ${off.process.join(', ')})`,
      goal('recording tool calls, share of the hub\'s event-loop CPU per call', `${((1 - loopOff / loopOn) * 100).toFixed(1)}%`, '< 2%', 1 - loopOff / loopOn < 0.02),
      `recording tool calls, share of the hub process's CPU per call (all threads): ${((1 - processOff / processOn) * 100).toFixed(1)}%`,
      `calls/s recorded / not recorded: ${(onRate / offRate * 100).toFixed(1)}%`,
      ''
    ].join('\n'))
  } finally {
    for (const hub of hubs) await hub.process.kill()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'hub') serve(startHub)
else await main()
