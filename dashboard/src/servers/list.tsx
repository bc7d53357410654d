import { useEffect, useRef, useState } from 'preact/hooks'
import type { Server, ServersListQuery } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { Link, navigate, useLocation } from '../router.tsx'
import { sessionEnded } from '../session.ts'
import { useSession } from '../session-context.ts'
import { ActionOutcome, Page, SelectField, TextField, messageOf } from '../ui.tsx'
import { ExportLink, ImportField } from './transfer.tsx'
import { STATUSES, STOPPABLE, failureOf, outcomeOf, runLifecycle, useStatusEvents, type LifecycleAction, type ServerStatus } from './lifecycle.ts'

interface Filters {
  search: string
  status: ServerStatus | ''
}

interface Outcome {
  error: string | undefined
  done: string | undefined
}

const NO_OUTCOME: Outcome = { error: undefined, done: undefined }

const filtersOf = (url: URL): Filters => {
  const status = url.searchParams.get('status') as ServerStatus | null
  return { search: url.searchParams.get('search') ?? '', status: status !== null && STATUSES.includes(status) ? status : '' }
}

/** The servers with their live status: the list by REST, then each change as it comes over `/ws`; filters live in the URL. */
export function ServersPage () {
  const { t } = useI18n()
  const { client, isAdmin, ended, may } = useSession()
  const url = useLocation()
  const filters = filtersOf(url)
  const [servers, setServers] = useState<Server[] | undefined>(undefined)
  const [live, setLive] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [pending, setPending] = useState<ReadonlyMap<string, LifecycleAction>>(new Map())
  const [outcome, setOutcome] = useState<Outcome>(NO_OUTCOME)
  const [search, setSearch] = useState(filters.search)
  const current = useRef({ filters, known: new Set<string>(), generation: 0 })
  current.current.filters = filters

  const reload = () => {
    const generation = ++current.current.generation
    const { search, status } = current.current.filters
    const query: Omit<ServersListQuery, 'page'> = { sort: 'name', ...(search === '' ? {} : { search }), ...(status === '' ? {} : { status }) }
    const load = async () => {
      const items: Server[] = []
      for await (const server of client.servers.iterate(query)) items.push(server)
      if (generation !== current.current.generation) return
      current.current.known = new Set(items.map((server) => server.id))
      setServers(items)
      setError(undefined)
    }
    load().catch((failure: unknown) => {
      if (sessionEnded(failure)) ended()
      else setError(messageOf(failure))
    })
  }

  useStatusEvents(undefined, {
    onLive: () => {
      setLive(true)
      reload()
    },
    onEvent: (event) => {
      const { status } = current.current.filters
      if (!current.current.known.has(event.serverId)) {
        // A new server, or one entering the status shown.
        if (status === '' || status === event.to) reload()
        return
      }
      setServers((shown) => shown
        ?.map((server) => server.id === event.serverId ? { ...server, status: event.to, pid: event.pid } : server)
        .filter((server) => status === '' || server.status === status || pending.has(server.id)))
    },
    onError: setError
  })

  // The filters changed (by this page or the browser's back button): the list follows them.
  const filterKey = `${filters.search}\n${filters.status}`
  const firstKey = useRef(filterKey)
  useEffect(() => {
    setSearch(filters.search)
    if (filterKey !== firstKey.current) reload()
    firstKey.current = filterKey
  }, [filterKey])

  const applyFilters = (next: Filters) => {
    const query = new URLSearchParams()
    if (next.search !== '') query.set('search', next.search)
    if (next.status !== '') query.set('status', next.status)
    const text = query.toString()
    navigate(text === '' ? '/servers' : `/servers?${text}`, { replace: true })
  }

  /** Starts, stops or restarts a server; its status changes arrive as events meanwhile. */
  const act = async (server: Server, action: LifecycleAction) => {
    setPending((shown) => new Map(shown).set(server.id, action))
    setOutcome(NO_OUTCOME)
    try {
      const after = await runLifecycle(client, server.id, action)
      setOutcome({ error: undefined, done: outcomeOf(t, after) })
    } catch (failure) {
      if (sessionEnded(failure)) ended()
      else setOutcome({ error: failureOf(server.name, failure), done: undefined })
    } finally {
      setPending((shown) => {
        const next = new Map(shown)
        next.delete(server.id)
        return next
      })
    }
  }

  const statusOptions: Array<[ServerStatus | '', string]> = [['', t('servers.anyStatus')], ...STATUSES.map((status): [ServerStatus, string] => [status, t(`status.${status}`)])]

  return (
    <Page
      title={t('servers.title')}
      actions={(
        <>
          <p role='status' class={live ? 'live' : 'connecting'}>{live ? t('servers.live') : t('servers.connecting')}</p>
          {isAdmin && <Link href='/servers/new' class='button'>{t('servers.new')}</Link>}
        </>
      )}
    >
      <form class='filters' role='search' aria-label={t('servers.filters')} onSubmit={(event) => { event.preventDefault(); applyFilters({ ...filters, search }) }}>
        <TextField type='search' label={t('servers.search')} value={search} onValue={setSearch} />
        <SelectField label={t('servers.status')} value={filters.status} onValue={(status) => applyFilters({ search, status })} options={statusOptions} />
        <button type='submit' class='secondary'>{t('common.search')}</button>
      </form>
      {isAdmin && (
        <div class='transfer'>
          <ImportField onImported={reload} />
          <ExportLink />
        </div>
      )}
      <ActionOutcome action={outcome} />
      {error !== undefined && <p role='alert' class='error'>{error}</p>}
      {servers === undefined && error === undefined && <p>{t('app.loading')}</p>}
      {servers?.length === 0 && <p>{filters.search === '' && filters.status === '' ? t('servers.empty') : t('servers.noMatch')}</p>}
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
                const busy = pending.get(server.id)
                return (
                  <tr key={server.id} data-server={server.name} aria-busy={busy !== undefined}>
                    <th scope='row'><Link href={`/servers/${encodeURIComponent(server.id)}`}>{server.name}</Link></th>
                    <td>
                      <span class={`status status-${server.status}`} data-status={server.status}>{t(`status.${server.status}`)}</span>
                      {busy !== undefined && <span class='hint pending'> {t(`servers.pending.${busy}`)}</span>}
                    </td>
                    <td class='row-actions'>
                      {may(server.id, 'execute') && (
                        <>
                          <button
                            type='button' disabled={busy !== undefined}
                            aria-label={t(stoppable ? 'servers.stopName' : 'servers.startName', { name: server.name })}
                            onClick={() => act(server, stoppable ? 'stop' : 'start')}
                          >
                            {t(stoppable ? 'servers.stop' : 'servers.start')}
                          </button>
                          {stoppable && (
                            <button type='button' class='secondary' disabled={busy !== undefined} aria-label={t('servers.restartName', { name: server.name })} onClick={() => act(server, 'restart')}>
                              {t('servers.restart')}
                            </button>
                          )}
                        </>
                      )}
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
