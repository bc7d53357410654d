import fp from 'fastify-plugin'
import { EgressGuard } from '../lib/egress.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one way out: every outbound connection (SMTP, Slack, webhooks, remote servers) is checked and pinned here. */
    egress: EgressGuard
  }
}

export default fp<{ allow: string[] }>(async (app, { allow }) => {
  app.decorate('egress', new EgressGuard(allow))
}, { name: 'egress' })
