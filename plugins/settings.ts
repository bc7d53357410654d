import fp from 'fastify-plugin'
import type { SettingsPreset } from '../lib/config.ts'
import { SettingsStore } from '../settings/store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The hub's settings (SMTP, notification channels, alert rules), as `/api/config` edits them. */
    settings: SettingsStore
  }
}

export interface SettingsOptions {
  /** What the environment presets (MCPHUB_SMTP_*, …) for the sections no admin has stored. */
  preset?: SettingsPreset | undefined
}

export default fp<SettingsOptions>(async (app, { preset }) => {
  app.decorate('settings', new SettingsStore({ db: app.db, secrets: app.auth.secrets, preset, log: app.log }))
}, { name: 'settings', dependencies: ['db', 'auth'] })
