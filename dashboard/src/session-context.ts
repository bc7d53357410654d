import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { MCPHubClient, SessionUser } from '../../sdk/js/src/index.ts'

export interface SignedIn {
  client: MCPHubClient
  user: SessionUser
  isAdmin: boolean
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
