import { useState } from 'preact/hooks'
import type { CreateGroup, Group } from '../../../sdk/js/src/index.ts'
import { useI18n, type Translate } from '../i18n.ts'
import { Link, navigate } from '../router.tsx'
import { useSession } from '../session-context.ts'
import { ActionOutcome, CheckboxField, CheckboxGroup, LoadState, Page, SelectField, TextArea, TextField, useAction, useLoad } from '../ui.tsx'
import { allGroups } from './users.tsx'

export type ServerPermission = 'read' | 'write' | 'execute'
export type ToolPermission = 'read' | 'execute'

export const serverPermissions = (t: Translate): Array<[ServerPermission, string]> => [['read', t('groups.perm.read')], ['write', t('groups.perm.write')], ['execute', t('groups.perm.execute')]]
const toolPermissions = (t: Translate): Array<[ToolPermission, string]> => [['read', t('groups.perm.toolRead')], ['execute', t('groups.perm.toolExecute')]]

/** The groups as a tree: each under its parent (a parent the caller cannot see makes it a root). */
export function GroupTree ({ groups }: { groups: Group[] }) {
  const names = new Set(groups.map((group) => group.name))
  const childrenOf = (parent: string | null) => groups.filter((group) => parent === null ? group.parentGroup === null || !names.has(group.parentGroup) : group.parentGroup === parent)
  const branch = (parent: string | null, depth: number) => {
    const children = childrenOf(parent)
    if (children.length === 0 || depth > 8) return null
    return (
      <ul class='tree'>
        {children.map((group) => (
          <li key={group.id} data-group={group.name}>
            <Link href={`/groups/${group.id}`}>{group.displayName ?? group.name}</Link>
            {group.displayName !== null && <span class='hint'> ({group.name})</span>}
            {group.description !== null && <p class='hint'>{group.description}</p>}
            {branch(group.name, depth + 1)}
          </li>
        ))}
      </ul>
    )
  }
  return branch(null, 0)
}

/** The groups the caller may see, nested by parent; admins create new ones. */
export function GroupsPage () {
  const { t } = useI18n()
  const { isAdmin } = useSession()
  const groups = useLoad(allGroups, [])
  return (
    <Page title={t('groups.title')} actions={isAdmin ? <Link href='/groups/new' class='button'>{t('groups.new')}</Link> : undefined}>
      <LoadState loaded={groups} />
      {groups.data?.length === 0 && <p>{isAdmin ? t('groups.empty') : t('groups.emptyMine')}</p>}
      {groups.data !== undefined && <GroupTree groups={groups.data} />}
    </Page>
  )
}

export interface GroupFields {
  name: string
  displayName: string
  description: string
  parentGroup: string
  servers: ServerPermission[]
  tools: ToolPermission[]
  autoAssign: boolean
  maxMembers: string
  requireApproval: boolean
}

export const fieldsOfGroup = (group: Group): GroupFields => ({
  name: group.name,
  displayName: group.displayName ?? '',
  description: group.description ?? '',
  parentGroup: group.parentGroup ?? '',
  servers: group.permissions.servers,
  tools: group.permissions.tools,
  autoAssign: group.settings.autoAssign,
  maxMembers: group.settings.maxMembers === null ? '' : String(group.settings.maxMembers),
  requireApproval: group.settings.requireApproval
})

const EMPTY: GroupFields = { name: '', displayName: '', description: '', parentGroup: '', servers: ['read'], tools: ['read'], autoAssign: false, maxMembers: '', requireApproval: false }

/** What the API is sent for the fields (create and update take the same shape). */
export const bodyOfGroup = (fields: GroupFields): Required<Pick<CreateGroup, 'name' | 'displayName' | 'description' | 'parentGroup' | 'permissions' | 'settings'>> => ({
  name: fields.name.trim(),
  displayName: fields.displayName.trim() === '' ? null : fields.displayName.trim(),
  description: fields.description.trim() === '' ? null : fields.description.trim(),
  parentGroup: fields.parentGroup === '' ? null : fields.parentGroup,
  permissions: { servers: fields.servers, tools: fields.tools },
  settings: { autoAssign: fields.autoAssign, maxMembers: fields.maxMembers.trim() === '' ? null : Number(fields.maxMembers), requireApproval: fields.requireApproval }
})

/** The fields of a group, shared by the create and edit forms. */
export function GroupFieldset ({ fields, onFields, parents }: { fields: GroupFields, onFields: (fields: GroupFields) => void, parents: Group[] }) {
  const { t } = useI18n()
  const set = <K extends keyof GroupFields>(key: K) => (value: GroupFields[K]) => onFields({ ...fields, [key]: value })
  return (
    <>
      <TextField label={t('groups.name')} value={fields.name} onValue={set('name')} required pattern='[a-z0-9][a-z0-9\-]{0,63}' hint={t('groups.nameHint')} autocomplete='off' spellcheck={false} />
      <TextField label={t('groups.displayName')} value={fields.displayName} onValue={set('displayName')} autocomplete='off' />
      <TextArea label={t('groups.description')} value={fields.description} onValue={set('description')} rows={2} />
      <SelectField
        label={t('groups.parent')} value={fields.parentGroup} onValue={set('parentGroup')}
        options={[['', t('groups.noParent')], ...parents.map((group): [string, string] => [group.name, group.displayName ?? group.name])]}
      />
      <CheckboxGroup legend={t('groups.serverPermissions')} options={serverPermissions(t)} value={fields.servers} onValue={set('servers')} />
      <CheckboxGroup legend={t('groups.toolPermissions')} options={toolPermissions(t)} value={fields.tools} onValue={set('tools')} />
      <fieldset class='checks'>
        <legend>{t('groups.settings')}</legend>
        <CheckboxField label={t('groups.autoAssign')} checked={fields.autoAssign} onValue={set('autoAssign')} />
        <CheckboxField label={t('groups.requireApproval')} checked={fields.requireApproval} onValue={set('requireApproval')} />
        <TextField type='number' label={t('groups.maxMembers')} value={fields.maxMembers} onValue={set('maxMembers')} min={1} max={1_000_000} hint={t('groups.maxMembersHint')} />
      </fieldset>
    </>
  )
}

/** A new group (admins); then its page. */
export function NewGroupPage () {
  const { t } = useI18n()
  const groups = useLoad(allGroups, [])
  const [fields, setFields] = useState(EMPTY)
  const action = useAction()
  const submit = (event: Event) => {
    event.preventDefault()
    action.run(async (client) => {
      const group = await client.groups.create(bodyOfGroup(fields))
      navigate(`/groups/${group.id}`)
    })
  }
  return (
    <Page title={t('groups.newTitle')}>
      <p><Link href='/groups'>{t('groups.back')}</Link></p>
      <form onSubmit={submit}>
        <GroupFieldset fields={fields} onFields={setFields} parents={groups.data ?? []} />
        <ActionOutcome action={action} />
        <button type='submit' disabled={action.pending}>{action.pending ? t('common.saving') : t('common.create')}</button>
      </form>
    </Page>
  )
}
