import { useEffect, useRef } from 'preact/hooks'
import type { ChannelEvents, SubscriptionFilters } from '../../sdk/js/src/index.ts'
import { sessionEnded } from './session.ts'
import { useSession } from './session-context.ts'

type Channel = keyof ChannelEvents

export interface ChannelHandlers<C extends Channel> {
  filters?: SubscriptionFilters
  /** Off when false (the default: on). */
  enabled?: boolean
  /** The subscription is live, first or again, or events may have been missed: load what the page shows. */
  onLive: () => void
  onEvent: (data: ChannelEvents[C]) => void
  /** The hub refused the subscription, or it gave up (a session the hub ended signs the user out instead). */
  onError?: (message: string) => void
}

/** The events of a `/ws` channel while the page shows them; the latest handlers are called, the subscription is kept. */
export function useChannel<C extends Channel> (channel: C, handlers: ChannelHandlers<C>): void {
  const { client, ended } = useSession()
  const latest = useRef(handlers)
  latest.current = handlers
  const enabled = handlers.enabled ?? true
  const filters = JSON.stringify(handlers.filters ?? null)
  useEffect(() => {
    if (!enabled) return
    return client.events.subscribe(channel, {
      ...(handlers.filters === undefined ? {} : { filters: handlers.filters }),
      onSubscribed: () => latest.current.onLive(),
      onReset: () => latest.current.onLive(),
      onError: (failure) => {
        if (sessionEnded(failure)) ended()
        else latest.current.onError?.(failure.message)
      }
    }, (data) => latest.current.onEvent(data))
  }, [client, ended, channel, enabled, filters])
}

/**
 * Keeps what a page shows current from a channel: `refresh` runs once the subscription is live,
 * again whenever events may have been missed, and on each event (at most once per `throttleMs`,
 * the last event of a burst included).
 */
export function useLiveRefresh<C extends Channel> (channel: C, refresh: () => void, options: { enabled?: boolean, throttleMs?: number, onError?: (message: string) => void } = {}): void {
  const throttle = useRef<{ last: number, timer: ReturnType<typeof setTimeout> | undefined }>({ last: 0, timer: undefined })
  const enabled = options.enabled ?? true
  useEffect(() => () => {
    clearTimeout(throttle.current.timer)
    throttle.current.timer = undefined
  }, [enabled])
  const run = () => {
    throttle.current = { last: Date.now(), timer: undefined }
    refresh()
  }
  useChannel(channel, {
    enabled,
    onLive: run,
    onEvent: () => {
      if (throttle.current.timer !== undefined) return
      const wait = throttle.current.last + (options.throttleMs ?? 0) - Date.now()
      if (wait <= 0) run()
      else throttle.current.timer = setTimeout(run, wait)
    },
    ...(options.onError === undefined ? {} : { onError: options.onError })
  })
}
