import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DASHBOARD_DIST } from '../plugins/dashboard.ts'
import { totpCode, totpStep } from '../lib/totp.ts'
import { signIn } from './helper.ts'
import { accessibilityProblems, openBrowser, screenshot, signInThroughPage } from './helpers/browser.ts'
import { apiAs, startLiveHub } from './helpers/live-hub.ts'

if (!existsSync(join(DASHBOARD_DIST, 'index.html'))) throw new Error('dashboard/dist is not built: run `npm run build:dashboard`')

t.test('in a browser: an admin creates a user and a group, assigns a server; the user sees only that, makes an API key and turns on MFA', async (t) => {
  const hub = await startLiveHub(t, 'pglite')
  const admin = await signIn(hub.app)
  const api = apiAs(hub.app, admin)
  const shared = await api('POST', '/api/servers', { name: 'shared-fixture', ...hub.fixture, enabled: false }) as { id: string }
  await api('POST', '/api/servers', { name: 'private-fixture', ...hub.fixture, enabled: false })
  const alice = { username: 'alice', password: 'alice-has-a-long-password' }

  const browser = await openBrowser(t)
  if (browser === undefined) return
  const { page, pageErrors } = browser
  const nav = page.getByRole('navigation', { name: 'Main' })

  await signInThroughPage(page, hub.baseUrl, hub.admin)
  await nav.getByRole('link', { name: 'Users' }).click()
  await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
  await page.locator(`tr[data-user="${hub.admin.username}"]`).waitFor()
  t.same(await accessibilityProblems(page), [], '/users: no serious accessibility violation')

  // A new user, through the form.
  await page.getByRole('link', { name: 'New user' }).click()
  await page.getByRole('heading', { name: 'New user', level: 1 }).waitFor()
  await page.getByLabel('Username').fill(alice.username)
  await page.getByLabel('Email').fill('alice@example.com')
  await page.getByLabel('Password').fill(alice.password)
  await page.getByLabel('First name').fill('Alice')
  await page.getByLabel('Department').fill('Platform')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('heading', { name: 'User alice', level: 1 }).waitFor()
  await page.getByText('User alice created.').waitFor()
  t.equal(await page.getByLabel('New password').inputValue(), '', 'no password is shown back')
  t.equal(await page.getByLabel('Department').inputValue(), 'Platform')
  t.same(await accessibilityProblems(page), [], 'user form: no serious accessibility violation')
  await page.getByRole('link', { name: 'Back to the users' }).click()
  await page.getByLabel('Search users').fill('ali')
  await page.getByRole('button', { name: 'Search' }).click()
  await page.waitForURL(/\/users\?search=ali$/)
  await page.locator('tr[data-user="alice"]').waitFor()
  t.equal(await page.locator(`tr[data-user="${hub.admin.username}"]`).count(), 0, 'the search leaves out who does not match')
  await screenshot(page, 'users')

  // A group that lets its members read and run servers, and list and call their tools.
  await nav.getByRole('link', { name: 'Groups' }).click()
  await page.getByRole('link', { name: 'New group' }).click()
  await page.getByRole('heading', { name: 'New group', level: 1 }).waitFor()
  await page.getByLabel('Name', { exact: true }).fill('dev-team')
  await page.getByLabel('Display name').fill('Dev team')
  await page.getByLabel('Description').fill('The developers')
  await page.getByRole('group', { name: 'Permissions on servers' }).getByLabel('Execute').check()
  await page.getByRole('group', { name: 'Permissions on tools' }).getByLabel('Call tools').check()
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('heading', { name: 'Group Dev team', level: 1 }).waitFor()
  const group = (await api('GET', '/api/groups/dev-team')) as { id: string, permissions: { servers: string[], tools: string[] } }
  t.same(group.permissions, { servers: ['read', 'execute'], tools: ['read', 'execute'] })

  // The user joins; the server is assigned for reading and running.
  const addMember = page.getByRole('form', { name: 'Add member' })
  await addMember.getByLabel('User', { exact: true }).selectOption({ label: alice.username })
  await addMember.getByRole('button', { name: 'Add member' }).click()
  await page.locator('tr[data-member="alice"]').getByText('Active').waitFor()
  const assign = page.getByRole('form', { name: 'Assign server' })
  await assign.getByLabel('Server').selectOption({ label: 'shared-fixture' })
  await assign.getByLabel('Execute').check()
  await assign.getByRole('button', { name: 'Assign server' }).click()
  await page.locator('tr[data-assignment="shared-fixture"]').waitFor()
  const assignments = (await api('GET', `/api/groups/${group.id}/servers`)) as { items: Array<{ serverId: string, permissions: string[] }> }
  t.same(assignments.items.map((item) => [item.serverId, item.permissions]), [[shared.id, ['read', 'execute']]])
  t.same(await accessibilityProblems(page), [], 'group page: no serious accessibility violation')
  await screenshot(page, 'group')
  await page.setViewportSize({ width: 360, height: 700 })
  t.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= 360, 'at 360 px the group page does not scroll sideways')
  await page.setViewportSize({ width: 1100, height: 700 })

  // A sub-group shows under its parent.
  await api('POST', '/api/groups', { name: 'dev-frontend', displayName: 'Frontend', parentGroup: 'dev-team' })
  await nav.getByRole('link', { name: 'Groups' }).click()
  await page.getByRole('heading', { name: 'Groups', level: 1 }).waitFor()
  await page.locator('li[data-group="dev-team"] li[data-group="dev-frontend"]').waitFor()
  t.same(await accessibilityProblems(page), [], '/groups: no serious accessibility violation')
  await screenshot(page, 'groups')

  // The user, in a browser of their own: the limited view.
  const second = await browser.newPage()
  const user = second.page
  const userNav = user.getByRole('navigation', { name: 'Main' })
  await signInThroughPage(user, hub.baseUrl, alice)
  await user.locator('tr[data-server="shared-fixture"]').waitFor()
  t.equal(await user.locator('tr[data-server="private-fixture"]').count(), 0, 'a server of no group of theirs is not listed')
  t.same(await userNav.getByRole('link').allTextContents(), ['Servers', 'Monitoring', 'Connect a client', 'Groups', 'My account'], 'no Users or Settings link for a user')
  await userNav.getByRole('link', { name: 'Groups' }).click()
  await user.getByRole('link', { name: 'Dev team' }).waitFor()
  t.equal(await user.getByRole('link', { name: 'Frontend' }).count(), 0, 'only the groups they are in')
  await user.getByRole('link', { name: 'Dev team' }).click()
  await user.getByRole('heading', { name: 'Group Dev team', level: 1 }).waitFor()
  await user.locator('tr[data-assignment="shared-fixture"]').waitFor()
  t.equal(await user.getByRole('button', { name: /Delete|Assign server|Add member/ }).count(), 0, 'no buttons a member cannot use')

  // An API key, shown once, that works.
  await userNav.getByRole('link', { name: 'My account' }).click()
  await user.getByRole('heading', { name: 'My account', level: 1 }).waitFor()
  await user.getByText('You have no API keys.').waitFor()
  const aliceRecord = (await api('GET', '/api/users?search=alice') as { items: Array<{ id: string, username: string }> }).items.find((one) => one.username === 'alice')
  t.equal(await user.locator('code[data-user-id]').textContent(), aliceRecord?.id, 'the user\'s id, for a group admin to add them by')
  await user.getByLabel('Name').fill('ci')
  await user.getByRole('button', { name: 'Create API key' }).click()
  const shownKey = user.locator('code[data-secret="api-key"]')
  await shownKey.waitFor()
  const key = (await shownKey.textContent())!
  await user.getByText('it will not be shown again').waitFor()
  await user.locator('tr[data-key="ci"]').waitFor()
  const verify = await hub.app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key } })
  t.equal(verify.statusCode, 200, 'the key shown works')
  t.equal(verify.json().data.user.username, 'alice')

  // MFA: a QR code and the secret, confirmed with a code from them.
  await user.getByRole('button', { name: 'Set up MFA' }).click()
  const qr = user.getByRole('img', { name: 'QR code for your authenticator app' })
  await qr.waitFor()
  t.match(await qr.getAttribute('src'), /^data:image\/svg\+xml;base64,/, 'the QR code is a data: image')
  const secret = (await user.locator('code[data-secret="mfa"]').textContent())!
  t.same(await accessibilityProblems(user), [], '/account: no serious accessibility violation')
  await screenshot(user, 'account')
  await user.getByLabel('Code').fill(totpCode(secret, totpStep(Date.now())))
  await user.getByRole('button', { name: 'Turn on MFA' }).click()
  await user.getByText('MFA is now on.').waitFor()
  await user.locator('[data-mfa="on"]').waitFor()
  const stored = (await api('GET', '/api/users?search=alice')) as { items: Array<{ mfaEnabled: boolean }> }
  t.equal(stored.items[0]?.mfaEnabled, true, 'the hub has MFA on for the user')

  await user.reload()
  await user.getByRole('heading', { name: 'My account', level: 1 }).waitFor()
  await user.locator('tr[data-key="ci"]').waitFor()
  await user.locator('[data-mfa="on"]').waitFor()
  t.equal(await user.locator('code[data-secret="api-key"]').count(), 0, 'after a reload the key is not shown again')
  t.notMatch(await user.content(), key, 'nor anywhere in the page')

  // In Chinese, the whole page speaks Chinese.
  await user.getByRole('button', { name: '中文' }).click()
  await user.getByRole('heading', { name: '我的账户', level: 1 }).waitFor()
  await user.getByRole('heading', { name: 'API 密钥' }).waitFor()
  await user.getByText('多因素验证已开启', { exact: false }).waitFor()
  await user.getByRole('button', { name: 'English' }).click()

  // The user revokes the key: it stops working.
  await user.getByRole('button', { name: 'Revoke' }).click()
  await user.getByRole('group', { name: 'Revoke ci?' }).getByRole('button', { name: 'Revoke' }).click()
  await user.getByText('ci revoked.').waitFor()
  await user.locator('tr[data-key="ci"]').waitFor({ state: 'detached' })
  t.equal((await hub.app.inject({ method: 'GET', url: '/api/auth/verify', headers: { 'x-api-key': key } })).statusCode, 401, 'a revoked key is refused')

  // The admin makes the user a group admin, then resets their MFA (a lost phone).
  await nav.getByRole('link', { name: 'Groups' }).click()
  await page.getByRole('link', { name: 'Dev team' }).click()
  await page.getByLabel('Role of alice').selectOption('admin')
  await page.getByText('Saved.').waitFor()
  const members = (await api('GET', `/api/groups/${group.id}/members`)) as { items: Array<{ username: string, role: string }> }
  t.same(members.items.map((member) => [member.username, member.role]), [['alice', 'admin']])
  await nav.getByRole('link', { name: 'Users' }).click()
  await page.getByRole('link', { name: 'alice' }).click()
  await page.getByRole('heading', { name: 'User alice', level: 1 }).waitFor()
  await page.getByRole('button', { name: 'Reset MFA' }).click()
  await page.getByRole('group', { name: /Turn off MFA for alice/ }).getByRole('button', { name: 'Reset MFA' }).click()
  await page.getByText('MFA was reset.').waitFor()
  const reset = (await api('GET', '/api/users?search=alice')) as { items: Array<{ mfaEnabled: boolean }> }
  t.equal(reset.items[0]?.mfaEnabled, false, 'MFA is off after the reset')

  t.same(pageErrors, [], 'admin page: no script errors or CSP violations')
  t.same(second.pageErrors, [], 'user page: no script errors or CSP violations')
})
