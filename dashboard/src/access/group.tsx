import { useState } from 'preact/hooks'
import type { Assignment, Group, Member, MCPHubClient, Server, User } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { Link, navigate } from '../router.tsx'
import { useSession } from '../session-context.ts'
import { ActionOutcome, CheckboxGroup, ConfirmButton, LoadState, Page, Section, SelectField, TextField, Time, useAction, useLoad } from '../ui.tsx'
import { bodyOfGroup, fieldsOfGroup, GroupFieldset, serverPermissions, type GroupFields, type ServerPermission } from './groups.tsx'
import { allGroups } from './users.tsx'

async function everything<T> (items: AsyncGenerator<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

async function loadGroup (client: MCPHubClient, groupId: string) {
  const [group, members, servers] = await Promise.all([
    client.groups.get(groupId),
    everything(client.groups.iterateMembers(groupId, { limit: 100 })),
    everything(client.groups.iterateServers(groupId, { limit: 100 }))
  ])
  return { group, members, servers }
}

/** One group: its settings (admins edit them), its members and its servers. */
export function GroupPage ({ params }: { params: Record<string, string> }) {
  const { t } = useI18n()
  const { isAdmin, user } = useSession()
  const groupId = params.groupId!
  const loaded = useLoad((client) => loadGroup(client, groupId), [groupId])
  const data = loaded.data
  const mine = data?.members.find((member) => member.userId === user.id)
  const manages = isAdmin || (mine?.role === 'admin' && mine.status === 'active')
  const title = data === undefined ? t('groups.group') : t('groups.groupTitle', { name: data.group.displayName ?? data.group.name })

  return (
    <Page title={title}>
      <p><Link href='/groups'>{t('groups.back')}</Link></p>
      <LoadState loaded={loaded} />
      {data !== undefined && (
        <>
          {isAdmin ? <GroupSettings group={data.group} onSaved={() => loaded.reload()} /> : <GroupFacts group={data.group} />}
          <Members groupId={data.group.id} members={data.members} manages={manages} onChange={() => loaded.reload()} />
          <Servers groupId={data.group.id} servers={data.servers} edits={isAdmin} onChange={() => loaded.reload()} />
        </>
      )}
    </Page>
  )
}

/** What a member may know of the group. */
function GroupFacts ({ group }: { group: Group }) {
  const { t } = useI18n()
  const names = (values: string[]) => values.length === 0 ? t('common.none') : values.join(', ')
  return (
    <Section title={t('groups.about')}>
      <dl class='facts'>
        <dt>{t('groups.name')}</dt><dd>{group.name}</dd>
        <dt>{t('groups.description')}</dt><dd>{group.description ?? '—'}</dd>
        <dt>{t('groups.parent')}</dt><dd>{group.parentGroup ?? t('groups.noParent')}</dd>
        <dt>{t('groups.serverPermissions')}</dt><dd>{names(group.permissions.servers)}</dd>
        <dt>{t('groups.toolPermissions')}</dt><dd>{names(group.permissions.tools)}</dd>
      </dl>
    </Section>
  )
}

/** The admins' form of the group, and its deletion. */
function GroupSettings ({ group, onSaved }: { group: Group, onSaved: () => void }) {
  const { t } = useI18n()
  const groups = useLoad(allGroups, [])
  const [fields, setFields] = useState<GroupFields>(() => fieldsOfGroup(group))
  const save = useAction()
  const remove = useAction()
  // A group cannot be its own parent: the hub refuses cycles deeper down too.
  const parents = (groups.data ?? []).filter((candidate) => candidate.id !== group.id)
  const submit = (event: Event) => {
    event.preventDefault()
    save.run(async (client) => {
      const updated = await client.groups.update(group.id, bodyOfGroup(fields))
      setFields(fieldsOfGroup(updated))
      onSaved()
      return t('common.saved')
    })
  }
  return (
    <Section title={t('groups.about')}>
      <form onSubmit={submit} aria-label={t('groups.edit')}>
        <GroupFieldset fields={fields} onFields={setFields} parents={parents} />
        <ActionOutcome action={save} />
        <button type='submit' disabled={save.pending}>{save.pending ? t('common.saving') : t('common.save')}</button>
      </form>
      <div class='row'>
        <ConfirmButton
          label={t('groups.delete')} question={t('common.confirmDelete', { name: group.name })} disabled={remove.pending}
          onConfirm={() => remove.run(async (client) => {
            await client.groups.delete(group.id)
            navigate('/groups')
          })}
        />
      </div>
      <ActionOutcome action={remove} />
    </Section>
  )
}

/** The members: their role and state; who manages the group adds, approves, changes and removes them. */
function Members ({ groupId, members, manages, onChange }: { groupId: string, members: Member[], manages: boolean, onChange: () => void }) {
  const { t } = useI18n()
  const { action, change } = useGroupChange(onChange)
  const roles: Array<[Member['role'], string]> = [['member', t('groups.role.member')], ['admin', t('groups.role.admin')]]
  return (
    <Section title={t('groups.members')}>
      {members.length === 0 && <p>{t('groups.noMembers')}</p>}
      {members.length > 0 && (
        <div class='table'>
          <table>
            <thead>
              <tr>
                <th scope='col'>{t('users.username')}</th>
                <th scope='col'>{t('groups.memberRole')}</th>
                <th scope='col'>{t('groups.memberStatus')}</th>
                <th scope='col'>{t('groups.joined')}</th>
                {manages && <th scope='col'>{t('common.actions')}</th>}
              </tr>
            </thead>
            <tbody>
              {members.map((member) => (
                <tr key={member.userId} data-member={member.username}>
                  <th scope='row'>{member.username}</th>
                  <td>
                    {manages
                      ? (
                        <select
                          aria-label={t('groups.roleOf', { name: member.username })} value={member.role} disabled={action.pending}
                          onChange={(event) => {
                            const role = event.currentTarget.value as Member['role']
                            change((client) => client.groups.updateMember(groupId, member.userId, { role }), t('common.saved'))
                          }}
                        >
                          {roles.map(([role, text]) => <option key={role} value={role}>{text}</option>)}
                        </select>
                        )
                      : t(`groups.role.${member.role}`)}
                  </td>
                  <td>{t(`groups.status.${member.status}`)}</td>
                  <td><Time at={member.joinedAt} /></td>
                  {manages && (
                    <td class='row'>
                      {member.status === 'pending' && (
                        <button type='button' disabled={action.pending} onClick={() => change((client) => client.groups.approveMember(groupId, member.userId), t('groups.approved', { name: member.username }))}>
                          {t('groups.approve')}
                        </button>
                      )}
                      <ConfirmButton
                        label={t('groups.remove')} confirm={t('groups.remove')} question={t('groups.removeMember', { name: member.username })} disabled={action.pending}
                        onConfirm={() => change((client) => client.groups.removeMember(groupId, member.userId), t('groups.removed', { name: member.username }))}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ActionOutcome action={action} />
      {manages && <AddMember groupId={groupId} members={members} onAdded={onChange} />}
    </Section>
  )
}

/** Adds a member: admins choose among the users; a group's own admins (who cannot list users) give the user's id. */
function AddMember ({ groupId, members, onAdded }: { groupId: string, members: Member[], onAdded: () => void }) {
  const { t } = useI18n()
  const { isAdmin } = useSession()
  const users = useLoad((client) => isAdmin ? everything(client.users.iterate({ sort: 'username', limit: 100 })) : Promise.resolve([] as User[]), [isAdmin])
  const [userId, setUserId] = useState('')
  const [role, setRole] = useState<Member['role']>('member')
  const action = useAction()
  const present = new Set(members.map((member) => member.userId))
  const candidates = (users.data ?? []).filter((candidate) => !present.has(candidate.id))
  const submit = (event: Event) => {
    event.preventDefault()
    const chosen = userId.trim()
    if (chosen === '') return
    action.run(async (client) => {
      const member = await client.groups.addMember(groupId, { userId: chosen, role })
      setUserId('')
      onAdded()
      return member.status === 'pending' ? t('groups.addedPending', { name: member.username }) : t('groups.added', { name: member.username })
    })
  }
  return (
    <form class='inline' onSubmit={submit} aria-label={t('groups.addMember')}>
      {isAdmin
        ? <SelectField label={t('groups.user')} value={userId} onValue={setUserId} options={[['', t('groups.chooseUser')], ...candidates.map((candidate): [string, string] => [candidate.id, candidate.username])]} />
        : <TextField label={t('groups.userId')} value={userId} onValue={setUserId} required hint={t('groups.userIdHint')} spellcheck={false} />}
      <SelectField label={t('groups.memberRole')} value={role} onValue={setRole} options={[['member', t('groups.role.member')], ['admin', t('groups.role.admin')]]} />
      <button type='submit' disabled={action.pending || userId === ''}>{t('groups.addMember')}</button>
      <ActionOutcome action={action} />
    </form>
  )
}

/** The servers assigned to the group with their permissions; admins assign, change and remove them. */
function Servers ({ groupId, servers, edits, onChange }: { groupId: string, servers: Assignment[], edits: boolean, onChange: () => void }) {
  const { t } = useI18n()
  const { action, change } = useGroupChange(onChange)
  const labels = new Map(serverPermissions(t))
  return (
    <Section title={t('groups.servers')}>
      {servers.length === 0 && <p>{t('groups.noServers')}</p>}
      {servers.length > 0 && (
        <div class='table'>
          <table>
            <thead>
              <tr>
                <th scope='col'>{t('groups.server')}</th>
                <th scope='col'>{t('groups.permissions')}</th>
                {edits && <th scope='col'>{t('common.actions')}</th>}
              </tr>
            </thead>
            <tbody>
              {servers.map((assignment) => (
                <tr key={assignment.serverId} data-assignment={assignment.serverName}>
                  <th scope='row'>{assignment.serverName}</th>
                  <td>
                    {edits
                      ? (
                        <CheckboxGroup
                          legend={t('groups.permissionsOf', { name: assignment.serverName })} options={serverPermissions(t)} value={assignment.permissions}
                          onValue={(permissions) => change((client) => client.groups.updateServer(groupId, assignment.serverId, { permissions }), t('common.saved'))}
                        />
                        )
                      : assignment.permissions.map((permission) => labels.get(permission)).join(', ')}
                  </td>
                  {edits && (
                    <td>
                      <ConfirmButton
                        label={t('groups.remove')} confirm={t('groups.remove')} question={t('groups.removeServer', { name: assignment.serverName })} disabled={action.pending}
                        onConfirm={() => change((client) => client.groups.removeServer(groupId, assignment.serverId), t('groups.removed', { name: assignment.serverName }))}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ActionOutcome action={action} />
      {edits && <AssignServer groupId={groupId} assigned={servers} onAssigned={onChange} />}
    </Section>
  )
}

/** Assigns one more server to the group (admins). */
function AssignServer ({ groupId, assigned, onAssigned }: { groupId: string, assigned: Assignment[], onAssigned: () => void }) {
  const { t } = useI18n()
  const servers = useLoad((client) => everything(client.servers.iterate({ sort: 'name', limit: 100 })), [])
  const [serverId, setServerId] = useState('')
  const [permissions, setPermissions] = useState<ServerPermission[]>(['read'])
  const action = useAction()
  const present = new Set(assigned.map((assignment) => assignment.serverId))
  const candidates = (servers.data ?? []).filter((server: Server) => !present.has(server.id))
  const submit = (event: Event) => {
    event.preventDefault()
    if (serverId === '') return
    action.run(async (client) => {
      const assignment = await client.groups.assignServer(groupId, { serverId, permissions })
      setServerId('')
      onAssigned()
      return t('groups.assigned', { name: assignment.serverName })
    })
  }
  return (
    <form class='inline' onSubmit={submit} aria-label={t('groups.assignServer')}>
      <SelectField label={t('groups.server')} value={serverId} onValue={setServerId} options={[['', t('groups.chooseServer')], ...candidates.map((server): [string, string] => [server.id, server.name])]} />
      <CheckboxGroup legend={t('groups.permissions')} options={serverPermissions(t)} value={permissions} onValue={setPermissions} />
      <button type='submit' disabled={action.pending || serverId === ''}>{t('groups.assignServer')}</button>
      <ActionOutcome action={action} />
    </form>
  )
}

/** A change to the group's members or servers, its outcome, then the group loaded again. */
function useGroupChange (onChange: () => void) {
  const action = useAction()
  const change = (work: (client: MCPHubClient) => Promise<unknown>, done: string) => action.run(async (client) => {
    await work(client)
    onChange()
    return done
  })
  return { action, change }
}
