import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import type { ManagedServer } from '../supervisor/managed-server.ts'
import type { ServedServer } from './catalog.ts'

interface Subscription {
  server: ManagedServer
  uri: string
  sessions: Set<string>
  /** The server's answer to the subscription. */
  accepted: Promise<void>
}

/**
 * Resource subscriptions of the sessions. A server hears one subscription per resource however
 * many sessions hold it, and is unsubscribed when the last one lets go; its updates reach the
 * sessions subscribed to that resource on that server, from the moment the server may send them
 * (before its answer to the subscription has been read).
 */
export class ResourceSubscriptions {
  readonly #subscriptions = new Map<string, Subscription>()
  readonly #notify: (sessionId: string, uri: string) => void

  constructor (notify: (sessionId: string, uri: string) => void) {
    this.#notify = notify
  }

  async subscribe (sessionId: string, owner: ServedServer, uri: string): Promise<void> {
    const client = owner.managed.client
    if (client === undefined) throw new ProtocolError(ProtocolErrorCode.InternalError, `Server "${owner.key}" is not running`)
    if (client.getServerCapabilities()?.resources?.subscribe !== true) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, `Server "${owner.key}" does not offer resource subscriptions`)
    const key = `${owner.id}\n${uri}`
    let subscription = this.#subscriptions.get(key)
    if (subscription === undefined) {
      const created: Subscription = { server: owner.managed, uri, sessions: new Set(), accepted: client.subscribeResource({ uri }, { timeout: owner.callTimeoutMs }).then(() => {}) }
      created.accepted.catch(() => { if (this.#subscriptions.get(key) === created) this.#subscriptions.delete(key) })
      this.#subscriptions.set(key, created)
      subscription = created
    }
    subscription.sessions.add(sessionId)
    try {
      await subscription.accepted
    } catch (error) {
      subscription.sessions.delete(sessionId)
      throw error
    }
  }

  async unsubscribe (sessionId: string, uri?: string): Promise<void> {
    for (const [key, subscription] of this.#subscriptions) {
      if ((uri !== undefined && subscription.uri !== uri) || !subscription.sessions.delete(sessionId) || subscription.sessions.size > 0) continue
      this.#subscriptions.delete(key)
      await subscription.server.client?.unsubscribeResource({ uri: subscription.uri }).catch(() => {})
    }
  }

  /** A closed session lets go of everything it held. */
  dropSession (sessionId: string): void {
    this.unsubscribe(sessionId).catch(() => {})
  }

  /** A server that (re)started has forgotten what it was subscribed to: tell it again. */
  renew (server: ManagedServer): void {
    const client = server.client
    if (client === undefined) return
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.server === server) client.subscribeResource({ uri: subscription.uri }).catch(() => {})
    }
  }

  updated (server: ManagedServer, uri: string): void {
    for (const sessionId of this.#subscriptions.get(`${server.spec.id}\n${uri}`)?.sessions ?? []) this.#notify(sessionId, uri)
  }
}
