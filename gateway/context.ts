import type { FastifyReply, FastifyRequest } from 'fastify'
import type { JSONRPCRequest, McpHttpHandler, Server } from '@modelcontextprotocol/server'
import type { Principal } from '../access/index.ts'
import type { CatalogView, Scope } from './catalog.ts'
import type { RequestScope } from './mcp-server.ts'
import type { PassThroughSession } from './pass-through.ts'
import type { Session, SessionStore } from './sessions.ts'

/** What the MCP routes share, built once by the gateway plugin (index.ts). */
export interface Gateway {
  sessions: SessionStore
  /** A new MCP server object, for one session or one stateless request. */
  newServer: () => Server
  /** Serves a call or a listing on a session past the SDK (pass-through.ts); undefined when the request is for the SDK path. */
  passThrough: (session: PassThroughSession, scope: RequestScope, request: JSONRPCRequest, reply: FastifyReply) => Promise<void> | undefined
  /** The SDK's handler of stateless requests. */
  stateless: McpHttpHandler
  /** The caller's view of a scope at this moment; undefined when they may not see it (404). */
  viewOf: (principal: Principal, scope: Scope) => Promise<CatalogView | undefined>
  /** Whether a principal, as it stands, may still use an endpoint of the scope. */
  mayUse: (scope: Scope) => (principal: Principal) => Promise<boolean>
  /** Adds a session opened on a scope and watches it: it ends when its caller's credential goes away or they may no longer use the endpoint. */
  openSession: (session: Session, principal: Principal, scope: Scope, expires: boolean) => void
  /** The scope an open session was opened on. */
  scopeOfSession: (id: string) => Scope | undefined
}

/** The scope an endpoint's request names; undefined when it names none (404). */
export type ScopeOf = (request: FastifyRequest) => Promise<Scope | undefined>
