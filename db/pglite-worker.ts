import { parentPort, workerData } from 'node:worker_threads'
import { PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite'
import type { PgliteArtifacts, PgliteRequest, PgliteThreadOptions, WorkerAnswer } from './pglite-thread.ts'

/**
 * The embedded database's own thread (db/pglite-thread.ts): PGlite runs here, so that its
 * queries (all of them WebAssembly on the thread that calls them) never hold up the hub's event
 * loop. Requests come one message each and are answered by their `call` number.
 */
const port = parentPort!
const { dataDir, loadDataDir, ...artifacts } = workerData as PgliteThreadOptions & PgliteArtifacts
const database = await PGlite.create(dataDir, { ...artifacts, ...(loadDataDir === undefined ? {} : { loadDataDir }) })

/** Open transactions, by number: each ends when the main thread says commit or roll back. */
const transactions = new Map<number, { tx: Transaction, end: (commit: boolean) => void, finished: Promise<void> }>()
let transactionCount = 0

/** The types the caller parses itself arrive as the text PostgreSQL sent. */
function queryOptions (rowMode: QueryOptions['rowMode'], rawTypes: number[]): QueryOptions {
  return { rowMode, parsers: Object.fromEntries(rawTypes.map((type) => [type, (text: string) => text])) }
}

/**
 * PGlite's DatabaseError as plain data: its fields (code, constraint, detail…); structured
 * cloning would keep only the message, and the query's options it carries hold functions.
 */
function errorData (error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) }
  const fields = Object.entries(error).filter(([, value]) => ['string', 'number', 'boolean'].includes(typeof value))
  return { ...Object.fromEntries(fields), name: error.name, message: error.message }
}

function target (request: { transaction?: number }): PGlite | Transaction {
  if (request.transaction === undefined) return database
  const open = transactions.get(request.transaction)
  if (open === undefined) throw new Error('The transaction has ended')
  return open.tx
}

async function handle (request: PgliteRequest): Promise<unknown> {
  switch (request.type) {
    case 'query':
      return await target(request).query(request.text, request.params, queryOptions(request.rowMode, request.rawTypes))
    case 'exec':
      return await target(request).exec(request.text)
    case 'begin': {
      const number = ++transactionCount
      let started!: () => void
      const begun = new Promise<void>((resolve) => { started = resolve })
      const finished = database.transaction(async (tx) => {
        const commit = new Promise<boolean>((resolve) => { transactions.set(number, { tx, end: resolve, finished }) })
        started()
        if (!await commit) throw new RolledBack()
      }).catch((error: unknown) => {
        if (!(error instanceof RolledBack)) throw error
      })
      // BEGIN itself may fail: then the transaction finishes without having begun.
      await Promise.race([begun, finished])
      return number
    }
    case 'end': {
      const open = transactions.get(request.transaction)
      if (open === undefined) throw new Error('The transaction has ended')
      transactions.delete(request.transaction)
      open.end(request.commit)
      // Answers once COMMIT (or ROLLBACK) is done; a failed COMMIT is this request's error.
      await open.finished
      return undefined
    }
    case 'close':
      await database.close()
      return undefined
  }
}

class RolledBack extends Error {}

port.on('message', (request: PgliteRequest) => {
  handle(request).then(
    (result) => { port.postMessage({ call: request.call, result } satisfies WorkerAnswer) },
    (error: unknown) => { port.postMessage({ call: request.call, error: errorData(error) } satisfies WorkerAnswer) }
  )
})
port.postMessage({ call: 0, result: 'ready' } satisfies WorkerAnswer)

export type { Results }
