import type { SdkModel } from './model.ts'

/** The Python SDK's generated files, by path from the repository's root. */
export function emitPython (_model: SdkModel): Record<string, string> {
  return {}
}
