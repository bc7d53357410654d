import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { servers } from '../db/schema.ts'
import { build, captureLogs, testConfig } from './helper.ts'

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

t.test('MCPHUB_SETTINGS_FILE: "enabled": false is honoured; remote entries are imported, an unsupported type is reported in one line and skipped, the hub starts', async (t) => {
  const file = join(testConfig(t).dataDir, 'mcp_settings.json')
  writeFileSync(file, JSON.stringify({
    mcpServers: {
      local: { command: process.execPath, args: [FIXTURE], enabled: false },
      remote: { url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer remote-canary' }, disabled: true },
      streaming: { type: 'streamable-http', url: 'https://mcp.example.com/stream', enabled: false },
      socket: { type: 'ws', url: 'wss://mcp.example.com/ws' }
    }
  }))
  const hubLog = captureLogs()
  const app = await build(t, 'pglite', { config: { settingsFile: file, logLevel: 'info' }, logStream: hubLog.stream })
  const rows = await app.db.select().from(servers)
  t.same(rows.map((row) => [row.name, row.type, row.enabled]).sort(), [['local', 'stdio', false], ['remote', 'streamable-http', false], ['streaming', 'streamable-http', false]], 'imported, not enabled')
  const skipped = hubLog.lines.filter((line) => line.includes('skipped server'))
  t.equal(skipped.length, 1, 'one line per skipped entry')
  t.match(JSON.parse(skipped[0]!), { level: 40, server: 'socket', msg: 'MCPHUB_SETTINGS_FILE: skipped server "socket": type "ws": the hub supports stdio, streamable-http (http) and sse' })
  t.notOk(hubLog.lines.join('\n').includes('remote-canary'), 'what the entry holds is not logged')
})
