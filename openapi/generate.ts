import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../app.ts'
import { openPgliteThread } from '../db/client.ts'
import type { Config } from '../lib/config.ts'

export const DOCUMENT_PATH = new URL('./openapi.json', import.meta.url)

/** The OpenAPI document as the code defines it, serialised exactly as it is committed. */
export async function generateDocument (): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcphub-openapi-'))
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir,
    jwtSecret: 'openapi-generation-only-secret-not-used-for-anything',
    adminUsername: 'admin',
    adminPassword: 'openapi-generation-only',
    logLevel: 'silent',
    rateLimits: { anonymous: 0, user: 0, admin: 0, mcp: 0 },
    redisUrl: undefined,
    redisKeyPrefix: 'mcphub:',
    settingsFile: undefined,
    allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
    childBaseEnv: {},
    activityRetentionDays: 90,
    requestTimeoutMs: 30_000,
    statementTimeoutMs: 5000
  }
  const app = await buildApp({ config, database: await openPgliteThread() })
  try {
    await app.ready()
    return JSON.stringify(app.swagger(), null, 2) + '\n'
  } finally {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
