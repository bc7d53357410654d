import { Events, type ReconnectOptions, type WebSocketConstructor } from './events.js'
import { AuthResource, GroupsResource, HubResource, MonitoringResource, UsersResource, type RESOURCES } from './generated/resources.js'
import { Transport, type TransportOptions } from './http.js'
import { Auth, Config, Servers } from './resources.js'
import { Session, type Credentials } from './session.js'

/** Where the hub is, and how to authenticate to it. */
export type ClientConfig = { baseURL: string } & Credentials

export interface ClientOptions extends Omit<TransportOptions, 'baseURL'> {
  /** ms before the access token expires from which it is refreshed before use (default 60 000). */
  refreshMargin?: number
  /** The WebSocket class for live events; the global one by default (Node 22+, browsers). On Node 20: `import { WebSocket } from 'ws'`. */
  WebSocket?: WebSocketConstructor
  /** Reconnect timings for live events. */
  reconnect?: ReconnectOptions
}

/** Every generated resource, as the client must expose it: a resource new in the API and missing here does not compile. */
type Resources = { [Name in keyof typeof RESOURCES]: InstanceType<(typeof RESOURCES)[Name]> }

/**
 * The MCPHub client:
 *
 * ```ts
 * const client = new MCPHubClient({ baseURL: 'https://hub.example.com', token })
 * const { items, pagination } = await client.servers.list()
 * ```
 */
export class MCPHubClient implements Resources {
  readonly hub: HubResource
  readonly auth: Auth
  readonly users: UsersResource
  readonly groups: GroupsResource
  readonly servers: Servers
  readonly monitoring: MonitoringResource
  readonly config: Config
  readonly events: Events

  constructor (config: ClientConfig, options: ClientOptions = {}) {
    const { baseURL, ...credentials } = config
    if (typeof baseURL !== 'string' || baseURL === '') throw new TypeError('baseURL is required')
    const http = new Transport({ ...options, baseURL })
    const session = new Session(credentials as Credentials, new AuthResource(http), { refreshMargin: options.refreshMargin })
    http.authenticator = session
    this.hub = new HubResource(http)
    this.auth = new Auth(http, session)
    this.users = new UsersResource(http)
    this.groups = new GroupsResource(http)
    this.servers = new Servers(http)
    this.monitoring = new MonitoringResource(http)
    this.config = new Config(http)
    this.events = new Events(http.baseURL, session, { WebSocket: options.WebSocket, reconnect: options.reconnect })
  }
}
