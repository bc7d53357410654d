import { childBaseEnv, type Config } from '../lib/config.ts'

/** The hub's configuration for a benchmark: embedded database in `dataDir`, no rate limits, silent logs. */
export function benchConfig (dataDir: string, admin: { username: string, password: string }, extra: Partial<Config> = {}): Config {
  return {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir,
    jwtSecret: 'bench-only-secret-0123456789abcdef0123456789',
    adminUsername: admin.username,
    adminPassword: admin.password,
    logLevel: 'silent',
    rateLimits: { anonymous: 0, user: 0, admin: 0, mcp: 0 },
    redisUrl: undefined,
    redisKeyPrefix: 'mcphub:',
    settingsFile: undefined,
    childBaseEnv: childBaseEnv(process.env),
    allowedHosts: undefined,
    activityRetentionDays: 90,
    requestTimeoutMs: 30_000,
    statementTimeoutMs: 5000,
    ...extra
  }
}
