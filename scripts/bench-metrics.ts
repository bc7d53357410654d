import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../app.ts'
import { openPgliteThread } from '../db/client.ts'
import { countMcpRequest, countToolCall } from '../metrics/mcp.ts'
import { MetricRecorder } from '../metrics/recorder.ts'
import { benchConfig } from './bench-config.ts'
import { echoSessions } from './bench-echo-sessions.ts'
import { runLoad } from './bench-load.ts'
import { median } from './bench-runs.ts'

/**
 * What recording metrics costs the gateway: `tools/call` of the fixture's `echo` at 16 callers
 * through two hubs in this process, one recording (MCPHUB_METRICS=on) and one not, measured in
 * turns (on, off, off, on…) so that both see the same machine; the medians, and the median of
 * each round's on/off ratio. On a busy machine the rounds vary more than recording costs, so the
 * recording work of one call is also timed by itself (the same calls the hub makes for it),
 * against the time the hub spends on a call.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 7)
const CALLERS = 16
const ADMIN = { username: 'admin', password: 'bench-admin-password' }

interface Hub {
  close: () => Promise<void>
  url: string
  callers: Array<{ headers: Record<string, string>, body: string }>
}

/** A hub with one echo server and a session per caller on its endpoint. */
async function startHub (dataDir: string, metricsEnabled: boolean): Promise<Hub> {
  const app = await buildApp({ config: benchConfig(dataDir, ADMIN, { metricsEnabled }), database: await openPgliteThread(), print: () => {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { url, callers } = await echoSessions(app, ADMIN, CALLERS)
  return { close: () => app.close(), url, callers }
}

/** Calls per second, and the CPU time this process (the hubs and the load thread) spent per call, µs. */
async function measureHub (hub: Hub): Promise<{ callsPerSecond: number, cpuUsPerCall: number, loadCpuPercent: number }> {
  const cpuBefore = process.cpuUsage()
  const result = await runLoad({ url: hub.url, seconds: SECONDS, callers: hub.callers })
  const cpu = process.cpuUsage(cpuBefore)
  for (const first of result.firstAnswers) {
    if (first.status !== 200 || !first.body.includes('"text":"hello"')) throw new Error(`unexpected answer: ${first.status} ${first.body.slice(0, 200)}`)
  }
  return { callsPerSecond: result.callsPerSecond, cpuUsPerCall: Math.round((cpu.user + cpu.system) / result.calls * 10) / 10, loadCpuPercent: result.loadCpuPercent }
}

/** ns of recording work per `tools/call` through the hub: its HTTP request, its MCP request and the tool call. */
function recordingNsPerCall (): number {
  const recorder = new MetricRecorder()
  const server = { id: 'id', key: 'echo' }
  const message = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} }
  const record = (n: number) => {
    recorder.count('requests', { route: '/mcp/servers/:key', method: 'POST', status: '2xx' })
    recorder.observe('responseTime', { route: '/mcp/servers/:key' }, 1 + n % 7)
    countMcpRequest(recorder, message)
    countToolCall(recorder, server, 'echo', 1 + n % 5, true)
  }
  const runs = 200_000
  for (let n = 0; n < runs; n++) record(n)
  const start = process.hrtime.bigint()
  for (let n = 0; n < runs; n++) record(n)
  return Number(process.hrtime.bigint() - start) / runs
}

const dataDirs = [mkdtempSync(join(tmpdir(), 'mcphub-bench-on-')), mkdtempSync(join(tmpdir(), 'mcphub-bench-off-'))]
try {
  const on = await startHub(dataDirs[0]!, true)
  const off = await startHub(dataDirs[1]!, false)
  try {
    // Warm-up: both hubs' code compiled, caches full.
    await measureHub(on)
    await measureHub(off)
    const figures = { on: [] as number[], off: [] as number[] }
    const cpu = { on: [] as number[], off: [] as number[] }
    const ratios: number[] = []
    const loadCpu: number[] = []
    for (let round = 0; round < REPETITIONS; round++) {
      // Alternate which goes first, so that neither always follows the other.
      for (const variant of round % 2 === 0 ? ['on', 'off'] as const : ['off', 'on'] as const) {
        const measured = await measureHub(variant === 'on' ? on : off)
        figures[variant].push(measured.callsPerSecond)
        cpu[variant].push(measured.cpuUsPerCall)
        loadCpu.push(measured.loadCpuPercent)
        process.stdout.write(`${JSON.stringify({ target: `hub, metrics ${variant}`, callers: CALLERS, round: round + 1, ...measured })}\n`)
      }
      ratios.push(figures.on.at(-1)! / figures.off.at(-1)!)
    }
    const ratio = median(ratios)
    process.stdout.write(`\ntools/call at ${CALLERS} callers, median of ${REPETITIONS} × ${SECONDS} s: metrics on ${median(figures.on)} calls/s, off ${median(figures.off)} calls/s\n`)
    process.stdout.write(`median on/off ratio of a round: ${(ratio * 100).toFixed(1)}%, recording cost ${((1 - ratio) * 100).toFixed(1)}% of throughput (goal ≤ 3%: ${ratio >= 0.97 ? 'met' : 'MISSED'})\n`)
    process.stdout.write(`load generator thread CPU, median: ${median(loadCpu)}% of one core\n`)
    process.stdout.write(`CPU per call (hub and load thread), median: metrics on ${median(cpu.on)} µs, off ${median(cpu.off)} µs (${((median(cpu.on) / median(cpu.off) - 1) * 100).toFixed(1)}%)\n`)
    const recordingNs = recordingNsPerCall()
    const callNs = 1e9 / median(figures.off)
    process.stdout.write(`recording work per call: ${(recordingNs / 1000).toFixed(2)} µs, ${(recordingNs / callNs * 100).toFixed(2)}% of the hub's ${(callNs / 1000).toFixed(0)} µs per call\n`)
  } finally {
    await on.close()
    await off.close()
  }
} finally {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
}
