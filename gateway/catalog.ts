import { type Prompt, type Resource, type ResourceTemplateType, type Tool, UriTemplate } from '@modelcontextprotocol/client'
import { eq, inArray } from 'drizzle-orm'
import { serversInScope, type EndpointScope, type Principal } from '../access/index.ts'
import type { Database } from '../db/client.ts'
import { groups, servers } from '../db/schema.ts'
import { effectiveCatalog, settingsByServer, type EffectiveCatalog } from '../routes/servers/service.ts'
import type { ManagedServer } from '../supervisor/managed-server.ts'
import type { Supervisor } from '../supervisor/supervisor.ts'
import { NameTable } from './naming.ts'

/** What an MCP endpoint serves: every server, one group's, or one server. */
export type Scope = EndpointScope

export interface ServedServer {
  id: string
  key: string
  managed: ManagedServer
  callTimeoutMs: number
  /** The running server's catalog after the admins' settings. */
  catalog: EffectiveCatalog
  canListTools: boolean
  canCallTools: boolean
}

/** The listings a view answers, by method. */
interface Listings {
  'tools/list': { tools: Tool[] }
  'prompts/list': { prompts: Prompt[] }
  'resources/list': { resources: Resource[] }
  'resources/templates/list': { resourceTemplates: ResourceTemplateType[] }
}
export type ListingMethod = keyof Listings

const LISTINGS: { [M in ListingMethod]: (view: CatalogView) => Listings[M] } = {
  'tools/list': (view) => ({ tools: view.tools() }),
  'prompts/list': (view) => ({ prompts: view.prompts() }),
  'resources/list': (view) => ({ resources: view.resources() }),
  'resources/templates/list': (view) => ({ resourceTemplates: view.resourceTemplates() })
}

export const isListingMethod = (method: string): method is ListingMethod => Object.hasOwn(LISTINGS, method)

interface Exposed<T> {
  serverId: string
  serverKey: string
  name: string
  item: T
}

/**
 * One caller's view of one endpoint: the running servers in scope they may read, with the
 * names their tools and prompts carry there. Built per request, so permission changes apply
 * at once.
 */
export class CatalogView {
  readonly servers: ServedServer[]
  readonly #aggregate: boolean
  readonly #tools: NameTable<Exposed<Tool>>
  readonly #prompts: NameTable<Exposed<Prompt>>
  /** Per server, the resource URIs admins disabled, percent-decoded. */
  readonly #disabledResources: Map<string, Set<string>>

  constructor (served: ServedServer[], aggregate: boolean) {
    this.servers = served
    this.#aggregate = aggregate
    this.#disabledResources = new Map(served.map((server) => [server.id, new Set(server.catalog.disabledResources.map(decoded))]))
    this.#tools = new NameTable(served.filter((server) => server.canListTools).flatMap((server) =>
      server.catalog.tools.map((tool) => ({ serverId: server.id, serverKey: server.key, name: tool.name, item: tool }))))
    this.#prompts = new NameTable(served.flatMap((server) =>
      server.catalog.prompts.map((prompt) => ({ serverId: server.id, serverKey: server.key, name: prompt.name, item: prompt }))))
  }

  #exposedName (exposed: string, item: { name: string }): string {
    return this.#aggregate ? exposed : item.name
  }

  /** Views are reused while nothing changes, and so are their lists. */
  #toolList: Tool[] | undefined
  #promptList: Prompt[] | undefined
  #resourceList: Resource[] | undefined
  readonly #listingJson = new Map<ListingMethod, Buffer>()

  tools (): Tool[] {
    this.#toolList ??= this.#tools.entries().map(([exposed, entry]) => ({ ...entry.item, name: this.#exposedName(exposed, entry.item) }))
    return this.#toolList
  }

  prompts (): Prompt[] {
    this.#promptList ??= this.#prompts.entries().map(([exposed, entry]) => ({ ...entry.item, name: this.#exposedName(exposed, entry.item) }))
    return this.#promptList
  }

  resources (): Resource[] {
    this.#resourceList ??= uniqueByUri(this.servers.flatMap((server) => server.catalog.resources))
    return this.#resourceList
  }

  /** The result of a listing: the whole list (the hub does not page). */
  listing<M extends ListingMethod> (method: M): Listings[M] {
    return LISTINGS[method](this)
  }

  /** The result of a listing as JSON, in UTF-8: written once per view. */
  listingJson (method: ListingMethod): Buffer {
    let json = this.#listingJson.get(method)
    if (json === undefined) {
      json = Buffer.from(JSON.stringify(this.listing(method)))
      this.#listingJson.set(method, json)
    }
    return json
  }

  #find<T> (table: NameTable<Exposed<T>>, name: string): { server: ServedServer, name: string } | undefined {
    const entry = this.#aggregate ? table.resolve(name) : table.original(this.servers[0]?.id ?? '', name)
    const server = this.servers.find((candidate) => candidate.id === entry?.serverId)
    return entry === undefined || server === undefined ? undefined : { server, name: entry.name }
  }

  findTool (name: string) {
    return this.#find(this.#tools, name)
  }

  findPrompt (name: string) {
    return this.#find(this.#prompts, name)
  }

  resourceTemplates (): ResourceTemplateType[] {
    return this.servers.flatMap((server) => server.catalog.resourceTemplates)
  }

  /**
   * The server a resource URI belongs to: the first in the endpoint's order (by key) that lists
   * it, else the first with a template matching it. A URI admins disabled on a server never
   * goes to that server, by a template either, however it is percent-encoded.
   */
  findResource (uri: string): ServedServer | undefined {
    const key = decoded(uri)
    const candidates = this.servers.filter((server) => this.#disabledResources.get(server.id)?.has(key) !== true)
    return candidates.find((server) => server.catalog.resources.some((resource) => resource.uri === uri)) ??
      candidates.find((server) => server.catalog.resourceTemplates.some((template) => templateMatches(template.uriTemplate, uri)))
  }

  /** The server offering a resource template (for completions of its variables). */
  findResourceTemplate (uriTemplate: string): ServedServer | undefined {
    return this.servers.find((server) => server.catalog.resourceTemplates.some((template) => template.uriTemplate === uriTemplate))
  }
}

/** Resources as listed: a URI that several servers list, once (the first server's). */
function uniqueByUri (resources: Resource[]): Resource[] {
  const seen = new Set<string>()
  return resources.filter((resource) => {
    if (seen.has(resource.uri)) return false
    seen.add(resource.uri)
    return true
  })
}

/**
 * A URI with its percent-encodings decoded, so that `%73ecret` is `secret` (a server may decode
 * what its template matched); a stray `%` elsewhere does not keep the rest encoded.
 */
function decoded (uri: string): string {
  return uri.replace(/(?:%[0-9a-fA-F]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes)
    } catch {
      return escapes
    }
  })
}

const parsedTemplates = new Map<string, UriTemplate | undefined>()

/** Whether a URI fits a server's RFC 6570 template (a template that does not parse fits nothing). */
function templateMatches (uriTemplate: string, uri: string): boolean {
  if (!parsedTemplates.has(uriTemplate)) {
    if (parsedTemplates.size > 10_000) parsedTemplates.clear()
    let parsed: UriTemplate | undefined
    try {
      parsed = new UriTemplate(uriTemplate)
    } catch {}
    parsedTemplates.set(uriTemplate, parsed)
  }
  return parsedTemplates.get(uriTemplate)?.match(uri) != null
}

export async function groupScope (db: Database, name: string): Promise<Scope | undefined> {
  const [group] = await db.select({ id: groups.id }).from(groups).where(eq(groups.name, name))
  return group === undefined ? undefined : { kind: 'group', groupId: group.id }
}

export async function serverScope (db: Database, key: string): Promise<Scope | undefined> {
  const [server] = await db.select({ id: servers.id }).from(servers).where(eq(servers.key, key))
  return server === undefined ? undefined : { kind: 'server', serverId: server.id }
}

/** Resolves `/mcp/{name}`: a group of that name first (as in the original MCPHub), else a server key. */
export async function resolveScopeName (db: Database, name: string): Promise<Scope | undefined> {
  return await groupScope(db, name) ?? await serverScope(db, name)
}

/** The caller's view of a scope; undefined when the caller may not see the scope at all (404). */
export async function catalogFor (db: Database, supervisor: Supervisor, principal: Principal, scope: Scope): Promise<CatalogView | undefined> {
  const reachable = await serversInScope(db, principal, scope)
  if (reachable === undefined) return undefined
  const reach = new Map(reachable.map((server) => [server.id, server]))
  const rows = reach.size === 0
    ? []
    : await db.select({ id: servers.id, key: servers.key, callTimeoutMs: servers.callTimeoutMs }).from(servers).where(inArray(servers.id, [...reach.keys()])).orderBy(servers.key)
  const settings = await settingsByServer(db, rows.map((row) => row.id))
  const served: ServedServer[] = []
  for (const row of rows) {
    const managed = supervisor.get(row.id)
    if (managed === undefined) continue
    const { canListTools, canCallTools } = reach.get(row.id)!
    served.push({ id: row.id, key: row.key, managed, callTimeoutMs: row.callTimeoutMs, catalog: effectiveCatalog(managed.catalog, settings.get(row.id) ?? []), canListTools, canCallTools })
  }
  return new CatalogView(served, scope.kind !== 'server')
}
