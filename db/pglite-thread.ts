import { readFile } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import type { PGliteOptions, QueryOptions, Results } from '@electric-sql/pglite'

export interface PgliteThreadOptions {
  /** Where the database lives; in memory when undefined. */
  dataDir?: string
  /** A data dir archive (PGlite's dumpDataDir) to start from. */
  loadDataDir?: Blob
}

type RowMode = QueryOptions['rowMode']

type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>
/** The global WebAssembly, which the project's TypeScript libraries (no DOM) do not declare. */
const { WebAssembly } = globalThis as unknown as { WebAssembly: { compile: (bytes: Uint8Array) => Promise<WasmModule> } }

/** PGlite's WebAssembly and file system bundle, as its `create` takes them. */
export interface PgliteArtifacts {
  pgliteWasmModule: WasmModule
  initdbWasmModule: WasmModule
  fsBundle: Blob
}

let artifacts: Promise<PgliteArtifacts> | undefined

/**
 * Compiled once a process and shared with every thread: each thread compiling them again would
 * take about a second of CPU per database opened.
 */
async function pgliteArtifacts (): Promise<PgliteArtifacts> {
  const file = async (name: string) => await readFile(new URL(name, import.meta.resolve('@electric-sql/pglite')))
  artifacts ??= Promise.all([file('pglite.wasm'), file('initdb.wasm'), file('pglite.data')]).then(async ([pglite, initdb, bundle]) => ({
    pgliteWasmModule: await WebAssembly.compile(pglite),
    initdbWasmModule: await WebAssembly.compile(initdb),
    fsBundle: new Blob([bundle])
  }))
  return await artifacts
}

/** What the main thread asks of the database's thread, numbered by `call`. */
export type PgliteRequest = { call: number } & (
  | { type: 'query', text: string, params: unknown[] | undefined, rowMode: RowMode, rawTypes: number[], transaction?: number }
  | { type: 'exec', text: string, transaction?: number }
  | { type: 'begin' }
  | { type: 'end', transaction: number, commit: boolean }
  | { type: 'close' }
)
type Request = PgliteRequest extends infer R ? R extends unknown ? Omit<R, 'call'> : never : never

export type WorkerAnswer = { call: number, result: unknown } | { call: number, error: Record<string, unknown> }

/** What drizzle's PGlite driver uses of a client, and of the transaction it hands a callback. */
interface Queries {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>
  exec(text: string): Promise<Results[]>
}

/** A database error from the thread, with the fields PGlite's DatabaseError has (code, constraint…). */
function databaseError (data: Record<string, unknown>): Error {
  const error = new Error(String(data.message))
  Object.assign(error, data)
  return error
}

/**
 * The embedded PostgreSQL (PGlite) on a worker thread of its own (db/pglite-worker.ts), with the
 * client interface drizzle's PGlite driver uses: every query's WebAssembly work (a batch of call
 * records, a page of servers) runs beside the hub's event loop instead of on it. Transactions
 * hold PGlite's one connection as they do in-process: other queries wait for their end.
 */
export class PgliteThread implements Queries {
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void }>()
  #calls = 0
  #closed = false
  #failure: Error | undefined

  private constructor (worker: Worker) {
    this.#worker = worker
    worker.on('message', (answer: WorkerAnswer) => { this.#answered(answer) })
    worker.on('error', (error) => { this.#fail(error) })
    worker.on('exit', (code) => { this.#fail(new Error(`The embedded database's thread exited (${code})`)) })
  }

  /** Starts the thread and waits for the database to open. */
  static async open (options: PgliteThreadOptions = {}): Promise<PgliteThread> {
    const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), { workerData: { ...options, ...await pgliteArtifacts() } })
    const thread = new PgliteThread(worker)
    await new Promise<void>((resolve, reject) => { thread.#pending.set(0, { resolve: () => { resolve() }, reject }) })
    return thread
  }

  get closed (): boolean {
    return this.#closed
  }

  async query<T> (text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    return await this.#query<T>(undefined, text, params, options)
  }

  async exec (text: string): Promise<Results[]> {
    return await this.#call({ type: 'exec', text }) as Results[]
  }

  /** Runs `callback` in a transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T> (callback: (tx: Queries & { readonly closed: boolean }) => Promise<T>): Promise<T> {
    const transaction = await this.#call({ type: 'begin' }) as number
    let ended = false
    const tx = {
      query: async <R>(text: string, params?: unknown[], options?: QueryOptions) => await this.#query<R>(transaction, text, params, options),
      exec: async (text: string) => await this.#call({ type: 'exec', text, transaction }) as Results[],
      get closed () { return ended }
    }
    let result: T
    try {
      result = await callback(tx)
    } catch (error) {
      ended = true
      await this.#call({ type: 'end', transaction, commit: false }).catch(() => {})
      throw error
    }
    ended = true
    await this.#call({ type: 'end', transaction, commit: true })
    return result
  }

  /** Closes the database, then ends the thread. */
  async close (): Promise<void> {
    if (this.#closed) return
    await this.#call({ type: 'close' }).catch(() => {})
    this.#closed = true
    // Held until the thread has ended: an unreferenced worker would let the process exit first.
    this.#worker.ref()
    await this.#worker.terminate()
  }

  /**
   * A query; the types the caller has parsers for come back as text and are parsed here
   * (drizzle's parsers are functions, which cannot cross to the thread).
   */
  async #query<T> (transaction: number | undefined, text: string, params: unknown[] | undefined, options: QueryOptions = {}): Promise<Results<T>> {
    const parsers = options.parsers ?? {}
    const rawTypes = Object.keys(parsers).map(Number)
    const results = await this.#call({ type: 'query', text, params, rowMode: options.rowMode, rawTypes, ...(transaction === undefined ? {} : { transaction }) }) as Results<T>
    if (rawTypes.length === 0) return results
    results.fields.forEach((field, index) => {
      const parse = parsers[field.dataTypeID]
      if (parse === undefined) return
      const key = options.rowMode === 'array' ? index : field.name
      for (const row of results.rows as Array<Record<string | number, unknown>>) {
        if (typeof row[key] === 'string') row[key] = parse(row[key])
      }
    })
    return results
  }

  async #call (request: Request): Promise<unknown> {
    if (this.#closed) throw new Error('The embedded database is closed')
    if (this.#failure !== undefined) throw this.#failure
    const call = ++this.#calls
    // The thread keeps the process alive only while a query waits for it.
    if (this.#pending.size === 0) this.#worker.ref()
    return await new Promise((resolve, reject) => {
      this.#pending.set(call, { resolve, reject })
      this.#worker.postMessage({ ...request, call })
    })
  }

  #answered (answer: WorkerAnswer): void {
    const pending = this.#pending.get(answer.call)
    if (pending === undefined) return
    this.#pending.delete(answer.call)
    if (this.#pending.size === 0) this.#worker.unref()
    if ('error' in answer) pending.reject(databaseError(answer.error))
    else pending.resolve(answer.result)
  }

  #fail (error: Error): void {
    this.#failure ??= error
    for (const { reject } of this.#pending.values()) reject(error)
    this.#pending.clear()
    this.#worker.unref()
  }
}
