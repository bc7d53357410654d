import type { Area } from '../routes.ts'
import { ConnectPage } from './connect.tsx'
import { MonitoringPage } from './monitoring.tsx'
import { SettingsPage } from './settings.tsx'

export const ops: Area = {
  routes: [
    { path: '/monitoring', page: MonitoringPage },
    { path: '/settings', page: SettingsPage, adminOnly: true },
    { path: '/connect', page: ConnectPage }
  ],
  nav: [
    { href: '/monitoring', label: 'nav.monitoring' },
    { href: '/settings', label: 'nav.settings', adminOnly: true },
    { href: '/connect', label: 'nav.connect' }
  ]
}
