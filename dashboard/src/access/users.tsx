import { useState } from 'preact/hooks'
import type { Group, MCPHubClient, User } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { Link, navigate, useLocation } from '../router.tsx'
import { useSession } from '../session-context.ts'
import { ActionOutcome, CheckboxGroup, ConfirmButton, LoadState, Page, Pager, Section, SelectField, TextField, Time, useAction, useLoad } from '../ui.tsx'

const PAGE_SIZE = 20

/** Every group the caller may see (all of them for admins). */
export async function allGroups (client: MCPHubClient): Promise<Group[]> {
  const groups: Group[] = []
  for await (const group of client.groups.iterate({ sort: 'name', limit: 100 })) groups.push(group)
  return groups
}

/** The users, a page at a time, searched by name or email (the search and page are in the address). */
export function UsersPage () {
  const { t } = useI18n()
  const url = useLocation()
  const search = url.searchParams.get('search') ?? ''
  const page = Number(url.searchParams.get('page') ?? '1') || 1
  const [typed, setTyped] = useState(search)
  const users = useLoad((client) => client.users.list({ page, limit: PAGE_SIZE, sort: 'username', ...(search === '' ? {} : { search }) }), [page, search])

  const go = (next: { search: string, page: number }) => {
    const query = new URLSearchParams()
    if (next.search !== '') query.set('search', next.search)
    if (next.page > 1) query.set('page', String(next.page))
    const text = query.toString()
    navigate(text === '' ? '/users' : `/users?${text}`)
  }

  return (
    <Page title={t('users.title')} actions={<Link href='/users/new' class='button'>{t('users.new')}</Link>}>
      <form role='search' class='inline' onSubmit={(event) => { event.preventDefault(); go({ search: typed.trim(), page: 1 }) }}>
        <TextField type='search' label={t('users.search')} value={typed} onValue={setTyped} />
        <button type='submit'>{t('common.search')}</button>
      </form>
      <LoadState loaded={users} />
      {users.data?.items.length === 0 && <p>{t('users.empty')}</p>}
      {users.data !== undefined && users.data.items.length > 0 && (
        <div class='table'>
          <table>
            <thead>
              <tr>
                <th scope='col'>{t('users.username')}</th>
                <th scope='col'>{t('users.email')}</th>
                <th scope='col'>{t('users.role')}</th>
                <th scope='col'>{t('users.groups')}</th>
                <th scope='col'>{t('users.mfa')}</th>
                <th scope='col'>{t('users.created')}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.items.map((user) => (
                <tr key={user.id} data-user={user.username}>
                  <th scope='row'><Link href={`/users/${user.id}`}>{user.username}</Link></th>
                  <td>{user.email ?? '—'}</td>
                  <td>{t(`users.role.${user.role}`)}</td>
                  <td>{user.groups.join(', ') || '—'}</td>
                  <td>{user.mfaEnabled ? t('common.yes') : t('common.no')}</td>
                  <td><Time at={user.createdAt} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {users.data !== undefined && <Pager pagination={users.data.pagination} onPage={(next) => go({ search, page: next })} />}
    </Page>
  )
}

interface UserFields {
  username: string
  email: string
  password: string
  role: User['role']
  groups: string[]
  firstName: string
  lastName: string
  department: string
}

const fieldsOf = (user: User): UserFields => ({
  username: user.username,
  email: user.email ?? '',
  password: '',
  role: user.role,
  groups: user.groups,
  firstName: user.profile.firstName ?? '',
  lastName: user.profile.lastName ?? '',
  department: user.profile.department ?? ''
})

const EMPTY: UserFields = { username: '', email: '', password: '', role: 'user', groups: [], firstName: '', lastName: '', department: '' }

/** The fields of a user, shared by the create and edit pages; the password field is always empty (passwords never come back). */
function UserFieldset ({ fields, onFields, groups, creating, self }: { fields: UserFields, onFields: (fields: UserFields) => void, groups: Group[], creating: boolean, self: boolean }) {
  const { t } = useI18n()
  const set = <K extends keyof UserFields>(key: K) => (value: UserFields[K]) => onFields({ ...fields, [key]: value })
  return (
    <>
      <TextField label={t('users.username')} value={fields.username} onValue={set('username')} required autocomplete='off' pattern='[A-Za-z0-9][A-Za-z0-9._\-]{0,63}' hint={t('users.usernameHint')} spellcheck={false} />
      <TextField type='email' label={t('users.email')} value={fields.email} onValue={set('email')} autocomplete='off' />
      <TextField
        type='password' label={creating ? t('users.password') : t('users.newPassword')} value={fields.password} onValue={set('password')}
        required={creating} minLength={12} maxLength={1024} autocomplete='new-password' hint={creating ? t('users.passwordHint') : t('users.newPasswordHint')}
      />
      <SelectField label={t('users.role')} value={fields.role} onValue={set('role')} disabled={self} options={[['user', t('users.role.user')], ['admin', t('users.role.admin')]]} />
      {groups.length > 0 && <CheckboxGroup legend={t('users.groups')} options={groups.map((group) => [group.name, group.displayName ?? group.name])} value={fields.groups} onValue={set('groups')} />}
      <fieldset class='checks'>
        <legend>{t('users.profile')}</legend>
        <TextField label={t('users.firstName')} value={fields.firstName} onValue={set('firstName')} autocomplete='off' maxLength={100} />
        <TextField label={t('users.lastName')} value={fields.lastName} onValue={set('lastName')} autocomplete='off' maxLength={100} />
        <TextField label={t('users.department')} value={fields.department} onValue={set('department')} autocomplete='off' maxLength={100} />
      </fieldset>
    </>
  )
}

const profileOf = (fields: UserFields) => ({ firstName: fields.firstName.trim(), lastName: fields.lastName.trim(), department: fields.department.trim() })

/** A new user; then their page. */
export function NewUserPage () {
  const { t } = useI18n()
  const groups = useLoad(allGroups, [])
  const [fields, setFields] = useState(EMPTY)
  const action = useAction()
  const submit = (event: Event) => {
    event.preventDefault()
    action.run(async (client) => {
      const user = await client.users.create({
        username: fields.username.trim(),
        password: fields.password,
        role: fields.role,
        groups: fields.groups,
        profile: profileOf(fields),
        ...(fields.email.trim() === '' ? {} : { email: fields.email.trim() })
      })
      navigate(`/users/${user.id}?created=1`)
    })
  }
  return (
    <Page title={t('users.newTitle')}>
      <p><Link href='/users'>{t('users.back')}</Link></p>
      <form onSubmit={submit}>
        <UserFieldset fields={fields} onFields={setFields} groups={groups.data ?? []} creating self={false} />
        <ActionOutcome action={action} />
        <button type='submit' disabled={action.pending}>{action.pending ? t('common.saving') : t('common.create')}</button>
      </form>
    </Page>
  )
}

/** One user: edit, set a new password, reset MFA, delete. */
export function UserPage ({ params }: { params: Record<string, string> }) {
  const { t } = useI18n()
  const { user: me } = useSession()
  const url = useLocation()
  const userId = params.userId!
  const loaded = useLoad((client) => Promise.all([client.users.get(userId), allGroups(client)]), [userId])
  const [fields, setFields] = useState<UserFields | undefined>(undefined)
  const [currentPassword, setCurrentPassword] = useState('')
  const save = useAction()
  const other = useAction()
  const user = loaded.data?.[0]
  const shown = fields ?? (user === undefined ? undefined : fieldsOf(user))
  const self = userId === me.id

  const submit = (event: Event) => {
    event.preventDefault()
    if (shown === undefined) return
    save.run(async (client) => {
      const updated = await client.users.update(userId, {
        username: shown.username.trim(),
        email: shown.email.trim() === '' ? null : shown.email.trim(),
        groups: shown.groups,
        profile: profileOf(shown),
        ...(self ? {} : { role: shown.role }),
        ...(shown.password === '' ? {} : { password: shown.password, ...(self ? { currentPassword } : {}) })
      })
      loaded.setData((current) => current === undefined ? current : [updated, current[1]])
      setFields(fieldsOf(updated))
      setCurrentPassword('')
      return t('common.saved')
    })
  }

  return (
    <Page title={user === undefined ? t('users.user') : t('users.userTitle', { name: user.username })}>
      <p><Link href='/users'>{t('users.back')}</Link></p>
      <LoadState loaded={loaded} />
      {url.searchParams.has('created') && user !== undefined && <p role='status' class='done'>{t('users.createdDone', { name: user.username })}</p>}
      {user !== undefined && shown !== undefined && (
        <>
          <form onSubmit={submit} aria-label={t('users.edit')}>
            <UserFieldset fields={shown} onFields={setFields} groups={loaded.data?.[1] ?? []} creating={false} self={self} />
            {self && shown.password !== '' && (
              <TextField type='password' label={t('users.currentPassword')} value={currentPassword} onValue={setCurrentPassword} required autocomplete='current-password' />
            )}
            <ActionOutcome action={save} />
            <button type='submit' disabled={save.pending}>{save.pending ? t('common.saving') : t('common.save')}</button>
          </form>
          <Section title={t('users.more')}>
            <dl class='facts'>
              <dt>{t('users.mfa')}</dt><dd>{user.mfaEnabled ? t('users.mfaOn') : t('users.mfaOff')}</dd>
              <dt>{t('users.created')}</dt><dd><Time at={user.createdAt} /></dd>
              <dt>{t('users.updated')}</dt><dd><Time at={user.updatedAt} /></dd>
            </dl>
            <div class='row'>
              {user.mfaEnabled && !self && (
                <ConfirmButton
                  label={t('users.resetMfa')} question={t('users.resetMfaQuestion', { name: user.username })} confirm={t('users.resetMfa')} disabled={other.pending}
                  onConfirm={() => other.run(async (client) => {
                    await client.auth.resetMfa(userId)
                    loaded.setData((current) => current === undefined ? current : [{ ...current[0], mfaEnabled: false }, current[1]])
                    return t('users.mfaReset')
                  })}
                />
              )}
              {!self && (
                <ConfirmButton
                  label={t('common.delete')} question={t('common.confirmDelete', { name: user.username })} disabled={other.pending}
                  onConfirm={() => other.run(async (client) => {
                    await client.users.delete(userId)
                    navigate('/users')
                  })}
                />
              )}
            </div>
            <ActionOutcome action={other} />
          </Section>
        </>
      )}
    </Page>
  )
}
