import { Agent, request } from 'node:http'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

/**
 * The benchmark's HTTP load, generated on a thread of its own so that the client does not take
 * the event loop of what it measures: `callers` concurrent callers send their own request to
 * `url` for `seconds`, each over one kept-alive connection, each waiting for its answer before
 * the next. The thread's own CPU time over the wall time is reported with the figures: on two
 * cores, whatever the load generator takes the target does not get.
 */
export interface LoadSpec {
  url: string
  seconds: number
  /** POST (the default) sends each caller's body; GET sends none. */
  method?: 'GET' | 'POST'
  callers: Array<{ headers: Record<string, string>, body?: string }>
}

export interface Figures { callsPerSecond: number, p50Ms: number, p99Ms: number }

export interface LoadResult extends Figures {
  /** Answers received in all. */
  calls: number
  /** The load thread's CPU time over the wall time, percent of one core. */
  loadCpuPercent: number
  /** Each caller's first answer (status and body), for checking that the target really answered. */
  firstAnswers: Array<{ status: number, body: string }>
}

export async function runLoad (spec: LoadSpec): Promise<LoadResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: spec })
  return await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`load worker exited with ${code}`)) })
  })
}

async function send (agent: Agent, url: URL, method: string, headers: Record<string, string>, body: string | undefined): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const sized = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }
    const req = request(url, { method, agent, headers: sized }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** `concurrency` callers for `seconds`, each calling again as soon as its call is answered. */
export async function measure (concurrency: number, seconds: number, call: (caller: number) => Promise<void>): Promise<Figures & { calls: number }> {
  const latencies: number[] = []
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async (_, caller) => {
    while (performance.now() < deadline) {
      const sent = performance.now()
      await call(caller)
      latencies.push(performance.now() - sent)
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) => Number((latencies[Math.floor(latencies.length * q)] ?? 0).toFixed(3))
  return { calls: latencies.length, callsPerSecond: Math.round(latencies.length / elapsed), p50Ms: at(0.5), p99Ms: at(0.99) }
}

async function generate ({ url, seconds, method = 'POST', callers }: LoadSpec): Promise<LoadResult> {
  const target = new URL(url)
  const agent = new Agent({ keepAlive: true, maxSockets: callers.length })
  const firstAnswers: LoadResult['firstAnswers'] = []
  const cpuBefore = process.threadCpuUsage()
  const started = performance.now()
  const figures = await measure(callers.length, seconds, async (caller) => {
    const { headers, body } = callers[caller]!
    const answer = await send(agent, target, method, headers, method === 'GET' ? undefined : body)
    firstAnswers[caller] ??= answer
  })
  const cpu = process.threadCpuUsage(cpuBefore)
  const loadCpuPercent = Math.round((cpu.user + cpu.system) / 1000 / (performance.now() - started) * 100)
  agent.destroy()
  return { ...figures, loadCpuPercent, firstAnswers }
}

if (!isMainThread) parentPort!.postMessage(await generate(workerData as LoadSpec))
