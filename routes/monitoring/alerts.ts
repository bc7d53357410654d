import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from 'typebox'
import { deliveriesOf, getAlert, listAlerts } from '../../alerts/store.ts'
import { readableServerIds } from '../../access/index.ts'
import type { AlertRow } from '../../db/schema.ts'
import { ok } from '../../lib/envelope.ts'
import { notFound } from '../../lib/errors.ts'
import { errorResponses, Ref } from '../../lib/schemas.ts'
import { principalOf } from '../../plugins/access.ts'
import type { RuleName } from '../../alerts/rules.ts'
import * as schemas from './alert-schemas.ts'

function toDto (row: AlertRow): Static<typeof schemas.Alert> {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    rule: row.rule as RuleName,
    severity: row.severity,
    state: row.state,
    serverId: row.serverId,
    message: row.summary,
    details: row.details,
    firedAt: row.firedAt.toISOString(),
    resolvedAt: row.resolvedAt?.toISOString() ?? null,
    notifiedAt: row.notifiedAt?.toISOString() ?? null
  }
}

type Delivery = Awaited<ReturnType<typeof deliveriesOf>>[number]

function deliveryDto (row: Delivery): Static<typeof schemas.AlertDelivery> {
  return {
    id: row.id,
    channel: row.channel,
    kind: row.kind,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    lastError: row.lastError,
    attempts: row.attemptLog.map((attempt) => ({ attempt: attempt.attempt, at: attempt.at.toISOString(), outcome: attempt.outcome, error: attempt.error, durationMs: attempt.durationMs }))
  }
}

/** Alerts: admins see all; users those about servers they may read (hub-wide ones are admins' only). */
const alerts: FastifyPluginAsyncTypebox = async (app) => {
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)

  app.get('/alerts', {
    config: { access: 'user' },
    schema: {
      operationId: 'listAlerts',
      tags: ['monitoring'],
      summary: 'Alerts, newest first',
      description: 'Admins see every alert; users the alerts about servers they may read (hub-wide alerts, such as failed sign-ins, are for admins only).',
      querystring: schemas.AlertQuery,
      response: { 200: Ref(schemas.AlertPage, 'A page of alerts'), ...errorResponses(422) }
    }
  }, async (request) => {
    const readable = await readableServerIds(app.db, principalOf(request))
    const page = await listAlerts(app.db, request.query, readable)
    return ok({ items: page.items.map(toDto), pagination: page.pagination })
  })

  app.get('/alerts/:alertId', {
    config: { access: 'user' },
    schema: {
      operationId: 'getAlert',
      tags: ['monitoring'],
      summary: 'An alert and its deliveries: each notification and its attempts',
      params: schemas.AlertParams,
      response: { 200: Ref(schemas.AlertDetailEnvelope, 'The alert'), ...errorResponses(404, 422) }
    }
  }, async (request) => {
    const alert = await getAlert(app.db, request.params.alertId)
    const readable = await readableServerIds(app.db, principalOf(request))
    if (alert === undefined || (readable !== undefined && (alert.serverId === null || !readable.includes(alert.serverId)))) throw notFound('Alert')
    return ok({ ...toDto(alert), deliveries: (await deliveriesOf(app.db, alert.id)).map(deliveryDto) })
  })
}

export default alerts
