/**
 * Polls `probe` until it gives a value (not undefined or false); fails naming `what` after `ms`.
 * The default is generous: it only bounds how long a failing test waits, and a loaded machine
 * (a CI runner, two test jobs on two cores) can take many seconds to start a process.
 */
export async function until<T> (what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
