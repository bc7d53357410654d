import { useEffect, useRef, useState } from 'preact/hooks'
import type { Server } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { sessionEnded } from '../session.ts'
import { useSession } from '../session-context.ts'
import { Page } from '../ui.tsx'

/** Statuses from which a server can be stopped; from the others it can be started. */
const STOPPABLE = new Set<Server['status']>(['starting', 'running', 'backoff'])

/** The servers with their live status: the list by REST, then each change as it comes over `/ws`. */
export function ServersPage () {
  const { t } = useI18n()
  const { client, ended: onSessionEnded } = useSession()
  const [servers, setServers] = useState<Server[] | undefined>(undefined)
  const [live, setLive] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [pending, setPending] = useState<ReadonlySet<string>>(new Set())
  const known = useRef(new Set<string>())

  useEffect(() => {
    let active = true
    const load = async () => {
      const items: Server[] = []
      for await (const server of client.servers.iterate({ sort: 'name' })) items.push(server)
      if (!active) return
      known.current = new Set(items.map((server) => server.id))
      setServers(items)
    }
    const fail = (failure: Error) => {
      if (sessionEnded(failure)) onSessionEnded()
      else setError(failure.message)
    }
    const reload = () => { load().catch(fail) }
    // Loaded once the subscription is live, and again whenever events may have been missed: no change falls between.
    const unsubscribe = client.events.subscribe('server-status', {
      onSubscribed: () => {
        setLive(true)
        reload()
      },
      onReset: reload,
      onError: fail
    }, (event) => {
      if (!known.current.has(event.serverId)) {
        reload()
        return
      }
      setServers((current) => current?.map((server) => server.id === event.serverId ? { ...server, status: event.to, pid: event.pid } : server))
    })
    return () => {
      active = false
      unsubscribe()
    }
  }, [client, onSessionEnded])

  /** Starts or stops a server; its new status arrives as events. */
  const act = async (server: Server, action: 'start' | 'stop') => {
    setPending((current) => new Set(current).add(server.id))
    setError(undefined)
    try {
      await (action === 'start' ? client.servers.start(server.id) : client.servers.stop(server.id))
    } catch (failure) {
      if (sessionEnded(failure)) onSessionEnded()
      else setError(`${server.name}: ${(failure as Error).message}`)
    } finally {
      setPending((current) => {
        const next = new Set(current)
        next.delete(server.id)
        return next
      })
    }
  }

  return (
    <Page title={t('servers.title')} actions={<p role='status' class={live ? 'live' : 'connecting'}>{live ? t('servers.live') : t('servers.connecting')}</p>}>
      {error !== undefined && <p role='alert' class='error'>{error}</p>}
      {servers === undefined && <p>{t('app.loading')}</p>}
      {servers?.length === 0 && <p>{t('servers.empty')}</p>}
      {servers !== undefined && servers.length > 0 && (
        <div class='table'>
          <table>
            <thead>
              <tr>
                <th scope='col'>{t('servers.name')}</th>
                <th scope='col'>{t('servers.status')}</th>
                <th scope='col'>{t('servers.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {servers.map((server) => {
                const stoppable = STOPPABLE.has(server.status)
                return (
                  <tr key={server.id} data-server={server.name}>
                    <th scope='row'>{server.name}</th>
                    <td><span class={`status status-${server.status}`} data-status={server.status}>{t(`status.${server.status}`)}</span></td>
                    <td>
                      <button
                        type='button' disabled={pending.has(server.id)}
                        aria-label={t(stoppable ? 'servers.stopName' : 'servers.startName', { name: server.name })}
                        onClick={() => act(server, stoppable ? 'stop' : 'start')}
                      >
                        {t(stoppable ? 'servers.stop' : 'servers.start')}
                      </button>
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  )
}
