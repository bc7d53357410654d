import { useState } from 'preact/hooks'
import { MCPHubError, type CreateServer, type MCPHubClient, type Server, type UpdateServer } from '../../../sdk/js/src/index.ts'
import { useI18n, type Translate } from '../i18n.ts'
import { Link, navigate } from '../router.tsx'
import { ActionOutcome, CheckboxField, LoadState, Page, SelectField, TextArea, TextField, useAction, useLoad } from '../ui.tsx'
import { SecretRows, mapOf, rowsOf, type SecretRow } from './secrets.tsx'

type ServerType = Server['type']

/** The form's state: text as typed, numbers included (empty = the hub's default). */
interface Draft {
  name: string
  key: string
  description: string
  tags: string
  type: ServerType
  command: string
  args: string
  env: SecretRow[]
  cwd: string
  url: string
  headers: SecretRow[]
  keepAlive: string
  callTimeout: string
  startTimeout: string
  enabled: boolean
}

const EMPTY: Draft = {
  name: '',
  key: '',
  description: '',
  tags: '',
  type: 'stdio',
  command: '',
  args: '',
  env: [],
  cwd: '',
  url: '',
  headers: [],
  keepAlive: '',
  callTimeout: '',
  startTimeout: '',
  enabled: true
}

const draftOf = (server: Server): Draft => ({
  name: server.name,
  key: server.key,
  description: server.description ?? '',
  tags: server.tags.join(', '),
  type: server.type,
  command: server.command ?? '',
  args: server.args.join('\n'),
  env: rowsOf(server.env),
  cwd: server.cwd ?? '',
  url: server.url ?? '',
  headers: rowsOf(server.headers),
  keepAlive: server.keepAlive === null ? '' : String(server.keepAlive),
  callTimeout: String(server.callTimeout),
  startTimeout: String(server.startTimeout),
  enabled: server.enabled
})

const numberOf = (text: string): number | undefined => text.trim() === '' ? undefined : Number(text)

/** Every field of the draft as the API takes it (empty optional fields left out). */
function bodyOf (draft: Draft): CreateServer {
  const lines = draft.args.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== '')
  const tags = draft.tags.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '')
  const kind = draft.type === 'stdio'
    ? { command: draft.command.trim(), args: lines, env: mapOf(draft.env), cwd: draft.cwd.trim() === '' ? null : draft.cwd.trim() }
    : { url: draft.url.trim(), headers: mapOf(draft.headers), keepAlive: numberOf(draft.keepAlive) }
  return {
    name: draft.name.trim(),
    key: draft.key.trim() === '' ? undefined : draft.key.trim(),
    description: draft.description.trim() === '' ? null : draft.description.trim(),
    tags,
    type: draft.type,
    ...kind,
    callTimeout: numberOf(draft.callTimeout),
    startTimeout: numberOf(draft.startTimeout),
    enabled: draft.enabled
  }
}

/** Fields whose `null` on update means "back to the default". */
const RESETTABLE = ['startTimeout', 'keepAlive']

/** The fields that changed since the server was loaded: the rest keep their value (a default stays a default). */
function changesOf (draft: Draft, initial: Draft): UpdateServer {
  const now = bodyOf(draft) as Record<string, unknown>
  const before = bodyOf(initial) as Record<string, unknown>
  const kindFields = draft.type === 'stdio' ? ['command', 'args', 'env', 'cwd'] : ['url', 'headers', 'keepAlive']
  const changes: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(now)) {
    const changed = JSON.stringify(value) !== JSON.stringify(before[field])
    if (!changed && !(draft.type !== initial.type && kindFields.includes(field))) continue
    // An emptied timeout goes back to the default; an emptied key keeps the key.
    if (value !== undefined) changes[field] = value
    else if (RESETTABLE.includes(field)) changes[field] = null
  }
  return changes as UpdateServer
}

/** A refusal of the hub, with the field it names (`details.field` of a 422). */
function refusalOf (t: Translate, failure: unknown): Error {
  if (!(failure instanceof MCPHubError)) return failure as Error
  const field = failure.details?.field
  return new Error(typeof field === 'string' && !failure.message.includes(field) ? t('servers.form.refused', { field, message: failure.message }) : failure.message)
}

/** `/servers/new`: a new server (admins). */
export function NewServerPage () {
  const { t } = useI18n()
  return (
    <Page title={t('servers.form.newTitle')}>
      <ServerForm initial={EMPTY} save={async (client, draft) => await client.servers.create(bodyOf(draft))} cancelHref='/servers' />
    </Page>
  )
}

/** `/servers/:serverId/edit`: a server's settings (admins); secrets stay as stored unless replaced. */
export function EditServerPage ({ params }: { params: Record<string, string> }) {
  const { t } = useI18n()
  const serverId = params.serverId!
  const loaded = useLoad(async (client) => await client.servers.get(serverId), [serverId])
  const server = loaded.data
  return (
    <Page title={server === undefined ? t('servers.form.editTitle') : t('servers.form.editName', { name: server.name })}>
      <LoadState loaded={loaded} />
      {server !== undefined && (
        <ServerForm
          initial={draftOf(server)}
          save={async (client, draft, initial) => await client.servers.update(serverId, changesOf(draft, initial))}
          cancelHref={`/servers/${encodeURIComponent(serverId)}`}
        />
      )}
    </Page>
  )
}

type Save = (client: MCPHubClient, draft: Draft, initial: Draft) => Promise<Server>

function ServerForm ({ initial, save, cancelHref }: { initial: Draft, save: Save, cancelHref: string }) {
  const { t } = useI18n()
  const [draft, setDraft] = useState(initial)
  const action = useAction()
  const set = <K extends keyof Draft>(field: K) => (value: Draft[K]) => setDraft((current) => ({ ...current, [field]: value }))
  const stdio = draft.type === 'stdio'

  const submit = async (event: Event) => {
    event.preventDefault()
    await action.run(async (client) => {
      try {
        const saved = await save(client, draft, initial)
        navigate(`/servers/${encodeURIComponent(saved.id)}`)
      } catch (failure) {
        throw refusalOf(t, failure)
      }
    })
  }

  const types: Array<[ServerType, string]> = [['stdio', t('servers.type.stdio')], ['streamable-http', t('servers.type.streamable-http')], ['sse', t('servers.type.sse')]]
  return (
    <form class='server-form' onSubmit={(event) => { submit(event).catch(() => {}) }}>
      <TextField label={t('servers.form.name')} value={draft.name} onValue={set('name')} required maxLength={100} />
      <TextField label={t('servers.form.key')} value={draft.key} onValue={set('key')} hint={t('servers.form.keyHint')} spellcheck={false} />
      <TextArea label={t('servers.form.description')} value={draft.description} onValue={set('description')} rows={2} />
      <TextField label={t('servers.form.tags')} value={draft.tags} onValue={set('tags')} hint={t('servers.form.tagsHint')} />
      <SelectField label={t('servers.form.type')} value={draft.type} onValue={set('type')} options={types} />
      {stdio
        ? (
          <fieldset class='kind'>
            <legend>{t('servers.form.program')}</legend>
            <TextField label={t('servers.form.command')} value={draft.command} onValue={set('command')} required spellcheck={false} hint={t('servers.form.commandHint')} />
            <TextArea label={t('servers.form.args')} value={draft.args} onValue={set('args')} hint={t('servers.form.argsHint')} spellcheck={false} />
            <SecretRows legend={t('servers.form.env')} rows={draft.env} onRows={set('env')} namePattern='[A-Za-z_][A-Za-z0-9_]*' />
            <TextField label={t('servers.form.cwd')} value={draft.cwd} onValue={set('cwd')} hint={t('servers.form.cwdHint')} spellcheck={false} />
          </fieldset>
          )
        : (
          <fieldset class='kind'>
            <legend>{t('servers.form.remote')}</legend>
            <TextField type='url' label={t('servers.form.url')} value={draft.url} onValue={set('url')} required spellcheck={false} hint={t('servers.form.urlHint')} />
            <SecretRows legend={t('servers.form.headers')} rows={draft.headers} onRows={set('headers')} />
            <TextField type='number' label={t('servers.form.keepAlive')} value={draft.keepAlive} onValue={set('keepAlive')} min={1000} max={3_600_000} hint={t('servers.form.defaultHint')} />
          </fieldset>
          )}
      <TextField type='number' label={t('servers.form.callTimeout')} value={draft.callTimeout} onValue={set('callTimeout')} min={1000} max={600_000} hint={t('servers.form.defaultHint')} />
      <TextField type='number' label={t('servers.form.startTimeout')} value={draft.startTimeout} onValue={set('startTimeout')} min={1000} max={600_000} hint={t('servers.form.defaultHint')} />
      <CheckboxField label={t('servers.form.enabled')} checked={draft.enabled} onValue={set('enabled')} />
      <ActionOutcome action={action} />
      <div class='form-actions'>
        <button type='submit' disabled={action.pending}>{action.pending ? t('common.saving') : t('common.save')}</button>
        <Link href={cancelHref}>{t('common.cancel')}</Link>
      </div>
    </form>
  )
}
