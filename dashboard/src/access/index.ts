import type { Area } from '../routes.ts'
import { AccountPage } from './account.tsx'
import { GroupPage } from './group.tsx'
import { GroupsPage, NewGroupPage } from './groups.tsx'
import { NewUserPage, UserPage, UsersPage } from './users.tsx'

// `/…/new` comes before `/…/:id`: the first route that matches a path wins.
export const access: Area = {
  routes: [
    { path: '/users', page: UsersPage, adminOnly: true },
    { path: '/users/new', page: NewUserPage, adminOnly: true },
    { path: '/users/:userId', page: UserPage, adminOnly: true },
    { path: '/groups', page: GroupsPage },
    { path: '/groups/new', page: NewGroupPage, adminOnly: true },
    { path: '/groups/:groupId', page: GroupPage },
    { path: '/account', page: AccountPage }
  ],
  nav: [
    { href: '/users', label: 'nav.users', adminOnly: true },
    { href: '/groups', label: 'nav.groups' },
    { href: '/account', label: 'nav.account' }
  ]
}
