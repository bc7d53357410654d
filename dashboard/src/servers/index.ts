import type { Area } from '../routes.ts'
import { ServersPage } from './list.tsx'

export const servers: Area = {
  routes: [{ path: '/servers', page: ServersPage }],
  nav: [{ href: '/servers', label: 'nav.servers' }]
}
