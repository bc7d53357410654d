import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import pg from 'pg'
import { buildApp, type App } from '../app.ts'
import { openPgliteThread } from '../db/client.ts'
import { servers } from '../db/schema.ts'
import { benchConfig } from './bench-config.ts'
import { runLoad } from './bench-load.ts'
import { find, goal, interleaved, table, type Result, type Target } from './bench-runs.ts'

/**
 * The REST API: an authenticated `GET /api/servers?limit=20` at 16 callers, on PostgreSQL (a
 * throw-away database on DATABASE_URL's server; skipped without one) and on the embedded PGlite,
 * beside a bare Fastify route sending the same bytes (the HTTP ceiling), with 10, 1,000 and
 * 10,000 servers in the table (inserted directly through the app's database: none is started).
 * At each size the three targets run interleaved (bench-runs.ts).
 */
const ADMIN = { username: 'admin', password: 'bench-admin-password' }
const SIZES = [10, 1000, 10_000]
const CALLERS = 16
const PAGE = '/api/servers?limit=20'
const POSTGRES_URL = process.env.DATABASE_URL

interface Hub { name: string, app: App, url: string, headers: Record<string, string> }

async function startHub (name: string, app: App): Promise<Hub> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: ADMIN })
  if (login.statusCode !== 200) throw new Error(`${name}: login answered HTTP ${login.statusCode}: ${login.body}`)
  const { token } = (login.json() as { data: { token: string } }).data
  return { name, app, url: `${base}${PAGE}`, headers: { authorization: `Bearer ${token}` } }
}

/** Servers `from` to `to` - 1, in statements of 1,000 rows. */
async function insertServers (app: App, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1000) {
    const rows = Array.from({ length: Math.min(1000, to - start) }, (_, n) => ({ name: `bench-${start + n}`, key: `bench-${start + n}`, command: 'true', args: ['--bench'], enabled: false }))
    await app.db.insert(servers).values(rows)
  }
}

/** A throw-away database on DATABASE_URL's server: its URL, and how to drop it. */
async function throwAwayDatabase (url: string): Promise<{ url: string, drop: () => Promise<void> }> {
  const name = `mcphub_bench_${process.pid}_${Date.now()}`
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  const target = new URL(url)
  target.pathname = `/${name}`
  return {
    url: target.toString(),
    drop: async () => {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await admin.end()
      }
    }
  }
}

const pageLength = (body: string) => (JSON.parse(body) as { data?: { items?: unknown[] } }).data?.items?.length

const dataDirs: string[] = []
const stops: Array<() => Promise<unknown>> = []
try {
  const hubs: Hub[] = []
  if (POSTGRES_URL === undefined) {
    process.stdout.write('DATABASE_URL is not set: PostgreSQL is not measured\n')
  } else {
    const database = await throwAwayDatabase(POSTGRES_URL)
    stops.push(database.drop)
    dataDirs.push(mkdtempSync(join(tmpdir(), 'mcphub-bench-rest-')))
    const app = await buildApp({ config: benchConfig(dataDirs.at(-1)!, ADMIN, { databaseUrl: database.url }), print: () => {} })
    stops.push(() => app.close())
    hubs.push(await startHub('hub on PostgreSQL', app))
  }
  dataDirs.push(mkdtempSync(join(tmpdir(), 'mcphub-bench-rest-')))
  const embedded = await buildApp({ config: benchConfig(dataDirs.at(-1)!, ADMIN), database: await openPgliteThread(), print: () => {} })
  stops.push(() => embedded.close())
  hubs.push(await startHub('hub on PGlite', embedded))

  // The bare route: the bytes of the first hub's page at the size being measured.
  let bareBytes = ''
  const bare = Fastify()
  stops.push(() => bare.close())
  bare.get('/page', async (_request, reply) => await reply.type('application/json; charset=utf-8').send(bareBytes))
  await bare.listen({ port: 0, host: '127.0.0.1' })
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/page`

  const target = (name: string, url: string, headers: Record<string, string>, expected: number): Target => ({
    name,
    callers: CALLERS,
    run: async (seconds) => {
      const result = await runLoad({ url, method: 'GET', seconds, callers: Array.from({ length: CALLERS }, () => ({ headers })) })
      for (const first of result.firstAnswers) {
        if (first.status !== 200 || pageLength(first.body) !== expected) throw new Error(`${name}: unexpected answer: HTTP ${first.status} ${first.body.slice(0, 300)}`)
      }
      return { callsPerSecond: result.callsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, loadCpuPercent: result.loadCpuPercent }
    }
  })

  const goals: string[] = []
  const all: Result[] = []
  let inserted = 0
  for (const size of SIZES) {
    for (const hub of hubs) await insertServers(hub.app, inserted, size)
    inserted = size
    const expected = Math.min(size, 20)
    const first = await fetch(hubs[0]!.url, { headers: hubs[0]!.headers })
    bareBytes = await first.text()
    if (first.status !== 200 || pageLength(bareBytes) !== expected) throw new Error(`${hubs[0]!.name}: unexpected answer: HTTP ${first.status} ${bareBytes.slice(0, 300)}`)
    const named = (name: string) => `${name}, ${size.toLocaleString('en')} servers`
    const results = await interleaved([
      target(named('bare Fastify, the same bytes'), bareUrl, {}, expected),
      ...hubs.map((hub) => target(named(hub.name), hub.url, hub.headers, expected))
    ])
    all.push(...results)
    const bareFigures = find(results, named('bare Fastify, the same bytes'), CALLERS)!.median
    for (const hub of hubs) {
      const ratio = find(results, named(hub.name), CALLERS)!.median.callsPerSecond / bareFigures.callsPerSecond
      const what = `GET ${PAGE} ${named(hub.name)} / bare Fastify calls/s at ${CALLERS} callers`
      goals.push(hub.name === 'hub on PostgreSQL' ? goal(what, ratio.toFixed(2), '≥ 0.25', ratio >= 0.25) : `${what}: ${ratio.toFixed(2)}`)
    }
  }
  process.stdout.write(`\n${table(all)}\n\n${goals.join('\n')}\n`)
} finally {
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => process.stderr.write(`bench-rest: ${(error as Error).message}\n`))
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
}
