import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EnvSchema } from '../lib/config.ts'
import { ERROR_STATUS } from '../lib/errors.ts'
import { METRIC_NAMES, METRICS } from '../metrics/catalog.ts'

/**
 * Keeps the user documentation honest against the code: docs/api.md describes exactly the
 * operations of the generated OpenAPI document (with their body fields and own query
 * parameters), lists the error catalogue with its statuses, and no relative link is broken.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8')

interface Schema {
  $ref?: string
  properties?: Record<string, Schema>
  enum?: unknown[]
}
interface Operation {
  parameters?: Array<{ name: string, in: string, schema?: Schema }>
  requestBody?: { content?: Record<string, { schema?: Schema }> }
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema> }
}

const document = JSON.parse(read('openapi/openapi.json')) as Document
const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** Every operation of the document, as `METHOD /path`. */
const operations = new Map<string, Operation>()
for (const [path, item] of Object.entries(document.paths)) {
  for (const [method, operation] of Object.entries(item)) {
    if (METHODS.includes(method)) operations.set(`${method.toUpperCase()} ${path}`, operation)
  }
}

/** A schema with its `$ref` (to `#/components/schemas/...`) followed. */
function resolved (schema: Schema | undefined): Schema | undefined {
  const name = schema?.$ref?.split('/').pop()
  return name === undefined ? schema : resolved(document.components?.schemas?.[name])
}

const api = read('docs/api.md')

/** docs/api.md's operation headings (`#### \`GET /api/servers\``), each with the text up to the next heading. */
const headings: string[] = []
const sections = new Map<string, string>()
let current: string | undefined
for (const line of api.split('\n')) {
  if (line.startsWith('#')) {
    current = /^#+ `((?:GET|POST|PUT|PATCH|DELETE) \/\S*)`$/.exec(line)?.[1]
    if (current !== undefined) {
      headings.push(current)
      sections.set(current, '')
    }
  } else if (current !== undefined) {
    sections.set(current, sections.get(current) + line + '\n')
  }
}

t.test('docs/api.md describes every operation of the OpenAPI document', async (t) => {
  for (const operation of operations.keys()) {
    t.ok(sections.has(operation), `${operation} has a section in docs/api.md`)
  }
})

t.test('every operation and API path docs/api.md and docs/mcp.md name exists in the document', async (t) => {
  t.equal(headings.length, sections.size, 'no operation is described twice')
  for (const name of sections.keys()) t.ok(operations.has(name), `${name} (a heading of docs/api.md) is an operation of the document`)
  for (const file of ['docs/api.md', 'docs/mcp.md']) {
    const text = read(file)
    for (const [, method, path] of text.matchAll(/\b(GET|POST|PUT|PATCH|DELETE) (\/api\/[A-Za-z0-9_{}/.-]*|\/healthz|\/readyz)/g)) {
      t.ok(operations.has(`${method} ${path}`), `${file}: ${method} ${path} is an operation of the document`)
    }
    for (const [, path] of text.matchAll(/`(\/api\/[A-Za-z0-9_{}/.-]*)[`?]/g)) {
      t.ok(document.paths[path!] !== undefined, `${file}: ${path} is a path of the document`)
    }
  }
})

/** Query parameters every list shares, described once under "Lists". */
const LIST_PARAMETERS = new Set(['page', 'limit', 'sort', 'order', 'search', 'status', 'filter[status]', 'created_after', 'created_before'])

t.test('each operation\'s section names its body fields, its own query parameters and its sort keys', async (t) => {
  for (const [name, operation] of operations) {
    const section = sections.get(name)
    if (section === undefined) continue
    const body = resolved(operation.requestBody?.content?.['application/json']?.schema)
    for (const field of Object.keys(body?.properties ?? {})) {
      t.ok(section.includes(`\`${field}\``), `${name}: body field \`${field}\` is described`)
    }
    for (const parameter of operation.parameters ?? []) {
      if (parameter.in !== 'query') continue
      if (!LIST_PARAMETERS.has(parameter.name)) t.ok(section.includes(`\`${parameter.name}\``), `${name}: query parameter \`${parameter.name}\` is described`)
      if (parameter.name === 'sort') {
        for (const key of resolved(parameter.schema)?.enum ?? []) t.ok(section.includes(`\`${String(key)}\``), `${name}: sort key \`${String(key)}\` is described`)
      }
    }
  }
})

t.test('docs/api.md lists the error catalogue of lib/errors.ts, each code with its status', async (t) => {
  const rows = new Map([...api.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map(([, code, status]) => [code!, Number(status)]))
  t.same(rows, new Map(Object.entries(ERROR_STATUS)), 'the error table has exactly the catalogue\'s codes and statuses')
})

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')

t.test('relative links in README.md and docs/*.md point at files (and headings) inside the repository', async (t) => {
  const files = ['README.md', ...readdirSync(resolve(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]
  t.ok(files.length >= 4, 'README.md and the docs are found')
  for (const file of files) {
    const text = read(file)
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z+.-]*:/i.test(target!)) continue
      const [path = '', anchor] = target!.split('#')
      const absolute = path === '' ? resolve(ROOT, file) : resolve(ROOT, dirname(file), path)
      const where = `${file}: (${target})`
      if (relative(ROOT, absolute).startsWith('..')) {
        t.fail(`${where} points outside the repository`)
        continue
      }
      if (!existsSync(absolute)) {
        t.fail(`${where} points at a file that does not exist`)
        continue
      }
      t.pass(`${where} exists`)
      if (anchor !== undefined && absolute.endsWith('.md')) {
        const anchors = readFileSync(absolute, 'utf8').split('\n').filter((line) => /^#+ /.test(line)).map((line) => anchorOf(line.replace(/^#+ /, '')))
        t.ok(anchors.includes(anchor), `${where}: the heading #${anchor} exists`)
      }
    }
  }
})

t.test('the README\'s configuration table names every environment variable the hub reads', async (t) => {
  const readme = read('README.md')
  const missing = Object.keys(EnvSchema.properties).filter((name) => !readme.includes(`\`${name}\``))
  t.same(missing, [], 'every variable of lib/config.ts is documented')
})

t.test('the README documents every metric of the catalog, with its Prometheus name', async (t) => {
  const readme = read('README.md')
  const missing = METRIC_NAMES.filter((name) => !readme.includes(`| \`${name}\` |`) || !readme.includes(`\`${METRICS[name].prometheus.name}\``))
  t.same(missing, [], 'every metric has its row')
})
