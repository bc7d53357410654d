import { useEffect, useRef } from 'preact/hooks'
import type { MCPHubClient, Server, ServerStatusEvent } from '../../../sdk/js/src/index.ts'
import type { Translate } from '../i18n.ts'
import { sessionEnded } from '../session.ts'
import { useSession } from '../session-context.ts'
import { messageOf } from '../ui.tsx'

export type ServerStatus = Server['status']
export type LifecycleAction = 'start' | 'stop' | 'restart'

/** Statuses from which a server can be stopped (or restarted); from the others it can be started. */
export const STOPPABLE = new Set<ServerStatus>(['starting', 'running', 'backoff'])

export const STATUSES: ServerStatus[] = ['running', 'starting', 'stopping', 'backoff', 'stopped', 'error']

/** Runs a start, stop or restart; the hub answers once it is done (running, stopped, or failed). */
export async function runLifecycle (client: MCPHubClient, serverId: string, action: LifecycleAction): Promise<Server> {
  if (action === 'start') return await client.servers.start(serverId)
  if (action === 'stop') return await client.servers.stop(serverId)
  return await client.servers.restart(serverId)
}

/** What became of a server after an action: "NAME: Running", with the reason when it failed. */
export function outcomeOf (t: Translate, server: Server): string {
  const status = t(`status.${server.status}`)
  return server.lastError !== null && server.status === 'error'
    ? t('servers.outcomeFailed', { name: server.name, status, reason: server.lastError })
    : t('servers.outcome', { name: server.name, status })
}

/** A failure of an action on `name`, as the user reads it. */
export const failureOf = (name: string, failure: unknown): string => `${name}: ${messageOf(failure)}`

export interface StatusHandlers {
  /** The subscription is live (again): load what the page shows, so no change falls between. */
  onSubscribed: () => void
  onEvent: (event: ServerStatusEvent) => void
  /** The hub refused the subscription, or it gave up. */
  onError: (message: string) => void
}

/**
 * Server status changes over `/ws` (of one server, when `serverId` is given): what the page
 * shows is loaded when the subscription is live, and again whenever events may have been missed.
 */
export function useStatusEvents (serverId: string | undefined, handlers: StatusHandlers): void {
  const { client, ended } = useSession()
  const latest = useRef(handlers)
  latest.current = handlers
  useEffect(() => client.events.subscribe('server-status', {
    ...(serverId === undefined ? {} : { filters: { serverId } }),
    onSubscribed: () => latest.current.onSubscribed(),
    onReset: () => latest.current.onSubscribed(),
    onError: (error) => {
      if (sessionEnded(error)) ended()
      else latest.current.onError(error.message)
    }
  }, (event) => latest.current.onEvent(event)), [client, ended, serverId])
}
