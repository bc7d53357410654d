import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { carriesScrapeToken } from '../../metrics/scrape-token.ts'

export interface PrometheusOptions {
  /** MCPHUB_METRICS_TOKEN: a bearer token that may read `/metrics` without being an admin. */
  token: string | undefined
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const PrometheusText = Type.String({
  $id: 'PrometheusText',
  description: 'The Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` lines, then one sample a line',
  examples: ['# HELP mcphub_tool_calls_total tools/call requests answered, by server and tool\n# TYPE mcphub_tool_calls_total counter\nmcphub_tool_calls_total{server="files"} 42\n']
})

/**
 * `GET /metrics`: the recorder's Prometheus registry in the text exposition format, for admins
 * and for whoever holds the scrape token. Low-cardinality labels only (metrics/catalog.ts).
 */
const prometheus: FastifyPluginAsyncTypebox<PrometheusOptions> = async (app, options) => {
  app.addSchema(PrometheusText)
  const render = async (reply: FastifyReply) => await reply.type(CONTENT_TYPE).send(await app.metrics.registry.metrics())
  app.get('/metrics', {
    config: { access: 'admin', rateLimit: false },
    // A scraper with the token is answered before the admin check.
    onRequest: async (request, reply) => {
      if (carriesScrapeToken(request.headers.authorization, options.token)) await render(reply)
    },
    schema: {
      operationId: 'getPrometheusMetrics',
      tags: ['monitoring'],
      summary: 'Every metric in the Prometheus text format',
      description: 'For admins, or with `Authorization: Bearer <MCPHUB_METRICS_TOKEN>` (a scraper). Only low-cardinality labels (no tool, no user); empty when MCPHUB_METRICS=off.',
      response: {
        200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: Ref(PrometheusText) } } },
        ...errorResponses()
      }
    }
  }, async (_request, reply) => await render(reply))
}

export default prometheus
