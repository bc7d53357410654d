import { readFileSync } from 'node:fs'
import t from 'tap'
import { DOCUMENT_PATH, generateDocument } from '../openapi/generate.ts'
import packageJson from '../package.json' with { type: 'json' }
import { build } from './helper.ts'
import { startProcess } from './helpers/processes.ts'

/** Routes that answer without credentials. Everything else must declare a security requirement. */
const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /openapi.json',
  'POST /api/auth/login',
  'POST /api/auth/refresh',
  // The browser session authenticates by its refresh cookie and CSRF token.
  'POST /api/auth/session',
  'POST /api/auth/session/refresh',
  'DELETE /api/auth/session'
])

interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  security?: Array<Record<string, string[]>>
  responses?: Record<string, { content?: Record<string, { schema?: { examples?: unknown[], $ref?: string } }> }>
}

type Document = { paths: Record<string, Record<string, Operation>>, components: { schemas: Record<string, { examples?: unknown[] }> } }

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

t.test('the committed openapi/openapi.json is what the code generates', async (t) => {
  const committed = readFileSync(DOCUMENT_PATH, 'utf8')
  t.equal(await generateDocument(), committed, 'run `npm run openapi` and commit the result')
})

t.test('the router and the document agree, and every operation is complete', async (t) => {
  const app = await build(t, 'pglite')
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const document = res.json() as Document
  t.equal((document as unknown as { openapi: string }).openapi, '3.1.0')

  const routes = app.routeTable.filter((route) => !route.hidden && !route.url.startsWith('/docs'))
  t.ok(routes.length >= 2, 'the route table is populated')
  const operationIds = new Set<string>()
  for (const route of routes) {
    const name = `${route.method} ${route.url}`
    const operation = document.paths[toOpenApiPath(route.url)]?.[route.method.toLowerCase()]
    if (!operation) {
      t.fail(`${name} is missing from the document`)
      continue
    }
    t.match(operation.operationId, /^[a-z][A-Za-z]+$/, `${name} has a camelCase operationId`)
    t.notOk(operationIds.has(operation.operationId ?? ''), `${name}: operationId is unique`)
    operationIds.add(operation.operationId ?? '')
    t.ok(operation.summary, `${name} has a summary`)
    t.ok(operation.tags?.length, `${name} has a tag`)
    const statuses = Object.keys(operation.responses ?? {})
    t.ok(statuses.some((status) => status.startsWith('2')), `${name} documents its success`)
    t.ok(statuses.some((status) => /^[45]/.test(status)), `${name} documents its errors`)
    const examples = Object.values(operation.responses ?? {}).some((response) => {
      const schema = response.content?.['application/json']?.schema
      if (schema?.examples?.length) return true
      const ref = schema?.$ref?.split('/').pop()
      return ref !== undefined && (document.components.schemas[ref]?.examples?.length ?? 0) > 0
    })
    t.ok(examples, `${name} has examples`)
    if (PUBLIC_ROUTES.has(name)) {
      t.equal(route.access, 'public', `${name} is public`)
      t.same(operation.security, [], `${name} is documented as public`)
    } else {
      t.ok(route.access !== undefined && route.access !== 'public', `${name} requires a signed-in caller`)
      t.ok(operation.security?.length, `${name} declares an authentication requirement`)
      t.ok(operation.responses?.['401'], `${name} documents its 401`)
    }
  }
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const method of Object.keys(methods)) {
      const known = routes.some((route) => toOpenApiPath(route.url) === path && route.method.toLowerCase() === method)
      t.ok(known, `documented ${method.toUpperCase()} ${path} is a real route`)
    }
  }
  t.ok([...PUBLIC_ROUTES].every((name) => name === 'GET /openapi.json' || routes.some((route) => `${route.method} ${route.url}` === name)), 'the public list names only real routes')
  const stop = document.paths['/api/servers/{serverId}/stop']?.post as { requestBody?: { required?: boolean } } & Record<string, unknown>
  t.equal(stop.requestBody?.required, false, 'stopping a server takes no body as well as one')
  t.notOk(JSON.stringify(document).includes('x-optional-body'), 'the marker stays out of the document')
})

t.test('a route without an access rule stops the app from starting', async (t) => {
  await t.rejects(build(t, 'pglite', {
    extend: (app) => {
      app.get('/api/forgotten', async () => 'open to anyone?')
    }
  }), /declares no access rule/)
})

t.test('Swagger UI is served at /docs', async (t) => {
  const app = await build(t, 'pglite')
  const res = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
  t.match(res.body, /swagger/i)
})

interface Schema {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, unknown>
}

interface Described {
  description?: string
  content?: Record<string, { schema?: Schema }>
}

interface FullDocument {
  info: { license?: { name?: string, identifier?: string } }
  servers?: Array<{ url: string }>
  paths: Record<string, Record<string, { operationId: string, requestBody?: Described, responses: Record<string, Described> }>>
  components: { schemas: Record<string, Schema> }
}

const committedDocument = () => JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8')) as FullDocument

function operationsOf (document: FullDocument) {
  return Object.values(document.paths).flatMap((methods) => Object.values(methods))
}

/** The domain objects, bodies and envelopes a generated client names. */
const NAMED = [
  'Server', 'CreateServer', 'UpdateServer', 'StopServer', 'ServerItems', 'UpdateServerItem', 'LogLine', 'McpServers', 'ImportResult',
  'User', 'CreateUser', 'UpdateUser',
  'Group', 'CreateGroup', 'UpdateGroup', 'Member', 'AddMember', 'UpdateMember', 'Assignment', 'AssignServer', 'UpdateAssignment',
  'Login', 'Refresh', 'TokenPair', 'SessionUser', 'Verification', 'MfaStatus', 'MfaEnrolment', 'MfaCode', 'ApiKey', 'CreateApiKey', 'CreatedApiKey',
  'Health', 'Readiness', 'ErrorEnvelope', 'Pagination',
  'ServerEnvelope', 'ServerPage', 'UserEnvelope', 'UserPage', 'GroupEnvelope', 'GroupPage', 'MemberEnvelope', 'MemberPage',
  'AssignmentEnvelope', 'AssignmentPage', 'TokenPairEnvelope', 'ApiKeyListEnvelope', 'CreatedApiKeyEnvelope', 'LogLinesEnvelope',
  'HubConfig', 'UpdateConfig', 'ConfigEnvelope', 'SmtpSettings', 'NotificationSettings', 'AlertRules'
]

t.test('every domain object, body and envelope is a named component, referenced by $ref', async (t) => {
  const document = committedDocument()
  const names = Object.keys(document.components.schemas)
  t.same(NAMED.filter((name) => !names.includes(name)), [], 'each is a component')
  t.same(names.filter((name) => name.startsWith('def-')), [], 'no component has a generated name')

  // No request body and no success response is an inline schema: each is a $ref to a component.
  const inline: string[] = []
  for (const operation of operationsOf(document)) {
    const described = [
      ['body', operation.requestBody] as const,
      ...Object.entries(operation.responses).filter(([status]) => status.startsWith('2')).map(([status, response]) => [status, response] as const)
    ]
    for (const [where, part] of described) {
      for (const [type, media] of Object.entries(part?.content ?? {})) {
        if (media.schema?.$ref === undefined) inline.push(`${operation.operationId} ${where} ${type}`)
      }
    }
  }
  t.same(inline, [], 'no inline body or success schema')

  const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1]!)
  t.same(refs.filter((name) => !names.includes(name)), [], 'every $ref names a component')
})

t.test('every response is described, 429 is declared wherever the rate limits apply, the log stream is NDJSON', async (t) => {
  const document = committedDocument()
  const undescribed: string[] = []
  const without429: string[] = []
  for (const operation of operationsOf(document)) {
    for (const [status, response] of Object.entries(operation.responses)) {
      if (response.description === undefined || response.description === '' || response.description === 'Default Response') undescribed.push(`${operation.operationId} ${status}`)
    }
    if (operation.responses['429'] === undefined) without429.push(operation.operationId)
  }
  t.same(undescribed, [], 'every response has a real description')
  t.same(without429, [], 'every operation can answer 429 (per-caller budget or invalid credentials)')

  const logs = document.paths['/api/servers/{serverId}/logs']?.get?.responses['200']?.content
  t.equal(logs?.['application/x-ndjson']?.schema?.$ref, '#/components/schemas/LogLine', 'follow=true streams LogLine NDJSON')
  t.equal(logs?.['application/json']?.schema?.$ref, '#/components/schemas/LogLinesEnvelope')

  t.same(document.servers, [{ url: '/', description: 'This hub' }], 'the hub that serves the document')
  t.equal(document.info.license?.identifier, packageJson.license, 'the package\'s license')
})

t.test('Redocly lint passes on the committed document, with no error and no warning', async (t) => {
  const cli = new URL('../node_modules/@redocly/cli/bin/cli.js', import.meta.url).pathname
  // Offline and quiet: no telemetry call, no update check.
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }
  const lint = startProcess(t, process.execPath, [cli, 'lint', DOCUMENT_PATH.pathname, '--format', 'stylish'], { env })
  const { code } = await lint.exit
  const output = lint.stdout() + lint.stderr()
  t.equal(code, 0, output)
  t.match(output, /Your API description is valid/)
  t.notMatch(output, /\b(warning|error)s?\b/i, 'no problem reported')
})
