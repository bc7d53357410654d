import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import type { Server } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { Link, navigate } from '../router.tsx'
import { useSession } from '../session-context.ts'
import { ActionOutcome, ConfirmButton, LoadState, Page, Time, useAction, useLoad } from '../ui.tsx'
import { ServerItemsSection } from './items.tsx'
import { STOPPABLE, failureOf, outcomeOf, runLifecycle, useStatusEvents, type LifecycleAction } from './lifecycle.ts'
import { LogTail } from './logs.tsx'
import { ServerMetrics } from './metrics.tsx'

/** `/servers/:serverId`: one server, its live status, its tools, its log as it is written and its metrics. */
export function ServerPage ({ params }: { params: Record<string, string> }) {
  const { t } = useI18n()
  const serverId = params.serverId!
  const loaded = useLoad(async (client) => await client.servers.get(serverId), [serverId])
  const [liveError, setLiveError] = useState<string | undefined>(undefined)
  useStatusEvents(serverId, {
    onLive: loaded.reload,
    onEvent: (event) => {
      loaded.setData((server) => server === undefined ? server : { ...server, status: event.to, pid: event.pid, lastError: event.reason?.lastError ?? server.lastError })
      // The rest (uptime, last exit, tools) as the hub now has it.
      loaded.reload()
    },
    onError: setLiveError
  })
  const server = loaded.data
  return (
    <Page title={server?.name ?? t('servers.page.title')} actions={server === undefined ? undefined : <StatusBadge server={server} />}>
      <p><Link href='/servers'>{t('servers.page.back')}</Link></p>
      <LoadState loaded={loaded} />
      {liveError !== undefined && <p role='alert' class='error'>{liveError}</p>}
      {server !== undefined && (
        <>
          <ServerActions server={server} onChanged={(update) => loaded.setData(update)} />
          <ServerDetails server={server} />
          <ServerItemsSection serverId={server.id} version={server.status === 'running' ? `running ${server.lastRestart ?? ''}` : 'not running'} />
          <LogTail serverId={server.id} />
          <ServerMetrics serverKey={server.key} />
        </>
      )}
    </Page>
  )
}

function StatusBadge ({ server }: { server: Server }) {
  const { t } = useI18n()
  return <span class={`status status-${server.status}`} data-status={server.status} role='status'>{t(`status.${server.status}`)}</span>
}

/** Start, stop, restart; edit and delete for admins (delete asks first). */
function ServerActions ({ server, onChanged }: { server: Server, onChanged: (update: (current: Server | undefined) => Server | undefined) => void }) {
  const { t } = useI18n()
  const { isAdmin, may } = useSession()
  const mayRun = may(server.id, 'execute')
  const action = useAction()
  const [pending, setPending] = useState<LifecycleAction | undefined>(undefined)
  const stoppable = STOPPABLE.has(server.status)

  const act = async (which: LifecycleAction) => {
    setPending(which)
    await action.run(async (client) => {
      try {
        const after = await runLifecycle(client, server.id, which)
        onChanged(() => after)
        return outcomeOf(t, after)
      } catch (failure) {
        throw new Error(failureOf(server.name, failure))
      }
    })
    setPending(undefined)
  }
  const remove = () => action.run(async (client) => {
    await client.servers.delete(server.id)
    navigate('/servers')
  })

  return (
    <div class='server-actions'>
      <div class='buttons'>
        {mayRun && stoppable && <button type='button' disabled={action.pending} aria-label={t('servers.stopName', { name: server.name })} onClick={() => { act('stop').catch(() => {}) }}>{t('servers.stop')}</button>}
        {mayRun && !stoppable && <button type='button' disabled={action.pending} aria-label={t('servers.startName', { name: server.name })} onClick={() => { act('start').catch(() => {}) }}>{t('servers.start')}</button>}
        {mayRun && stoppable && <button type='button' class='secondary' disabled={action.pending} aria-label={t('servers.restartName', { name: server.name })} onClick={() => { act('restart').catch(() => {}) }}>{t('servers.restart')}</button>}
        {isAdmin && <Link href={`/servers/${encodeURIComponent(server.id)}/edit`} class='button secondary'>{t('common.edit')}</Link>}
        {isAdmin && <ConfirmButton label={t('common.delete')} question={t('common.confirmDelete', { name: server.name })} confirm={t('servers.page.deleteName', { name: server.name })} disabled={action.pending} onConfirm={() => { remove().catch(() => {}) }} />}
      </div>
      {pending !== undefined && <p class='hint'>{t(`servers.pending.${pending}`)}</p>}
      <ActionOutcome action={action} />
    </div>
  )
}

/** What the server is and how it has been running; secret values are never here (the hub masks them). */
function ServerDetails ({ server }: { server: Server }) {
  const { t } = useI18n()
  const none = t('common.none')
  return (
    <section aria-labelledby='server-details'>
      <h2 id='server-details'>{t('servers.page.details')}</h2>
      {server.lastError !== null && <p class='error'>{t('servers.page.lastError', { error: server.lastError })}</p>}
      <dl class='details'>
        <Detail term={t('servers.form.key')}><code>{server.key}</code></Detail>
        <Detail term={t('servers.form.type')}>{t(`servers.type.${server.type}`)}</Detail>
        {server.description !== null && <Detail term={t('servers.form.description')}>{server.description}</Detail>}
        <Detail term={t('servers.form.tags')}>{server.tags.length === 0 ? none : server.tags.join(', ')}</Detail>
        {server.type === 'stdio'
          ? (
            <>
              <Detail term={t('servers.form.command')}><code>{[server.command ?? '', ...server.args].join(' ')}</code></Detail>
              <Detail term={t('servers.form.env')}>{Object.keys(server.env).join(', ') || none}</Detail>
              <Detail term={t('servers.form.cwd')}>{server.cwd ?? none}</Detail>
            </>
            )
          : (
            <>
              <Detail term={t('servers.form.url')}><code>{server.url}</code></Detail>
              <Detail term={t('servers.form.headers')}>{Object.keys(server.headers).join(', ') || none}</Detail>
              <Detail term={t('servers.form.keepAlive')}>{server.keepAlive ?? '—'} ms</Detail>
            </>
            )}
        <Detail term={t('servers.form.callTimeout')}>{server.callTimeout} ms</Detail>
        <Detail term={t('servers.form.startTimeout')}>{server.startTimeout} ms</Detail>
        <Detail term={t('servers.page.enabled')}>{server.enabled ? t('common.yes') : t('common.no')}</Detail>
        <Detail term={t('servers.page.pid')}>{server.pid ?? '—'}</Detail>
        <Detail term={t('servers.page.uptime')}>{server.uptime === null ? '—' : t('servers.page.seconds', { count: String(Math.round(server.uptime / 1000)) })}</Detail>
        <Detail term={t('servers.page.tools')}>{server.tools}</Detail>
        <Detail term={t('servers.page.restarts')}>{server.restartCount}</Detail>
        <Detail term={t('servers.page.lastRestart')}><Time at={server.lastRestart} /></Detail>
        <Detail term={t('servers.page.lastExit')}>{server.lastExit === null ? '—' : <>{server.lastExit.code ?? server.lastExit.signal} · <Time at={server.lastExit.at} /></>}</Detail>
        {server.nextRetryAt !== null && <Detail term={t('servers.page.nextRetry')}><Time at={server.nextRetryAt} /></Detail>}
        <Detail term={t('servers.page.created')}><Time at={server.createdAt} /></Detail>
        <Detail term={t('servers.page.updated')}><Time at={server.updatedAt} /></Detail>
      </dl>
    </section>
  )
}

function Detail ({ term, children }: { term: string, children: ComponentChildren }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  )
}
