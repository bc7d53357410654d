import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { SHARED_SCHEMAS } from '../lib/schemas.ts'
import packageJson from '../package.json' with { type: 'json' }

export const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /api/auth/login' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A user\'s long-lived API key' }
} as const

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered on the app, for checking the router against the document. */
    routeTable: RouteSummary[]
  }
}

export interface RouteSummary {
  method: string
  url: string
  /** Hidden from the OpenAPI document (the document itself, the docs UI). */
  hidden: boolean
}

/** Security requirement of a route that needs a signed-in caller (either scheme). */
export const AUTHENTICATED = [{ bearerAuth: [] }, { apiKey: [] }]

/**
 * The OpenAPI 3.1 document, generated from the route schemas. Registered before any route;
 * shared schemas become named components through their `$id`.
 */
export default fp(async (app) => {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  const routeTable: RouteSummary[] = []
  app.decorate('routeTable', routeTable)
  app.addHook('onRoute', (route) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routeTable.push({ method, url: route.url, hidden })
    }
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MCPHub API',
        version: packageJson.version,
        description: 'Manage MCP servers, users, groups and permissions. Every response uses the `{ success, data | error, timestamp }` envelope.'
      },
      components: { securitySchemes: SECURITY_SCHEMES },
      tags: [
        { name: 'operations', description: 'Health and readiness probes' }
      ]
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'swagger' })
