import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../lib/envelope.ts'
import { validationFailed } from '../../lib/errors.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { METRICS } from '../../metrics/catalog.ts'
import { queryMetrics } from '../../metrics/query.ts'
import { principalOf } from '../../plugins/access.ts'
import * as schemas from './schemas.ts'

/** `metrics=a,b` (or `metrics=a&metrics=b`) as the list the schema checks; an unknown name is a 422 naming it. */
function splitMetrics (value: unknown): string[] | undefined {
  if (value === undefined) return undefined
  const names = [value].flat().flatMap((item) => String(item).split(','))
  const unknown = names.find((name) => !Object.hasOwn(METRICS, name))
  if (unknown !== undefined) throw validationFailed('metrics', `${JSON.stringify(unknown.slice(0, 100))} is not a metric`)
  return names
}

const metrics: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/metrics', {
    config: { access: 'user' },
    preValidation: async (request) => {
      const query = request.query as Record<string, unknown>
      if (query.metrics !== undefined) query.metrics = splitMetrics(query.metrics)
    },
    schema: {
      operationId: 'getMetrics',
      tags: ['monitoring'],
      summary: 'The stored metrics as time series, one point per bucket: admins all, users the series of their servers',
      description: 'Counters give each bucket\'s total; gauges its mean and max; histograms the count, mean, p50/p95/p99 and max. Series about a server (`scope: server` in the catalog) are readable by whoever may read the server; hub-wide series by admins only.',
      querystring: schemas.MetricsQuery,
      response: { 200: Ref(schemas.MetricSeriesEnvelope, 'The series over the range'), ...errorResponses(403, 422) }
    }
  }, async (request) => {
    const { retention, now } = app.metricHistory
    return ok(await queryMetrics(app.db, app.metrics, principalOf(request), request.query, { now: now(), retention }))
  })
}

export default metrics
