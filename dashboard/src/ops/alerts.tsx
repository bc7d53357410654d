import { useState } from 'preact/hooks'
import type { Alert, MonitoringAlertsQuery } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { Choice, LoadState, Time, useLoad, type Labelled } from '../ui.tsx'
import { useLiveRefresh } from '../live.ts'

type StateFilter = NonNullable<MonitoringAlertsQuery['state']> | 'all'
const FILTERS: Labelled<StateFilter> = [['firing', 'monitoring.alerts.firing'], ['resolved', 'monitoring.alerts.resolved'], ['all', 'monitoring.alerts.all']]

/** The alerts the caller may see (admins: all; users: those of their servers), following the `alerts` channel. */
export function AlertList () {
  const { t } = useI18n()
  const [state, setState] = useState<StateFilter>('firing')
  const [open, setOpen] = useState<string | undefined>(undefined)
  const alerts = useLoad((client) => client.monitoring.alerts({ limit: 50, ...(state === 'all' ? {} : { state }) }), [state])
  useLiveRefresh('alerts', alerts.reload, { throttleMs: 1000 })

  return (
    <section aria-labelledby='alerts-title'>
      <div class='heading'>
        <h2 id='alerts-title'>{t('monitoring.alerts.title')}</h2>
        <Choice label={t('monitoring.alerts.filter')} value={state} onValue={setState} options={FILTERS.map(([value, key]) => [value, t(key)])} />
      </div>
      <LoadState loaded={alerts} />
      {alerts.data?.items.length === 0 && <p>{t('monitoring.alerts.empty')}</p>}
      {alerts.data !== undefined && alerts.data.items.length > 0 && (
        <ul class='alerts'>
          {alerts.data.items.map((alert) => (
            <li key={alert.id} class={`alert-${alert.severity}`}>
              <AlertSummary alert={alert} />
              <button type='button' class='secondary' aria-expanded={open === alert.id} onClick={() => setOpen(open === alert.id ? undefined : alert.id)}>
                {t('monitoring.alerts.deliveries')}
              </button>
              {open === alert.id && <Deliveries alertId={alert.id} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

function AlertSummary ({ alert }: { alert: Alert }) {
  const { t } = useI18n()
  return (
    <p>
      <span class={`status ${alert.state === 'firing' ? 'status-error' : 'status-running'}`}>{t(`monitoring.alerts.${alert.state}`)}</span>{' '}
      <strong>{t(`monitoring.alerts.severity.${alert.severity}`)}</strong>{' '}
      {alert.message}{' '}
      <span class='hint'>
        {t('monitoring.alerts.firedAt')} <Time at={alert.firedAt} />
        {alert.resolvedAt !== null && <> · {t('monitoring.alerts.resolvedAt')} <Time at={alert.resolvedAt} /></>}
      </span>
    </p>
  )
}

/** An alert's notifications and how each went. */
function Deliveries ({ alertId }: { alertId: string }) {
  const { t } = useI18n()
  const detail = useLoad((client) => client.monitoring.alert(alertId), [alertId])
  if (detail.data === undefined) return <LoadState loaded={detail} />
  if (detail.data.deliveries.length === 0) return <p class='hint'>{t('monitoring.alerts.noDeliveries')}</p>
  return (
    <ul>
      {detail.data.deliveries.map((delivery) => (
        <li key={delivery.id}>
          {t(`settings.channel.${delivery.channel}`)}: {t(`monitoring.delivery.${delivery.status}`)}{' '}
          <span class='hint'>
            <Time at={delivery.deliveredAt ?? delivery.createdAt} />
            {delivery.lastError !== null && ` · ${delivery.lastError}`}
          </span>
        </li>
      ))}
    </ul>
  )
}
