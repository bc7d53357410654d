import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childBaseEnv } from '../lib/config.ts'
import { DEFAULT_POLICY, type ServerSpec } from '../supervisor/managed-server.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import { median, RUNS } from './bench-runs.ts'

/**
 * `npm run bench`: supervisor scenarios on this machine, with the stdio fixture of the tests as
 * the MCP server (a real process per server); each run `RUNS` times, in turns, and summed up by
 * the median of its runs.
 */
const FIXTURE = new URL('../test/fixtures/mcp-server.ts', import.meta.url).pathname
const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-bench-'))
const baseEnv = childBaseEnv(process.env)
const spec = (mode: string): ServerSpec => ({ id: randomUUID(), name: `bench-${mode}`, key: `bench-${mode}`, command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: mode }, cwd: null, enabled: false })
type Figures = Record<string, number>
const runs = new Map<string, Figures[]>()
const report = (name: string, figures: Figures) => {
  runs.set(name, [...runs.get(name) ?? [], figures])
  process.stdout.write(`${JSON.stringify({ scenario: name, run: runs.get(name)!.length, ...figures })}\n`)
}

async function startFifty (): Promise<void> {
  const supervisor = new Supervisor({ policy: DEFAULT_POLICY, baseEnv, stateFile: join(dataDir, 'start.json') })
  const specs = Array.from({ length: 50 }, () => spec('normal'))
  const started = performance.now()
  await supervisor.startAll(specs)
  const elapsed = performance.now() - started
  const running = supervisor.list().filter((server) => server.state === 'running').length
  const stopStarted = performance.now()
  await supervisor.stopAll(5000)
  report('start 50 servers (4 at a time, until MCP initialize and catalog are done)', {
    running,
    totalMs: Math.round(elapsed),
    perServerMs: Math.round(elapsed / 50 * 4),
    stopAllMs: Math.round(performance.now() - stopStarted)
  })
}

async function logThroughput (): Promise<void> {
  const supervisor = new Supervisor({ policy: { ...DEFAULT_POLICY, maxLinesPerSecond: Number.MAX_SAFE_INTEGER }, baseEnv, stateFile: join(dataDir, 'logs.json') })
  const server = supervisor.upsert(spec('flood-stderr'))
  let lines = 0
  let bytes = 0
  server.logs.subscribe((entry) => { lines++; bytes += entry.message.length })
  await server.start()
  lines = 0
  bytes = 0
  const seconds = 3
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const measured = { lines, bytes, heapUsed: process.memoryUsage().heapUsed }
  await supervisor.stopAll(2000)
  report('stderr log throughput of one flooding server', {
    linesPerSecond: Math.round(measured.lines / seconds),
    megabytesPerSecond: Number((measured.bytes / seconds / 1024 / 1024).toFixed(1)),
    bufferLines: server.logs.size,
    bufferBytes: server.logs.bytes,
    heapUsedMiB: Number((measured.heapUsed / 1024 / 1024).toFixed(1))
  })
}

try {
  for (let round = 0; round < RUNS; round++) {
    await startFifty()
    await logThroughput()
  }
  process.stdout.write(`\nMedians of ${RUNS} runs (each run's figure in brackets):\n`)
  for (const [name, figures] of runs) {
    const fields = Object.keys(figures[0]!).map((field) => `${field} ${Number(median(figures.map((run) => run[field]!)).toFixed(2))} [${figures.map((run) => run[field]).join(', ')}]`)
    process.stdout.write(`${name}: ${fields.join('; ')}\n`)
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
