import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { MCPHubClient, SessionUser } from '../../sdk/js/src/index.ts'

export interface SignedIn {
  client: MCPHubClient
  user: SessionUser
  isAdmin: boolean
  /** Whether the user may `action` (read, write, execute) the server, by the permissions of their sign-in; the hub decides again on each call. */
  may: (serverId: string, action: 'read' | 'write' | 'execute') => boolean
  /** The hub no longer accepts the session: back to the sign-in page. */
  ended: () => void
}

export const SessionContext = createContext<SignedIn | undefined>(undefined)

/** The signed-in user's client and identity; pages are rendered only inside a session. */
export function useSession (): SignedIn {
  const session = useContext(SessionContext)
  if (session === undefined) throw new Error('useSession outside a signed-in page')
  return session
}
