import { existsSync } from 'node:fs'
import { join } from 'node:path'
import helmet from '@fastify/helmet'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'

export interface DashboardOptions {
  /** The built dashboard (`npm run build:dashboard`): index.html and assets/. */
  root: string
}

/** dashboard/dist of this checkout. */
export const DASHBOARD_DIST = new URL('../dashboard/dist', import.meta.url).pathname

/** Paths that belong to the API and the protocols: never answered with the dashboard, even when unknown. */
const NOT_DASHBOARD = /^\/(api|mcp|ws|sse|messages|docs|metrics|healthz|readyz)([/?]|$)/

/** What Vite writes in assets/: flat file names (`index-<hash>.js`), never a dot file or a path. */
const ASSET_NAME = /^[\w-]+(\.[\w-]+)+$/

/** Vite names every built asset after its content: a new build is a new URL. */
const ASSET_CACHE = 'public, max-age=31536000, immutable'

const NOT_BUILT = 'The dashboard is not built: run `npm run build:dashboard` (or `npm install`), then restart the hub.\n'

/** The dashboard's pages load only what the hub itself serves, and no other site may frame them. */
const CONTENT_SECURITY_POLICY = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"]
  }
}

/**
 * The web dashboard at `/`: its hashed assets cached for good, index.html revalidated on every
 * load, and index.html for every other GET path (the page routes in the browser) except the
 * API's and the protocols', which keep their own 404. Security headers (a strict CSP) go on the
 * dashboard's answers only. Without a build, `/` says how to make one.
 */
const dashboard: FastifyPluginAsync<DashboardOptions> = async (app, { root }) => {
  const built = existsSync(join(root, 'index.html'))
  if (!built) app.log.warn({ root }, 'the dashboard is not built: run `npm run build:dashboard`; / answers 503 until then')
  else await app.register(fastifyStatic, { root, serve: false })
  await app.register(helmet, { global: false, contentSecurityPolicy: CONTENT_SECURITY_POLICY })

  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    if (NOT_DASHBOARD.test(request.url)) return reply.callNotFound()
    if (!built) return reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT)
    await reply.helmet()
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false })
  }
  // Loading the page spends no one's request budget (the sign-in attempts of an address behind it);
  // unknown API paths still do, in the 404 handler.
  const config = { access: 'public' as const, rateLimit: false as const }
  app.get('/', { config, schema: { hide: true } }, page)
  app.get('/*', { config, schema: { hide: true } }, page)
  app.get('/assets/*', { config, schema: { hide: true } }, async (request, reply) => {
    const file = (request.params as { '*': string })['*']
    if (!built || !ASSET_NAME.test(file)) return reply.callNotFound()
    await reply.helmet()
    return reply.header('cache-control', ASSET_CACHE).sendFile(file, join(root, 'assets'), { cacheControl: false })
  })
}

export default dashboard
