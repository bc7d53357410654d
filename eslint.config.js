import neostandard from 'neostandard'

/**
 * Imports run one way: lib ← db ← services (access/, routes/<domain>/service.ts and schemas.ts)
 * ← plugins ← routes / gateway. Each layer names the folders above it that it may not import;
 * supervisor/ sits beside db and knows neither Fastify nor the database.
 */
const layer = (message, ...folders) => ({ regex: `(^|/)(${folders.join('|')})/`, message })
const FASTIFY = { regex: '^(fastify|@fastify/|fastify-plugin)', message: 'Only plugins, routes and the gateway know Fastify.' }
const ROUTE_PLUGIN = { regex: '(^|/)routes/[^/]+/index\\.ts$', message: 'Route plugins are registered by app.ts only.' }
const restrict = (files, ...patterns) => ({
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] }
})

export default [
  ...neostandard({ ts: true, ignores: ['node_modules/**', 'data/**', 'coverage/**', '.tap/**', 'db/migrations/**', 'sdk/js/dist/**', 'sdk/python/**', 'dashboard/dist/**'] }),
  { rules: { 'no-console': 'error' } },
  restrict(['lib/**/*.ts'],
    layer('lib/ is the bottom layer: it imports nothing of the hub above it.', 'access', 'supervisor', 'plugins', 'routes', 'gateway'),
    { ...layer('lib/ may name the database type, nothing more.', 'db'), allowTypeImports: true }),
  restrict(['db/**/*.ts'], layer('db/ imports lib/ only.', 'access', 'supervisor', 'plugins', 'routes', 'gateway')),
  restrict(['supervisor/**/*.ts'], layer('supervisor/ imports lib/ only.', 'db', 'access', 'plugins', 'routes', 'gateway'), FASTIFY),
  restrict(['access/**/*.ts'], layer('access/ decides from lib/ and db/ alone.', 'supervisor', 'plugins', 'routes', 'gateway'), FASTIFY),
  restrict(['routes/*/service.ts', 'routes/*/schemas.ts', 'routes/*/key.ts'], layer('Services sit below plugins, routes and the gateway.', 'plugins', 'gateway'), FASTIFY, ROUTE_PLUGIN),
  restrict(['plugins/**/*.ts'], layer('Plugins sit below the gateway.', 'gateway'), ROUTE_PLUGIN),
  restrict(['gateway/**/*.ts'], ROUTE_PLUGIN)
]
