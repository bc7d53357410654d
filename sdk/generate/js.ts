import type { SdkModel } from './model.ts'

/** The JavaScript SDK's generated files, by path from the repository's root. */
export function emitJs (_model: SdkModel): Record<string, string> {
  return {}
}
