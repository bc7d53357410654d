import type { Area } from '../routes.ts'
import { EditServerPage, NewServerPage } from './form.tsx'
import { ServersPage } from './list.tsx'
import { ServerPage } from './page.tsx'

export const servers: Area = {
  // `/servers/new` before `/servers/:serverId`: the first route that matches wins.
  routes: [
    { path: '/servers', page: ServersPage },
    { path: '/servers/new', page: NewServerPage, adminOnly: true },
    { path: '/servers/:serverId', page: ServerPage },
    { path: '/servers/:serverId/edit', page: EditServerPage, adminOnly: true }
  ],
  nav: [{ href: '/servers', label: 'nav.servers' }]
}
