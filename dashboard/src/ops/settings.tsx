import { useEffect, useState } from 'preact/hooks'
import type { AlertRules, HubConfig, NotificationTestResult } from '../../../sdk/js/src/index.ts'
import { MCPHubError } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { ActionOutcome, CheckboxField, LoadState, MASK, Page, TextField, useAction, useLoad } from '../ui.tsx'

/** How the hub shows a stored secret; sent back, it keeps the secret. */

type RuleName = Exclude<keyof AlertRules, 'repeatIntervalMinutes'>
type RuleField = 'restarts' | 'withinMinutes' | 'percent' | 'minCalls' | 'p95Ms' | 'perMinute' | 'perAccountPerMinute'

type SecretName = 'pass' | 'slackWebhookUrl' | 'webhookSecret'

/** A secret's edit: a new value typed, or the stored one removed; neither keeps it. */
interface SecretEdit {
  typed: string
  remove: boolean
}

/** What the form edits: the settings with the webhook's on/off apart from its URL, and the edits of the secrets. */
interface Draft {
  config: HubConfig
  webhookOn: boolean
  webhookUrl: string
  emailTo: string
  secrets: Record<SecretName, SecretEdit>
}

const draftOf = (config: HubConfig): Draft => ({
  config: structuredClone(config),
  webhookOn: config.notifications.webhook !== null,
  webhookUrl: config.notifications.webhook ?? '',
  emailTo: config.notifications.emailTo.join(', '),
  secrets: { pass: { typed: '', remove: false }, slackWebhookUrl: { typed: '', remove: false }, webhookSecret: { typed: '', remove: false } }
})

/** A secret as sent back: none when removed, what the user typed, else the stored one kept (the mask) or none. */
const secret = ({ typed, remove }: SecretEdit, stored: string | null): string | null => remove ? null : typed !== '' ? typed : stored

const nullable = (value: string): string | null => value.trim() === '' ? null : value.trim()

function bodyOf (draft: Draft): HubConfig {
  const { smtp, notifications, alerts } = draft.config
  return {
    smtp: { ...smtp, host: nullable(smtp.host ?? ''), from: nullable(smtp.from ?? ''), auth: { user: nullable(smtp.auth.user ?? ''), pass: secret(draft.secrets.pass, smtp.auth.pass) } },
    notifications: {
      ...notifications,
      emailTo: draft.emailTo.split(/[,\s]+/).filter((address) => address !== ''),
      slackWebhookUrl: secret(draft.secrets.slackWebhookUrl, notifications.slackWebhookUrl),
      webhook: draft.webhookOn ? nullable(draft.webhookUrl) : null,
      webhookSecret: secret(draft.secrets.webhookSecret, notifications.webhookSecret)
    },
    alerts
  }
}

/** The hub's settings (admins): SMTP, the notification channels and the alert rules, guarded by their version. */
export function SettingsPage () {
  const { t } = useI18n()
  const loaded = useLoad((client) => client.config.getWithETag(), [])
  const [draft, setDraft] = useState<Draft | undefined>(undefined)
  const [etag, setEtag] = useState('')
  const [conflict, setConflict] = useState(false)
  const save = useAction()
  const test = useAction()
  const [results, setResults] = useState<NotificationTestResult[] | undefined>(undefined)

  useEffect(() => {
    if (loaded.data === undefined) return
    setDraft(draftOf(loaded.data.config))
    setEtag(loaded.data.etag)
    setConflict(false)
  }, [loaded.data])

  const change = (update: (config: HubConfig) => void) => setDraft((current) => {
    if (current === undefined) return current
    const config = structuredClone(current.config)
    update(config)
    return { ...current, config }
  })
  const set = (fields: Partial<Draft>) => setDraft((current) => current === undefined ? current : { ...current, ...fields })

  const submit = (event: Event) => {
    event.preventDefault()
    if (draft === undefined) return
    save.run(async (client) => {
      try {
        const saved = await client.config.updateWithETag(bodyOf(draft), etag)
        setDraft(draftOf(saved.config))
        setEtag(saved.etag)
        return t('common.saved')
      } catch (failure) {
        if (failure instanceof MCPHubError && failure.status === 409) {
          setConflict(true)
          throw new Error(t('settings.conflict'))
        }
        throw failure
      }
    })
  }

  const sendTest = () => {
    setResults(undefined)
    test.run(async (client) => { setResults(await client.config.testNotifications()) })
  }

  if (draft === undefined) return <Page title={t('settings.title')}><LoadState loaded={loaded} /></Page>
  const { smtp, notifications, alerts } = draft.config
  const secretField = (name: SecretName, label: string, stored: string | null, hint?: string) => (
    <SecretField
      label={label} stored={stored} hint={hint} edit={draft.secrets[name]}
      onEdit={(edit) => set({ secrets: { ...draft.secrets, [name]: edit } })}
    />
  )

  return (
    <Page title={t('settings.title')}>
      <form onSubmit={submit} class='settings'>
        <fieldset>
          <legend>{t('settings.smtp')}</legend>
          <TextField label={t('settings.smtp.host')} value={smtp.host ?? ''} onValue={(value) => change((config) => { config.smtp.host = value })} hint={t('settings.smtp.hostHint')} />
          <TextField label={t('settings.smtp.port')} type='number' min={1} max={65535} value={String(smtp.port)} onValue={(value) => change((config) => { config.smtp.port = Number(value) })} />
          <CheckboxField label={t('settings.smtp.secure')} checked={smtp.secure} onValue={(checked) => change((config) => { config.smtp.secure = checked })} />
          <TextField label={t('settings.smtp.user')} autocomplete='off' value={smtp.auth.user ?? ''} onValue={(value) => change((config) => { config.smtp.auth.user = value })} />
          {secretField('pass', t('settings.smtp.pass'), smtp.auth.pass)}
          <TextField label={t('settings.smtp.from')} type='email' value={smtp.from ?? ''} onValue={(value) => change((config) => { config.smtp.from = value })} />
        </fieldset>

        <fieldset>
          <legend>{t('settings.notifications')}</legend>
          <CheckboxField label={t('settings.email')} checked={notifications.email} onValue={(checked) => change((config) => { config.notifications.email = checked })} />
          <TextField label={t('settings.emailTo')} value={draft.emailTo} onValue={(value) => set({ emailTo: value })} hint={t('settings.emailToHint')} />
          <CheckboxField label={t('settings.slack')} checked={notifications.slack} onValue={(checked) => change((config) => { config.notifications.slack = checked })} />
          {secretField('slackWebhookUrl', t('settings.slackWebhookUrl'), notifications.slackWebhookUrl)}
          <CheckboxField label={t('settings.webhook')} checked={draft.webhookOn} onValue={(checked) => set({ webhookOn: checked })} />
          {draft.webhookOn && (
            <>
              <TextField label={t('settings.webhookUrl')} type='url' required value={draft.webhookUrl} onValue={(value) => set({ webhookUrl: value })} />
              {secretField('webhookSecret', t('settings.webhookSecret'), notifications.webhookSecret, t('settings.webhookSecretHint'))}
            </>
          )}
        </fieldset>

        <fieldset class='rules'>
          <legend>{t('settings.alerts')}</legend>
          <TextField label={t('settings.repeatIntervalMinutes')} type='number' min={1} value={String(alerts.repeatIntervalMinutes)} onValue={(value) => change((config) => { config.alerts.repeatIntervalMinutes = Number(value) })} />
          {(Object.keys(alerts) as Array<keyof AlertRules>).filter((name): name is RuleName => name !== 'repeatIntervalMinutes').map((name) => {
            const rule = alerts[name] as { enabled: boolean } & Partial<Record<RuleField, number>>
            const fields = (Object.keys(rule) as Array<'enabled' | RuleField>).filter((field): field is RuleField => field !== 'enabled')
            const edit = (update: (rule: Record<string, unknown>) => void) => change((config) => { update(config.alerts[name] as unknown as Record<string, unknown>) })
            return (
              <fieldset key={name} class='rule'>
                <legend>{t(`settings.rule.${name}`)}</legend>
                <CheckboxField label={t('settings.rule.enabled')} checked={rule.enabled} onValue={(checked) => edit((stored) => { stored.enabled = checked })} />
                {fields.map((field) => (
                  <TextField key={field} label={t(`settings.field.${field}`)} type='number' min={0} value={String(rule[field])} onValue={(value) => edit((stored) => { stored[field] = Number(value) })} />
                ))}
              </fieldset>
            )
          })}
        </fieldset>

        <div class='actions'>
          <button type='submit' disabled={save.pending}>{save.pending ? t('common.saving') : t('common.save')}</button>
          {conflict && <button type='button' class='secondary' onClick={() => { save.clear(); loaded.reload() }}>{t('settings.reload')}</button>}
        </div>
        <ActionOutcome action={save} />
      </form>

      <section aria-labelledby='test-title'>
        <h2 id='test-title'>{t('settings.test')}</h2>
        <p class='hint'>{t('settings.testHint')}</p>
        <button type='button' disabled={test.pending} onClick={sendTest}>{t('settings.sendTest')}</button>
        {test.error !== undefined && <p role='alert' class='error'>{test.error}</p>}
        <div role='status'>
          {results !== undefined && (
            <ul class='outcomes'>
              {results.map((result) => (
                <li key={result.channel} data-channel={result.channel} class={result.delivered ? 'done' : 'error'}>
                  {t(`settings.channel.${result.channel}`)}: {result.delivered ? t('settings.delivered') : t('settings.failed', { error: result.error ?? '' })}
                </li>
              ))}
            </ul>
          )}
        </div>
      </section>
    </Page>
  )
}

/** A write-only value: never shown; a stored one is kept unless a new one is typed or it is removed. */
function SecretField ({ label, stored, hint, edit, onEdit }: { label: string, stored: string | null, hint?: string | undefined, edit: SecretEdit, onEdit: (edit: SecretEdit) => void }) {
  const { t } = useI18n()
  const isStored = stored === MASK
  return (
    <>
      <TextField
        label={label} type='password' autocomplete='new-password' value={edit.typed} disabled={edit.remove}
        onValue={(typed) => onEdit({ ...edit, typed })} hint={isStored ? t('settings.secretKept') : hint}
      />
      {isStored && <CheckboxField label={t('settings.secretRemove', { name: label })} checked={edit.remove} onValue={(remove) => onEdit({ typed: '', remove })} />}
    </>
  )
}
