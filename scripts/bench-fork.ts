import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

/**
 * A benchmark role in a process of its own (a script run with `role` as its argument), driven
 * over IPC one command at a time; its CPU and memory read from /proc, so that they can be read
 * while it is too busy to answer.
 */
export class Forked<Command extends { type: string }, Reply extends { type: string }> {
  readonly #child: ChildProcess

  constructor (script: URL, role: string) {
    this.#child = fork(script.pathname, [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  }

  get pid (): number {
    return this.#child.pid!
  }

  /** Sends a command and waits for its reply; `{ type: 'failed', message }` rejects. */
  async ask (command: Command): Promise<Reply> {
    return await new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) => reject(new Error(`${command.type}: the process exited (${code ?? signal})`))
      this.#child.once('exit', onExit)
      this.#child.once('message', (reply: Reply | { type: 'failed', message: string }) => {
        this.#child.off('exit', onExit)
        if (reply.type === 'failed') reject(new Error(`${command.type}: ${(reply as { message: string }).message}`))
        else resolve(reply as Reply)
      })
      this.#child.send(command)
    })
  }

  /** User and system CPU used so far by all of its threads, ms. */
  cpuMs (): number {
    return this.#cpuMs(`/proc/${this.pid}/stat`)
  }

  /** User and system CPU used so far by its main thread (its event loop), ms. */
  mainThreadCpuMs (): number {
    return this.#cpuMs(`/proc/${this.pid}/task/${this.pid}/stat`)
  }

  #cpuMs (statFile: string): number {
    const fields = readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND * 1000
  }

  /** Resident set size, bytes. */
  rss (): number {
    const pages = Number(readFileSync(`/proc/${this.pid}/statm`, 'utf8').split(' ')[1])
    return pages * 4096
  }

  /** Ends the process at once (SIGKILL) and waits for it. */
  async kill (): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.kill('SIGKILL')
    await exited
  }
}

/** The child's side: answers each command with what `handle` resolves to, or `{ type: 'failed', message }`. */
export function serve<Command, Reply> (handle: (command: Command) => Promise<Reply>): void {
  process.on('message', (command: Command) => {
    handle(command).then(
      (reply) => process.send!(reply),
      (error: unknown) => process.send!({ type: 'failed', message: (error as Error).message })
    )
  })
  process.on('disconnect', () => process.exit(0))
}
