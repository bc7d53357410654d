import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startLiveHub } from './helpers/live-hub.ts'
import { startProcess, type Tracked } from './helpers/processes.ts'

/**
 * The Python SDK as a user gets it: `pip install ./sdk/python` (offline, into a temporary
 * directory), then its unittest suite, run from outside the source tree, against live hubs.
 */

const PACKAGE = fileURLToPath(new URL('../sdk/python', import.meta.url))
/** The tests sdk/python/tests holds: a test added there is counted here too. */
const EXPECTED_TESTS = 26
/** The interpreter: python3, or another one to try (MCPHUB_PYTHON=python3.9). */
const PYTHON = process.env.MCPHUB_PYTHON ?? 'python3'

const hasPython = spawnSync(PYTHON, ['--version']).status === 0

/** Waits for a process to end: its exit code and everything it wrote. */
async function finished (process: Tracked): Promise<{ code: number | null, output: string }> {
  const { code } = await process.exit
  return { code, output: `${process.stdout()}${process.stderr()}` }
}

t.test('the Python SDK, installed with pip, passes its tests against a live hub', { skip: hasPython ? false : `${PYTHON} is not installed: the Python SDK is not tested` }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'mcphub-sdk-python-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const site = join(work, 'site')
  const env = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INDEX: '1', PYTHONDONTWRITEBYTECODE: '1' }
  // pip installs while the hubs start; from the temporary directory, where the source tree is not importable.
  const installing = finished(startProcess(t, PYTHON, ['-m', 'pip', 'install', '--no-index', '--target', site, PACKAGE], { cwd: work, env }))
  const [hub, limited] = await Promise.all([
    startLiveHub(t),
    // A second hub where an anonymous caller gets two requests a minute: the 429 case.
    startLiveHub(t, 'pglite', { config: { rateLimits: { anonymous: 2, user: 0, admin: 0, mcp: 0 } } })
  ])
  const install = await installing
  t.equal(install.code, 0, 'pip installs ./sdk/python offline')
  if (install.code !== 0) {
    t.comment(install.output)
    return
  }

  const run = await finished(startProcess(t, PYTHON, ['-m', 'unittest', 'discover', '-v', '-s', join(PACKAGE, 'tests'), '-p', 'test_*.py'], {
    cwd: work,
    env: {
      ...env,
      PYTHONPATH: site,
      MCPHUB_URL: hub.baseUrl,
      MCPHUB_ADMIN_USERNAME: hub.admin.username,
      MCPHUB_ADMIN_PASSWORD: hub.admin.password,
      MCPHUB_FIXTURE: JSON.stringify(hub.fixture),
      MCPHUB_LIMITED_URL: limited.baseUrl
    }
  }))
  t.equal(run.code, 0, 'python -m unittest passes')
  t.match(run.output, new RegExp(`Ran ${EXPECTED_TESTS} tests`), `it ran the ${EXPECTED_TESTS} tests`)
  t.notMatch(run.output, /skipped/, 'none was skipped')
  if (!t.passing()) t.comment(run.output)
})
