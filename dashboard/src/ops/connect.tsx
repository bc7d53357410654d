import { useRef, useState } from 'preact/hooks'
import type { MCPHubClient } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { ActionOutcome, LoadState, Page, SelectField, useAction, useLoad } from '../ui.tsx'

/** What stands in the configuration until the user creates a key. */
const KEY_PLACEHOLDER = '<your API key>'

interface Endpoint {
  path: string
  /** `mcpServers` entry name. */
  name: string
  describe: string
}

/** The groups and servers the caller may use (admins: all; users: their groups, the servers they may read). */
async function scopes (client: MCPHubClient) {
  const groups: Array<{ name: string }> = []
  for await (const group of client.groups.iterate({ limit: 100 })) groups.push(group)
  const servers: Array<{ name: string, key: string }> = []
  for await (const server of client.servers.iterate({ limit: 100, sort: 'name' })) servers.push(server)
  return { groups, servers }
}

/** How to point an MCP client at this hub: its endpoints, and a ready configuration with an API key. */
export function ConnectPage () {
  const { t } = useI18n()
  const loaded = useLoad(scopes, [])
  const origin = location.origin
  const endpoints: Endpoint[] = [
    { path: '/mcp', name: 'mcphub', describe: t('connect.all') },
    ...(loaded.data?.groups ?? []).map((group) => ({ path: `/mcp/groups/${encodeURIComponent(group.name)}`, name: `mcphub-${group.name}`, describe: t('connect.group', { name: group.name }) })),
    ...(loaded.data?.servers ?? []).map((server) => ({ path: `/mcp/servers/${encodeURIComponent(server.key)}`, name: `${server.key}-via-mcphub`, describe: t('connect.server', { name: server.name }) }))
  ]
  const [chosen, setChosen] = useState('/mcp')
  const endpoint = endpoints.find((one) => one.path === chosen) ?? endpoints[0]!
  const [key, setKey] = useState<string | undefined>(undefined)
  const create = useAction()
  const copy = useAction()
  const json = useRef<HTMLPreElement>(null)

  const configuration = JSON.stringify({
    mcpServers: { [endpoint.name]: { type: 'streamable-http', url: `${origin}${endpoint.path}`, headers: { 'X-API-Key': key ?? KEY_PLACEHOLDER } } }
  }, null, 2)

  const createKey = () => {
    create.run(async (client) => {
      const created = await client.auth.createApiKey({ name: `MCP client ${new Date().toISOString().slice(0, 16).replace('T', ' ')}` })
      setKey(created.key)
      return t('connect.keyCreated')
    })
  }

  /** Onto the clipboard; where the browser refuses, the text is selected for the user to copy. */
  const copyConfiguration = () => {
    copy.run(async () => {
      try {
        await navigator.clipboard.writeText(configuration)
        return t('connect.copied')
      } catch {
        const selection = getSelection()
        if (json.current !== null && selection !== null) {
          selection.selectAllChildren(json.current)
          json.current.focus()
        }
        return t('connect.selected')
      }
    })
  }

  return (
    <Page title={t('connect.title')}>
      <p>{t('connect.intro')}</p>
      <section aria-labelledby='endpoints-title'>
        <h2 id='endpoints-title'>{t('connect.endpoints')}</h2>
        <LoadState loaded={loaded} />
        <div class='table'>
          <table class='endpoints'>
            <thead>
              <tr>
                <th scope='col'>{t('connect.url')}</th>
                <th scope='col'>{t('connect.serves')}</th>
              </tr>
            </thead>
            <tbody>
              {endpoints.map((one) => (
                <tr key={one.path}>
                  <td><code>{`${origin}${one.path}`}</code></td>
                  <td>{one.describe}</td>
                </tr>
              ))}
              <tr>
                <td><code>{`${origin}/sse`}</code></td>
                <td>{t('connect.sse')}</td>
              </tr>
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby='configuration-title' class='client-configuration'>
        <h2 id='configuration-title'>{t('connect.configuration')}</h2>
        <SelectField label={t('connect.endpoint')} value={endpoint.path} onValue={setChosen} options={endpoints.map((one) => [one.path, `${one.path} — ${one.describe}`])} />
        <p class='hint'>{key === undefined ? t('connect.keyHint') : t('connect.keyOnce')}</p>
        <div class='page-actions'>
          <button type='button' disabled={create.pending || key !== undefined} onClick={createKey}>{t('connect.createKey')}</button>
          <button type='button' class='secondary' onClick={copyConfiguration}>{t('connect.copy')}</button>
        </div>
        <ActionOutcome action={create} />
        <pre ref={json} tabIndex={0} aria-label={t('connect.configuration')} class={key === undefined ? undefined : 'secret-config'} data-configuration>{configuration}</pre>
        <ActionOutcome action={copy} />
      </section>
    </Page>
  )
}
