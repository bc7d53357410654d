import type { HubError } from './errors.ts'

export function ok<T> (data: T, message?: string) {
  return message === undefined
    ? { success: true as const, data, timestamp: new Date().toISOString() }
    : { success: true as const, data, message, timestamp: new Date().toISOString() }
}

export function failure (error: HubError) {
  return {
    success: false as const,
    error: error.details === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, details: error.details },
    timestamp: new Date().toISOString()
  }
}
