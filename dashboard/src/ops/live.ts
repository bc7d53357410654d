import { useEffect, useRef } from 'preact/hooks'
import type { ChannelEvents } from '../../../sdk/js/src/index.ts'
import { sessionEnded } from '../session.ts'
import { useSession } from '../session-context.ts'

/**
 * Keeps what a page shows current from a `/ws` channel: `refresh` runs once the subscription is
 * live, again whenever events may have been missed, and on each event (at most once per
 * `throttleMs`, the last event of a burst included). Off when `enabled` is false.
 */
export function useLiveRefresh<C extends keyof ChannelEvents> (channel: C, refresh: () => void, options: { enabled?: boolean, throttleMs?: number, onError?: (message: string) => void } = {}): void {
  const { client, ended } = useSession()
  const latest = useRef({ refresh, onError: options.onError })
  latest.current = { refresh, onError: options.onError }
  const enabled = options.enabled ?? true
  const throttleMs = options.throttleMs ?? 0

  useEffect(() => {
    if (!enabled) return
    let last = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = () => {
      last = Date.now()
      timer = undefined
      latest.current.refresh()
    }
    const unsubscribe = client.events.subscribe(channel, {
      onSubscribed: run,
      onReset: run,
      onError: (failure) => {
        if (sessionEnded(failure)) ended()
        else latest.current.onError?.(failure.message)
      }
    }, () => {
      if (timer !== undefined) return
      const wait = last + throttleMs - Date.now()
      if (wait <= 0) run()
      else timer = setTimeout(run, wait)
    })
    return () => {
      if (timer !== undefined) clearTimeout(timer)
      unsubscribe()
    }
  }, [client, channel, enabled, throttleMs, ended])
}
