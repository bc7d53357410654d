import type { MCPHubClient, Server } from '../../../sdk/js/src/index.ts'
import type { Translate } from '../i18n.ts'
import { useChannel, type ChannelHandlers } from '../live.ts'
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

/** Server status changes over `/ws` (of one server, when `serverId` is given). */
export function useStatusEvents (serverId: string | undefined, handlers: Omit<ChannelHandlers<'server-status'>, 'filters'>): void {
  useChannel('server-status', { ...handlers, ...(serverId === undefined ? {} : { filters: { serverId } }) })
}
