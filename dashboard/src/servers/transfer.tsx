import { useEffect, useId, useState } from 'preact/hooks'
import type { ImportResult, McpServers } from '../../../sdk/js/src/index.ts'
import { useI18n, type Translate } from '../i18n.ts'
import { ActionOutcome, useAction } from '../ui.tsx'

/** What an import did, in one sentence per kind of outcome. */
function summaryOf (t: Translate, result: ImportResult): string {
  const none = t('common.none')
  const parts = [
    t('servers.import.created', { names: result.created.join(', ') || none }),
    t('servers.import.skipped', { names: result.skipped.join(', ') || none })
  ]
  if (result.unsupported.length > 0) {
    parts.push(t('servers.import.unsupported', { names: result.unsupported.map((entry) => `${entry.name} (${entry.reason})`).join(', ') }))
  }
  return parts.join(' ')
}

/** Imports a `{ "mcpServers": {...} }` file (Claude Desktop's, mcp_settings.json) chosen by the user. */
export function ImportField ({ onImported }: { onImported: () => void }) {
  const { t } = useI18n()
  const id = useId()
  const action = useAction()
  const chosen = async (input: HTMLInputElement) => {
    const file = input.files?.[0]
    if (file === undefined) return
    await action.run(async (client) => {
      let document: McpServers
      try {
        document = JSON.parse(await file.text()) as McpServers
      } catch {
        throw new Error(t('servers.import.notJson', { file: file.name }))
      }
      const result = await client.servers.import(document)
      onImported()
      return summaryOf(t, result)
    })
    input.value = ''
  }
  return (
    <div class='field import'>
      <label for={id}>{t('servers.import.label')}</label>
      <input id={id} type='file' accept='application/json,.json' disabled={action.pending} aria-describedby={`${id}-hint`} onChange={(event) => { chosen(event.currentTarget).catch(() => {}) }} />
      <p id={`${id}-hint`} class='hint'>{t('servers.import.hint')}</p>
      <ActionOutcome action={action} />
    </div>
  )
}

/** Downloads every server as an `mcpServers` document (secret values masked by the hub). */
export function ExportLink () {
  const { t } = useI18n()
  const action = useAction()
  const [file, setFile] = useState<string | undefined>(undefined)
  useEffect(() => () => { if (file !== undefined) URL.revokeObjectURL(file) }, [file])
  const download = () => action.run(async (client) => {
    const document = await client.servers.export()
    const blob = new Blob([JSON.stringify(document, null, 2) + '\n'], { type: 'application/json' })
    const href = URL.createObjectURL(blob)
    setFile(href)
    const link = Object.assign(window.document.createElement('a'), { href, download: 'mcp-servers.json' })
    link.click()
  })
  return (
    <div class='export'>
      <button type='button' class='secondary' disabled={action.pending} onClick={() => { download().catch(() => {}) }}>{t('servers.export')}</button>
      {file !== undefined && <a href={file} download='mcp-servers.json'>{t('servers.exportAgain')}</a>}
      <ActionOutcome action={action} />
    </div>
  )
}
