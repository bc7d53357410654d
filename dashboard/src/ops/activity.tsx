import { useState } from 'preact/hooks'
import type { ActivityEvent } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { LoadState, Pager, Time, useLoad } from '../ui.tsx'
import { useLiveRefresh } from '../live.ts'

const PAGE_SIZE = 20

/** What an entry was about: `server "files"`, or the id of what no longer has a name. */
const named = (thing: ActivityEvent['target']): string => thing === null ? '—' : `${thing.type} ${thing.name ?? thing.id ?? ''}`.trim()

/** The activity trail (admins: everyone's; users: their own), newest first, a page at a time; the first page follows new entries. */
export function ActivityTrail () {
  const { t } = useI18n()
  const [page, setPage] = useState(1)
  const activity = useLoad((client) => client.monitoring.activity({ page, limit: PAGE_SIZE }), [page])
  useLiveRefresh('user-activity', activity.reload, { enabled: page === 1, throttleMs: 2000 })
  const pagination = activity.data?.pagination

  return (
    <section aria-labelledby='activity-title'>
      <h2 id='activity-title'>{t('monitoring.activity.title')}</h2>
      <LoadState loaded={activity} />
      {activity.data?.items.length === 0 && <p>{t('monitoring.activity.empty')}</p>}
      {activity.data !== undefined && activity.data.items.length > 0 && (
        <div class='table'>
          <table class='activity'>
            <thead>
              <tr>
                <th scope='col'>{t('monitoring.activity.at')}</th>
                <th scope='col'>{t('monitoring.activity.actor')}</th>
                <th scope='col'>{t('monitoring.activity.action')}</th>
                <th scope='col'>{t('monitoring.activity.target')}</th>
                <th scope='col'>{t('monitoring.activity.outcome')}</th>
              </tr>
            </thead>
            <tbody>
              {activity.data.items.map((entry) => (
                <tr key={entry.id} data-action={entry.action}>
                  <td><Time at={entry.at} /></td>
                  <td>{entry.actor?.username ?? '—'}</td>
                  <td><code>{entry.action}</code>{entry.fields !== null && entry.fields.length > 0 && <span class='hint'> ({entry.fields.join(', ')})</span>}</td>
                  <td>{named(entry.target)}{entry.related !== null && ` · ${named(entry.related)}`}</td>
                  <td>
                    <span class={`status ${entry.outcome === 'failure' ? 'status-error' : 'status-running'}`}>{t(`monitoring.activity.${entry.outcome}`)}</span>
                    {entry.reason !== null && <span class='hint'> {entry.reason}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pagination !== undefined && <Pager pagination={pagination} onPage={setPage} label={t('monitoring.activity.pages')} />}
    </section>
  )
}
