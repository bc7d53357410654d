import { randomBytes } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import type { Database, Queryable } from '../db/client.ts'
import { hubConfig } from '../db/schema.ts'
import type { SettingsPreset } from '../lib/config.ts'
import type { SecretBox } from '../lib/crypto.ts'
import { EpochCache } from '../lib/epoch-cache.ts'
import { conflict, validationFailed } from '../lib/errors.ts'
import { DEFAULT_SETTINGS, MASK, SECRET_PATHS, type Settings } from './schemas.ts'

export type Section = keyof Settings
export const SECTIONS: readonly Section[] = ['smtp', 'notifications', 'alerts']

export interface StoredSettings {
  /** Secrets in clear: for the hub's own use, never for an answer (see `maskSecrets`). */
  settings: Settings
  /** Grows with every change; 0 while no admin has stored anything. The `ETag`. */
  version: number
}

export interface UpdatedSettings extends StoredSettings {
  /** The dotted paths of the fields whose value changed (`smtp.auth.pass`), never the values. */
  changed: string[]
}

export interface UpdateOptions {
  /** The version the caller read (`If-Match`): refused with a 409 when the settings changed since. */
  ifVersion?: number | undefined
  /** The user making the change. */
  by?: string | null | undefined
}

interface Logger {
  warn(object: object, message: string): void
}

export interface SettingsStoreOptions {
  db: Database
  /** Seals the secrets at rest. */
  secrets: SecretBox
  /** What the environment (MCPHUB_SMTP_*, …) presets for the sections no admin has stored. */
  preset?: SettingsPreset | undefined
  log?: Logger
  /** How long a read is reused (other hubs sharing the database may change the settings). */
  cacheMs?: number
  now?: () => number
}

type Json = Record<string, unknown>
type SecretPath = typeof SECRET_PATHS[number]

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

/** `base` with `over`'s fields laid on it, objects merged field by field, anything else replaced. */
function merged<T> (base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? structuredClone(base) : structuredClone(over)) as T
  const result: Json = structuredClone(base)
  for (const [key, value] of Object.entries(over)) result[key] = merged(result[key], value)
  return result as T
}

function valueAt (root: unknown, path: readonly string[]): unknown {
  let current = root
  for (const key of path) current = isObject(current) ? current[key] : undefined
  return current
}

function setValueAt (root: Json, path: readonly string[], value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1))
  if (isObject(parent)) parent[path.at(-1)!] = value
}

/** The secret paths inside one section, relative to it. */
const secretsOf = (section: Section) => SECRET_PATHS.filter((path: SecretPath) => path[0] === section).map((path) => path.slice(1))

/** The dotted paths under `prefix` where `before` and `after` differ; arrays are one field. */
function changedPaths (before: unknown, after: unknown, prefix: string): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)])
    return [...keys].flatMap((key) => changedPaths(before[key], after[key], `${prefix}.${key}`))
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix]
}

/** The settings as answers show them: each secret `MASK` when set, null when not. */
export function maskSecrets (settings: Settings): Settings {
  const masked = structuredClone(settings) as unknown as Json
  for (const path of SECRET_PATHS) {
    if (valueAt(masked, path) !== null) setValueAt(masked, path, MASK)
  }
  return masked as unknown as Settings
}

/** A Standard Webhooks signing secret: `whsec_` and base64 of 24 random bytes. */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

function isUrl (text: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol)
  } catch {
    return false
  }
}

/** What the schema cannot say: rules across fields, and the shape of new secrets. */
function checkRules (next: Settings, given: readonly Section[], sent: Partial<Settings>): void {
  const { smtp, notifications } = next
  const touches = (...sections: Section[]) => sections.some((section) => given.includes(section))
  if (touches('smtp', 'notifications') && notifications.email) {
    if (smtp.host === null) throw validationFailed('smtp.host', 'is required while email notifications are on (notifications.email)')
    if (notifications.emailTo.length === 0) throw validationFailed('notifications.emailTo', 'needs at least one address while email notifications are on')
  }
  if (!given.includes('notifications')) return
  if (notifications.slack && notifications.slackWebhookUrl === null) {
    throw validationFailed('notifications.slackWebhookUrl', 'is required while Slack notifications are on (notifications.slack)')
  }
  const sentSlackUrl = sent.notifications?.slackWebhookUrl
  if (typeof sentSlackUrl === 'string' && sentSlackUrl !== MASK && !isUrl(sentSlackUrl, ['https:'])) {
    throw validationFailed('notifications.slackWebhookUrl', 'must be an https URL')
  }
  if (notifications.webhook !== null && !isUrl(notifications.webhook, ['http:', 'https:'])) {
    throw validationFailed('notifications.webhook', 'must be an http or https URL')
  }
  const sentSecret = sent.notifications?.webhookSecret
  if (typeof sentSecret === 'string' && sentSecret !== MASK && !isWebhookSecret(sentSecret)) {
    throw validationFailed('notifications.webhookSecret', 'must be `whsec_` followed by base64 of 24 to 64 bytes (Standard Webhooks)')
  }
}

function isWebhookSecret (secret: string): boolean {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : undefined
  if (encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return false
  const bytes = Buffer.from(encoded, 'base64').length
  return bytes >= 24 && bytes <= 64
}

/**
 * The hub's settings (`/api/config`): SMTP, notification channels, alert rules. The one row of
 * `hub_config` holds the sections an admin stored, secrets sealed; a section never stored is
 * the defaults with the environment's preset laid on them. Reads are cached briefly (other hubs
 * may share the database) and afresh after this store's own updates.
 */
export class SettingsStore {
  readonly #db: Database
  readonly #secrets: SecretBox
  readonly #preset: SettingsPreset
  readonly #log: Logger | undefined
  readonly #cache: EpochCache<StoredSettings>
  /** Bumped after each update: cached reads from before it are not reused. */
  #generation = 0

  constructor (options: SettingsStoreOptions) {
    this.#db = options.db
    this.#secrets = options.secrets
    this.#preset = options.preset ?? {}
    this.#log = options.log
    this.#cache = new EpochCache({ epochs: () => [this.#generation], ttlMs: options.cacheMs ?? 1000, maxEntries: 1, now: options.now ?? Date.now })
  }

  /**
   * The settings in effect, secrets in clear. Given a transaction, read through it (uncached):
   * PGlite's one connection is held by an open transaction, so a read beside it would wait forever.
   */
  async read (db?: Queryable): Promise<StoredSettings> {
    if (db !== undefined && db !== this.#db) return await this.#readFrom(db)
    return structuredClone(await this.#cache.get('settings', async () => await this.#readFrom(this.#db)))
  }

  async #readFrom (db: Queryable): Promise<StoredSettings> {
    const [row] = await db.select({ value: hubConfig.value, version: hubConfig.version }).from(hubConfig).where(eq(hubConfig.id, 1))
    return this.#inEffect(row)
  }

  /**
   * Replaces each section given (schema-valid, as the route checks) wholly: a secret sent as
   * `MASK` keeps the value in effect, a webhook without a secret gets a new one. Refused with
   * a 422 naming the field when a rule across fields fails, with a 409 when `ifVersion` is not
   * the current version; nothing changes then.
   */
  async update (sections: Partial<Settings>, options: UpdateOptions = {}): Promise<UpdatedSettings> {
    const given = SECTIONS.filter((section) => sections[section] !== undefined)
    const result = await this.#db.transaction(async (tx) => {
      // The row exists (version 0 until the first change) and is locked: concurrent updates queue here.
      await tx.insert(hubConfig).values({ id: 1, value: {}, version: 0 }).onConflictDoNothing({ target: hubConfig.id })
      const [row] = await tx.select({ value: hubConfig.value, version: hubConfig.version }).from(hubConfig).where(eq(hubConfig.id, 1)).for('update')
      const current = this.#inEffect(row)
      if (options.ifVersion !== undefined && options.ifVersion !== current.version) throw stale(options.ifVersion, current.version)

      const next = structuredClone(current.settings)
      for (const section of given) next[section] = this.#withMasksResolved(section, sections[section], current.settings) as never
      if (given.includes('notifications') && next.notifications.webhook !== null && next.notifications.webhookSecret === null) {
        next.notifications.webhookSecret = newWebhookSecret()
      }
      checkRules(next, given, sections)

      const stored: Json = { ...row?.value }
      for (const section of given) stored[section] = this.#sealed(section, next[section])
      const [written] = await tx.update(hubConfig)
        .set({ value: stored, version: sql`${hubConfig.version} + 1`, updatedAt: new Date(), updatedBy: options.by ?? null })
        .where(and(eq(hubConfig.id, 1), eq(hubConfig.version, current.version)))
        .returning({ version: hubConfig.version })
      if (written === undefined) throw stale(options.ifVersion ?? current.version, current.version + 1)
      const changed = given.flatMap((section) => changedPaths(current.settings[section], next[section], section))
      return { settings: next, version: written.version, changed }
    })
    this.#generation++
    return result
  }

  /** Each section as stored (secrets opened), or the defaults with the preset on them. */
  #inEffect (row: { value: Json, version: number } | undefined): StoredSettings {
    const settings = {} as Json
    for (const section of SECTIONS) {
      const stored = row?.value[section]
      settings[section] = isObject(stored)
        ? this.#opened(section, merged(DEFAULT_SETTINGS[section], stored))
        : merged(DEFAULT_SETTINGS[section], (this.#preset as Json)[section])
    }
    return { settings: settings as unknown as Settings, version: row?.version ?? 0 }
  }

  #withMasksResolved (section: Section, given: unknown, current: Settings): unknown {
    const value = structuredClone(given) as Json
    for (const path of secretsOf(section)) {
      if (valueAt(value, path) === MASK) setValueAt(value, path, valueAt(current[section], path))
    }
    return value
  }

  #sealed (section: Section, value: unknown): Json {
    const sealed = structuredClone(value) as Json
    for (const path of secretsOf(section)) {
      const secret = valueAt(sealed, path)
      if (typeof secret === 'string') setValueAt(sealed, path, this.#secrets.seal(secret))
    }
    return sealed
  }

  #opened<T> (section: Section, value: T): T {
    for (const path of secretsOf(section)) {
      const sealed = valueAt(value, path)
      if (typeof sealed !== 'string') continue
      try {
        setValueAt(value as Json, path, this.#secrets.open(sealed))
      } catch {
        // Sealed under another hub secret (JWT_SECRET changed): unusable until an admin sets it again.
        this.#log?.warn({ field: [section, ...path].join('.') }, 'a stored secret cannot be opened (was the hub secret changed?): treated as unset')
        setValueAt(value as Json, path, null)
      }
    }
    return value
  }
}

function stale (read: number, current: number) {
  return conflict(`The settings were changed since version ${read} was read (now version ${current}): read them again and reapply the change`, { field: 'If-Match', reason: 'is stale' })
}
