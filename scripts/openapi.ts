import { readFileSync, writeFileSync } from 'node:fs'
import { DOCUMENT_PATH, generateDocument } from '../openapi/generate.ts'

/** `npm run openapi` writes openapi/openapi.json; `--check` fails when it is out of date. */
const generated = await generateDocument()
if (process.argv.includes('--check')) {
  let committed = ''
  try {
    committed = readFileSync(DOCUMENT_PATH, 'utf8')
  } catch {}
  if (committed !== generated) {
    process.stderr.write('openapi/openapi.json is out of date: run `npm run openapi` and commit it.\n')
    process.exit(1)
  }
} else {
  writeFileSync(DOCUMENT_PATH, generated)
}
