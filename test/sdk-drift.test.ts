import { readFileSync } from 'node:fs'
import t from 'tap'
import { DOCUMENT_PATH } from '../openapi/generate.ts'
import { generateSdkFiles, staleSdkFiles } from '../sdk/generate/index.ts'

// The SDKs are generated from openapi/openapi.json (itself checked against the routes by
// openapi.test.ts), so a route change reaches them only through `npm run sdk`.

const documentText = readFileSync(DOCUMENT_PATH, 'utf8')
const changed = (change: (document: any) => void): string => {
  const document = JSON.parse(documentText)
  change(document)
  return JSON.stringify(document, null, 2) + '\n'
}

t.test('the committed SDK files are what the document generates', async (t) => {
  const files = generateSdkFiles(documentText)
  t.ok([...files.keys()].some((path) => path.startsWith('sdk/js/')), 'the JavaScript SDK is generated')
  t.ok([...files.keys()].some((path) => path.startsWith('sdk/python/')), 'the Python SDK is generated')
  t.same(staleSdkFiles(files), [], 'run `npm run sdk` and commit the result')
})

t.test('a new field in a schema leaves both SDKs stale until they are regenerated', async (t) => {
  const files = generateSdkFiles(changed((document) => {
    document.components.schemas.Server.properties.region = { type: 'string', description: 'Where it runs' }
  }))
  const stale = staleSdkFiles(files)
  t.ok(stale.some((path) => path.startsWith('sdk/js/')), `JavaScript files stale: ${stale.join(', ')}`)
  t.ok(stale.some((path) => path.startsWith('sdk/python/')), `Python files stale: ${stale.join(', ')}`)
})

t.test('a new query parameter reaches the generated operations', async (t) => {
  const stale = staleSdkFiles(generateSdkFiles(changed((document) => {
    document.paths['/api/servers'].get.parameters.push({ name: 'region', in: 'query', required: false, schema: { type: 'string' } })
  })))
  t.ok(stale.some((path) => path.startsWith('sdk/js/')), 'the JavaScript SDK')
  t.ok(stale.some((path) => path.startsWith('sdk/python/')), 'the Python SDK')
})

t.test('the SDKs carry the API version: a new info.version makes them stale', async (t) => {
  const stale = staleSdkFiles(generateSdkFiles(changed((document) => { document.info.version = '9.9.9' })))
  t.ok(stale.includes('sdk/js/package.json'), 'the npm package version')
  t.ok(stale.includes('sdk/python/pyproject.toml'), 'the Python package version')
})

t.test('an operation without a name in the SDKs stops the generator, naming it', async (t) => {
  const text = changed((document) => {
    document.paths['/api/servers/{serverId}/pause'] = {
      post: { operationId: 'pauseServer', parameters: [{ name: 'serverId', in: 'path', required: true, schema: { type: 'string' } }], responses: { 204: { description: 'Paused' } } }
    }
  })
  t.throws(() => generateSdkFiles(text), /POST \/api\/servers\/\{serverId\}\/pause \(pauseServer\)/)
})

t.test('a name for an operation the document no longer has stops the generator', async (t) => {
  const text = changed((document) => { delete document.paths['/api/servers/{serverId}/restart'] })
  t.throws(() => generateSdkFiles(text), /restartServer/)
})
