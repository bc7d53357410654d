import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'

/** The dashboard routes in the browser: the hub answers index.html for every page path (plugins/dashboard.ts). */
export function navigate (href: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, '', href)
  else history.pushState(null, '', href)
  dispatchEvent(new PopStateEvent('popstate'))
}

/** The page's path and query, updated on every navigation. */
export function useLocation (): URL {
  const [url, setUrl] = useState(() => new URL(location.href))
  useEffect(() => {
    const moved = () => setUrl(new URL(location.href))
    addEventListener('popstate', moved)
    return () => removeEventListener('popstate', moved)
  }, [])
  return url
}

/** The parameters of `pattern` (`/servers/:serverId`) in `pathname`, or undefined when it does not match. */
export function matchPath (pattern: string, pathname: string): Record<string, string> | undefined {
  const wanted = pattern.split('/')
  const parts = pathname.replace(/\/+$/, '').split('/')
  if (pathname === '/') parts.splice(1, 1, '')
  if (wanted.length !== parts.length) return undefined
  const params: Record<string, string> = {}
  for (const [index, segment] of wanted.entries()) {
    const part = parts[index]!
    if (segment.startsWith(':')) {
      if (part === '') return undefined
      params[segment.slice(1)] = decodeURIComponent(part)
    } else if (segment !== part) return undefined
  }
  return params
}

/** A link that moves within the dashboard without reloading it (a modified click still opens a new tab). */
export function Link ({ href, children, ...rest }: { href: string, children: ComponentChildren, class?: string, 'aria-current'?: 'page' }) {
  const follow = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(href)
  }
  return <a href={href} onClick={follow} {...rest}>{children}</a>
}
