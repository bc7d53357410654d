import { readFileSync } from 'node:fs'
import t from 'tap'
import { DOCUMENT_PATH, generateDocument } from '../openapi/generate.ts'
import { build } from './helper.ts'

/** Routes that answer without credentials. Everything else must declare a security requirement. */
const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /openapi.json',
  'POST /api/auth/login',
  'POST /api/auth/refresh'
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
