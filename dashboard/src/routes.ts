import type { ComponentType } from 'preact'
import type { MessageKey } from './i18n.ts'

/** A page of the dashboard, at a path pattern such as `/servers/:serverId`. */
export interface PageRoute {
  path: string
  page: ComponentType<{ params: Record<string, string> }>
  /** Only admins may open it (the hub refuses the rest anyway: this keeps the page out of their way). */
  adminOnly?: boolean
}

/** A link of the main navigation. */
export interface NavEntry {
  href: string
  label: MessageKey
  adminOnly?: boolean
}

/** What an area of the dashboard (servers/, access/, ops/) adds: its pages and its links. */
export interface Area {
  routes: PageRoute[]
  nav: NavEntry[]
}
