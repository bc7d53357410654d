import { useState } from 'preact/hooks'
import { renderSVG } from 'uqr'
import type { CreatedApiKey, MfaEnrolment } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { useSession } from '../session-context.ts'
import { ActionOutcome, CheckboxField, ConfirmButton, LoadState, Page, Section, TextField, Time, useAction, useLoad } from '../ui.tsx'

/** The signed-in user's own account: API keys and MFA. */
export function AccountPage () {
  const { t } = useI18n()
  const { user } = useSession()
  return (
    <Page title={t('account.title')}>
      <p>{t('account.intro', { name: user.username })}</p>
      <p>{t('account.userId')} <code data-user-id>{user.id}</code></p>
      <ApiKeys />
      <Mfa />
    </Page>
  )
}

/** The last moment of a local date (an expiry date means "through that day"). */
const endOfDay = (date: string) => new Date(`${date}T23:59:59`).toISOString()

const today = () => new Date().toISOString().slice(0, 10)

function ApiKeys () {
  const { t } = useI18n()
  const { user } = useSession()
  // Admins would see everyone's keys by default: this page is about one's own.
  const keys = useLoad((client) => client.auth.listApiKeys({ userId: user.id }), [user.id])
  const [name, setName] = useState('')
  const [readOnly, setReadOnly] = useState(false)
  const [expires, setExpires] = useState('')
  // The new key lives in this component's state only: shown once, gone when the page is left.
  const [created, setCreated] = useState<CreatedApiKey | undefined>(undefined)
  const create = useAction()
  const revoke = useAction()
  const active = (keys.data ?? []).filter((key) => key.revokedAt === null)

  const submit = (event: Event) => {
    event.preventDefault()
    create.run(async (client) => {
      const key = await client.auth.createApiKey({ name: name.trim(), readOnly, ...(expires === '' ? {} : { expiresAt: endOfDay(expires) }) })
      setCreated(key)
      setName('')
      setReadOnly(false)
      setExpires('')
      keys.reload()
    })
  }

  return (
    <Section title={t('account.apiKeys')}>
      <LoadState loaded={keys} />
      {keys.data !== undefined && active.length === 0 && <p>{t('account.noKeys')}</p>}
      {active.length > 0 && (
        <div class='table'>
          <table>
            <thead>
              <tr>
                <th scope='col'>{t('account.keyName')}</th>
                <th scope='col'>{t('account.prefix')}</th>
                <th scope='col'>{t('account.readOnly')}</th>
                <th scope='col'>{t('account.created')}</th>
                <th scope='col'>{t('account.lastUsed')}</th>
                <th scope='col'>{t('account.expires')}</th>
                <th scope='col'>{t('common.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {active.map((key) => (
                <tr key={key.id} data-key={key.name}>
                  <th scope='row'>{key.name}</th>
                  <td><code>{key.prefix}</code></td>
                  <td>{key.readOnly ? t('common.yes') : t('common.no')}</td>
                  <td><Time at={key.createdAt} /></td>
                  <td>{key.lastUsedAt === null ? t('account.never') : <Time at={key.lastUsedAt} />}</td>
                  <td>{key.expiresAt === null ? t('account.noExpiry') : <Time at={key.expiresAt} />}</td>
                  <td>
                    <ConfirmButton
                      label={t('account.revoke')} confirm={t('account.revoke')} question={t('account.revokeQuestion', { name: key.name })} disabled={revoke.pending}
                      onConfirm={() => revoke.run(async (client) => {
                        await client.auth.revokeApiKey(key.id)
                        if (created?.id === key.id) setCreated(undefined)
                        keys.setData((current) => current?.filter((each) => each.id !== key.id))
                        return t('account.revoked', { name: key.name })
                      })}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ActionOutcome action={revoke} />
      {created !== undefined && <NewKey created={created} onDone={() => setCreated(undefined)} />}
      <form onSubmit={submit} aria-label={t('account.createKey')}>
        <TextField label={t('account.keyName')} value={name} onValue={setName} required maxLength={100} autocomplete='off' />
        <CheckboxField label={t('account.readOnlyHint')} checked={readOnly} onValue={setReadOnly} />
        <TextField type='date' label={t('account.expiresOn')} value={expires} onValue={setExpires} min={today()} hint={t('account.expiresHint')} />
        <ActionOutcome action={create} />
        <button type='submit' disabled={create.pending}>{t('account.createKey')}</button>
      </form>
    </Section>
  )
}

/** A key just created: its only showing, with a copy button. */
function NewKey ({ created, onDone }: { created: CreatedApiKey, onDone: () => void }) {
  const { t } = useI18n()
  const [copied, setCopied] = useState<string>('')
  const copy = () => {
    // Pages served over plain http (not localhost) have no clipboard: the failure then says to copy by hand.
    Promise.resolve().then(() => navigator.clipboard.writeText(created.key)).then(() => setCopied(t('account.copied')), () => setCopied(t('account.copyFailed')))
  }
  return (
    <div class='secret' role='region' aria-label={t('account.newKey', { name: created.name })}>
      <p><strong>{t('account.newKey', { name: created.name })}</strong></p>
      <p><code data-secret='api-key'>{created.key}</code></p>
      <p>{t('account.shownOnce')}</p>
      <div class='row'>
        <button type='button' onClick={copy}>{t('account.copy')}</button>
        <button type='button' class='secondary' onClick={onDone}>{t('account.hideKey')}</button>
        <span role='status'>{copied}</span>
      </div>
    </div>
  )
}

/** The QR code of an otpauth URL, as an image (an SVG data URL: the page's CSP allows data: images, not inline styles). */
function qrImage (otpauthUrl: string): string {
  return `data:image/svg+xml;base64,${btoa(renderSVG(otpauthUrl))}`
}

function Mfa () {
  const { t } = useI18n()
  const status = useLoad((client) => client.auth.mfaStatus(), [])
  const [enrolment, setEnrolment] = useState<MfaEnrolment | undefined>(undefined)
  const [code, setCode] = useState('')
  const action = useAction()
  const enabled = status.data?.enabled === true

  const enrol = () => action.run(async (client) => {
    setEnrolment(await client.auth.enrollMfa())
    setCode('')
  })
  const submit = (event: Event) => {
    event.preventDefault()
    action.run(async (client) => {
      const next = enabled ? await client.auth.disableMfa({ code }) : await client.auth.confirmMfa({ code })
      status.setData(() => next)
      setEnrolment(undefined)
      setCode('')
      return next.enabled ? t('account.mfaEnabled') : t('account.mfaDisabled')
    })
  }

  const codeField = <TextField label={t('account.code')} value={code} onValue={setCode} required inputMode='numeric' pattern='[0-9]{6}' autocomplete='one-time-code' hint={t('signIn.mfaHint')} />

  return (
    <Section title={t('account.mfa')}>
      <LoadState loaded={status} />
      {status.data !== undefined && (
        <p data-mfa={enabled ? 'on' : 'off'}>{enabled ? t('account.mfaOn') : t('account.mfaOff')}</p>
      )}
      {status.data !== undefined && !enabled && enrolment === undefined && (
        <button type='button' disabled={action.pending} onClick={enrol}>{status.data.pending ? t('account.enrolAgain') : t('account.enrol')}</button>
      )}
      {!enabled && enrolment !== undefined && (
        <div class='enrol'>
          <p>{t('account.scan')}</p>
          <img class='qr' src={qrImage(enrolment.otpauthUrl)} alt={t('account.qrAlt')} width={200} height={200} />
          <p>{t('account.manual')} <code data-secret='mfa'>{enrolment.secret}</code></p>
          <form onSubmit={submit} aria-label={t('account.confirmMfa')}>
            {codeField}
            <button type='submit' disabled={action.pending}>{t('account.confirmMfa')}</button>
          </form>
        </div>
      )}
      {enabled && (
        <form onSubmit={submit} aria-label={t('account.disableMfa')}>
          {codeField}
          <button type='submit' class='danger' disabled={action.pending}>{t('account.disableMfa')}</button>
        </form>
      )}
      <ActionOutcome action={action} />
    </Section>
  )
}
