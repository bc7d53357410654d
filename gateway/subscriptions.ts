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

export interface SubscriptionOptions {
  /** Tells a session that a resource it subscribed to changed. */
  notify: (sessionId: string, uri: string) => void
  /** Whether the session's view, as it stands now, still reaches the resource on that server. */
  allows: (sessionId: string, serverId: string, uri: string) => Promise<boolean>
}

/**
 * Resource subscriptions of the sessions. A server hears one subscription per resource however
 * many sessions hold it, and is unsubscribed when the last one lets go; its updates reach the
 * sessions subscribed to that resource on that server, from the moment the server may send them
 * (before its answer to the subscription has been read). A session whose view no longer reaches
 * the resource (disabled by an admin, or no longer readable) hears nothing more of it and loses
 * the subscription, at the next update or when the server restarts.
 */
export class ResourceSubscriptions {
  readonly #subscriptions = new Map<string, Subscription>()
  readonly #notify: SubscriptionOptions['notify']
  readonly #allows: SubscriptionOptions['allows']

  constructor ({ notify, allows }: SubscriptionOptions) {
    this.#notify = notify
    this.#allows = allows
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
      if (uri === undefined || subscription.uri === uri) await this.#leave(key, subscription, sessionId)
    }
  }

  /** A closed session lets go of everything it held. */
  dropSession (sessionId: string): void {
    this.unsubscribe(sessionId).catch(() => {})
  }

  /** A server that (re)started has forgotten what it was subscribed to: tell it again what sessions may still hear. */
  async renew (server: ManagedServer): Promise<void> {
    // Not running (it stopped, its catalog is empty): nothing to tell, and nothing to judge by.
    if (server.client === undefined) return
    const held = [...this.#subscriptions].filter(([, subscription]) => subscription.server === server)
    await Promise.all(held.map(async ([, subscription]) => {
      await Promise.all([...subscription.sessions].map(async (sessionId) => {
        if (!await this.#allows(sessionId, server.spec.id, subscription.uri)) subscription.sessions.delete(sessionId)
      }))
    }))
    for (const [key, subscription] of held) {
      if (this.#subscriptions.get(key) !== subscription) continue
      // Nobody may hear it any more: the restarted server never knew of it.
      if (subscription.sessions.size === 0) this.#subscriptions.delete(key)
      else server.client?.subscribeResource({ uri: subscription.uri }).catch(() => {})
    }
  }

  async updated (server: ManagedServer, uri: string): Promise<void> {
    const key = `${server.spec.id}\n${uri}`
    const subscription = this.#subscriptions.get(key)
    if (subscription === undefined) return
    await Promise.all([...subscription.sessions].map(async (sessionId) => {
      if (await this.#allows(sessionId, server.spec.id, uri)) this.#notify(sessionId, uri)
      else await this.#leave(key, subscription, sessionId)
    }))
  }

  /** The session lets go of the subscription; the server is unsubscribed when the last one does. */
  async #leave (key: string, subscription: Subscription, sessionId: string): Promise<void> {
    if (!subscription.sessions.delete(sessionId) || subscription.sessions.size > 0 || this.#subscriptions.get(key) !== subscription) return
    this.#subscriptions.delete(key)
    await subscription.server.client?.unsubscribeResource({ uri: subscription.uri }).catch(() => {})
  }
}
