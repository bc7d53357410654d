import { ConfigError, parseEnv } from '../../lib/config.ts'

/** The problems `parseEnv` reports for an environment; none when it is valid. */
export function problemsOf (env: Record<string, string>): string[] {
  try {
    parseEnv(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}
