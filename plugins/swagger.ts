import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { OPTIONAL_BODY, SHARED_SCHEMAS } from '../lib/schemas.ts'
import packageJson from '../package.json' with { type: 'json' }

export const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /api/auth/login' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A user\'s long-lived API key' }
} as const

export default fp(async (app) => {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  // Fastify validates a missing body as null, which an optional body schema refuses (422):
  // routes marked OPTIONAL_BODY see `{}` instead.
  app.addHook('onRoute', (route) => {
    if ((route.schema as Record<string, unknown> | undefined)?.[OPTIONAL_BODY] !== true) return
    const defaultBody = async (request: { body: unknown }) => { request.body ??= {} }
    route.preValidation = [defaultBody, ...[route.preValidation ?? []].flat()]
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MCPHub API',
        version: packageJson.version,
        description: 'Manage MCP servers, users, groups and permissions. Every response uses the `{ success, data | error, timestamp }` envelope.',
        license: { name: packageJson.license, identifier: packageJson.license }
      },
      // Relative: the document is served by the hub it describes, wherever that is.
      servers: [{ url: '/', description: 'This hub' }],
      components: { securitySchemes: SECURITY_SCHEMES },
      tags: [
        { name: 'auth', description: 'Sign-in, tokens, MFA and API keys' },
        { name: 'users', description: 'User accounts (admins manage; users see themselves)' },
        { name: 'servers', description: 'MCP servers: configuration, live status, start/stop, logs, import/export' },
        { name: 'groups', description: 'Groups, members, server assignments and the permissions they grant' },
        { name: 'monitoring', description: 'Status, metrics, the activity trail, the hub\'s log and alerts' },
        { name: 'config', description: 'Hub settings: SMTP, notification channels, alert rules' },
        { name: 'operations', description: 'Health and readiness probes' }
      ]
    },
    // Routes marked OPTIONAL_BODY take no body as well as one.
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject
      const { openapiObject } = document
      for (const operations of Object.values(openapiObject.paths ?? {})) {
        for (const operation of Object.values(operations ?? {}) as Array<Record<string, unknown> & { requestBody?: { required?: boolean } }>) {
          if (operation[OPTIONAL_BODY] !== true) continue
          delete operation[OPTIONAL_BODY]
          if (operation.requestBody !== undefined) operation.requestBody.required = false
        }
      }
      return openapiObject
    },
    // Schemas registered with an `$id` (lib/schemas.ts, routes/*/schemas.ts) become components
    // under that name, so that generated clients get `Server`, `CreateServer`, `ServerPage`...
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })
  app.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () => app.swagger())
}, { name: 'swagger', dependencies: ['access'] })
