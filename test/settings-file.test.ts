import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { servers } from '../db/schema.ts'
import { build, testConfig } from './helper.ts'

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

t.test('MCPHUB_SETTINGS_FILE: servers of an mcp_settings.json are imported at start', async (t) => {
  const file = join(testConfig(t).dataDir, 'mcp_settings.json')
  writeFileSync(file, JSON.stringify({
    mcpServers: {
      files: { command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'normal', API_TOKEN: 'settings-file-canary' }, disabled: true },
      echo: { command: process.execPath, args: [FIXTURE], description: 'from Claude Desktop', type: 'stdio' }
    }
  }))
  const app = await build(t, 'pglite', { config: { settingsFile: file } })
  const rows = await app.db.select().from(servers).orderBy(servers.name)
  t.same(rows.map((row) => [row.name, row.enabled]), [['echo', true], ['files', false]])
  t.notOk(JSON.stringify(rows).includes('settings-file-canary'), 'env values are sealed at rest')
  t.equal(app.auth.secrets.open(rows[1]!.env.API_TOKEN!), 'settings-file-canary')
  t.ok(await new Promise<boolean>((resolve) => {
    const check = () => app.supervisor.get(rows[0]!.id)?.state === 'running' ? resolve(true) : setTimeout(check, 50)
    setTimeout(() => resolve(false), 10_000)
    check()
  }), 'the enabled one starts with the hub')
})

t.test('a settings file that is not an mcpServers document stops the start with a clear error', async (t) => {
  const file = join(testConfig(t).dataDir, 'bad.json')
  writeFileSync(file, JSON.stringify({ mcpServers: { broken: { args: ['x'] } } }))
  await t.rejects(build(t, 'pglite', { config: { settingsFile: file } }), /MCPHUB_SETTINGS_FILE .*bad\.json/)
  writeFileSync(file, JSON.stringify({ mcpServers: { evil: { command: 'node', env: { NODE_OPTIONS: '--require /tmp/x.js' } } } }))
  await t.rejects(build(t, 'pglite', { config: { settingsFile: file } }), /mcpServers\.evil\.env\.NODE_OPTIONS/)
})
