import { generateSdkFiles, staleSdkFiles, writeSdkFiles } from '../sdk/generate/index.ts'

/** `npm run sdk` regenerates both SDKs from openapi/openapi.json; `--check` fails when they are out of date. */
const files = generateSdkFiles()
if (process.argv.includes('--check')) {
  const stale = staleSdkFiles(files)
  if (stale.length > 0) {
    process.stderr.write(`The SDKs are out of date with openapi/openapi.json (${stale.join(', ')}): run \`npm run sdk\` and commit the result.\n`)
    process.exit(1)
  }
} else {
  writeSdkFiles(files)
}
