import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DOCUMENT_PATH } from '../../openapi/generate.ts'
import { emitJs } from './js.ts'
import { buildModel, type OpenApiDocument } from './model.ts'
import { emitPython } from './python.ts'

/** The repository's root: generated paths are relative to it. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')

/** Every generated SDK file, by its path from the repository's root, from the document's text. */
export function generateSdkFiles (documentText = readFileSync(DOCUMENT_PATH, 'utf8')): Map<string, string> {
  const model = buildModel(JSON.parse(documentText) as OpenApiDocument, documentText)
  const files = new Map<string, string>()
  for (const [path, text] of [...Object.entries(emitJs(model)), ...Object.entries(emitPython(model))]) {
    if (files.has(path)) throw new Error(`two emitters write ${path}`)
    files.set(path, text)
  }
  return files
}

/** The generated files whose committed text differs from `files` (missing ones included). */
export function staleSdkFiles (files: Map<string, string>): string[] {
  return [...files].filter(([path, text]) => {
    const file = join(ROOT, path)
    return !existsSync(file) || readFileSync(file, 'utf8') !== text
  }).map(([path]) => path)
}

export function writeSdkFiles (files: Map<string, string>): void {
  for (const [path, text] of files) {
    const file = join(ROOT, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
  }
}
