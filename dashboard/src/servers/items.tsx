import { useEffect, useId, useState } from 'preact/hooks'
import type { ServerItems, UpdateServerItem } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { useSession } from '../session-context.ts'
import { ActionOutcome, LoadState, useAction, useLoad, type Action } from '../ui.tsx'

type Kind = UpdateServerItem['kind']

/**
 * A server's tools, prompts and resources as the hub offers them to clients: each can be
 * disabled, and a tool's description replaced (the hub refuses those who may not change the server).
 * Loaded again when `version` changes (the server started: its catalog is known from then).
 */
export function ServerItemsSection ({ serverId, version }: { serverId: string, version: string }) {
  const { t } = useI18n()
  const loaded = useLoad(async (client) => await client.servers.tools(serverId), [serverId, version])
  const action = useAction()
  const editable = useSession().may(serverId, 'write')
  const items = loaded.data

  const update = (body: UpdateServerItem, done: string) => action.run(async (client) => {
    const next = await client.servers.updateTool(serverId, body)
    loaded.setData(() => next)
    return done
  })
  const toggle = (kind: Kind, name: string, enabled: boolean) =>
    update({ kind, name, enabled }, t(enabled ? 'servers.items.enabledDone' : 'servers.items.disabledDone', { name }))

  return (
    <section class='server-items' aria-labelledby='server-items'>
      <h2 id='server-items'>{t('servers.items.title')}</h2>
      <LoadState loaded={loaded} />
      <ActionOutcome action={action} />
      {items !== undefined && (
        <>
          <h3>{t('servers.items.tools', { count: String(items.tools.length) })}</h3>
          {items.tools.length === 0
            ? <p class='hint'>{t('servers.items.none')}</p>
            : (
              <div class='table'>
                <table>
                  <thead>
                    <tr>
                      <th scope='col'>{t('servers.items.name')}</th>
                      <th scope='col'>{t('servers.items.enabled')}</th>
                      <th scope='col'>{t('servers.items.description')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.tools.map((tool) => (
                      <tr key={tool.name} data-tool={tool.name}>
                        <th scope='row'>{tool.name}{!tool.offered && <span class='hint'> {t('servers.items.notOffered')}</span>}</th>
                        <td><Toggle kind='tool' name={tool.name} enabled={tool.enabled} editable={editable} action={action} onToggle={toggle} /></td>
                        <td>
                          {editable
                            ? <DescriptionOverride tool={tool} action={action} onSave={(description) => update({ kind: 'tool', name: tool.name, description }, t('servers.items.describedDone', { name: tool.name }))} />
                            : <p class='hint'>{tool.descriptionOverride ?? tool.description ?? '—'}</p>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              )}
          <SimpleItems kind='prompt' title={t('servers.items.prompts', { count: String(items.prompts.length) })} items={items.prompts} editable={editable} action={action} onToggle={toggle} />
          <SimpleItems kind='resource' title={t('servers.items.resources', { count: String(items.resources.length) })} items={items.resources} editable={editable} action={action} onToggle={toggle} />
        </>
      )}
    </section>
  )
}

type OnToggle = (kind: Kind, name: string, enabled: boolean) => Promise<boolean>

/** The "Enabled" checkbox of one item, named after it for screen readers ("Enable echo"); read-only for those who may not change the server. */
function Toggle ({ kind, name, enabled, editable, action, onToggle }: { kind: Kind, name: string, enabled: boolean, editable: boolean, action: Action, onToggle: OnToggle }) {
  const { t } = useI18n()
  const id = useId()
  return (
    <span class='toggle'>
      <input
        id={id} type='checkbox' checked={enabled} disabled={!editable || action.pending} aria-label={t('servers.items.enable', { name })}
        onChange={(event) => {
          const wanted = event.currentTarget.checked
          // Shown as it is until the hub agrees.
          event.currentTarget.checked = enabled
          onToggle(kind, name, wanted).catch(() => {})
        }}
      />
      <label for={id} aria-hidden='true'>{t('servers.items.enabled')}</label>
    </span>
  )
}

function SimpleItems ({ kind, title, items, editable, action, onToggle }: { kind: Kind, title: string, items: ServerItems['prompts'], editable: boolean, action: Action, onToggle: OnToggle }) {
  const { t } = useI18n()
  return (
    <>
      <h3>{title}</h3>
      {items.length === 0
        ? <p class='hint'>{t('servers.items.none')}</p>
        : (
          <ul class='items'>
            {items.map((item) => (
              <li key={item.name} data-item={item.name}>
                <Toggle kind={kind} name={item.name} enabled={item.enabled} editable={editable} action={action} onToggle={onToggle} />
                <span class='item-name'>{item.name}</span>
                {!item.offered && <span class='hint'> {t('servers.items.notOffered')}</span>}
              </li>
            ))}
          </ul>
          )}
    </>
  )
}

/** A tool's description as clients see it, with the admin's replacement (empty: the server's own). */
function DescriptionOverride ({ tool, action, onSave }: { tool: ServerItems['tools'][number], action: Action, onSave: (description: string | null) => Promise<boolean> }) {
  const { t } = useI18n()
  const id = useId()
  const [text, setText] = useState(tool.descriptionOverride ?? '')
  useEffect(() => setText(tool.descriptionOverride ?? ''), [tool.descriptionOverride])
  return (
    <form class='describe' onSubmit={(event) => { event.preventDefault(); onSave(text.trim() === '' ? null : text.trim()).catch(() => {}) }}>
      <p class='hint'>{tool.description ?? '—'}</p>
      <label for={id} class='visually-hidden'>{t('servers.items.describe', { name: tool.name })}</label>
      <input id={id} type='text' value={text} placeholder={t('servers.items.ownDescription')} onInput={(event) => setText(event.currentTarget.value)} />
      <button type='submit' class='secondary' disabled={action.pending} aria-label={t('servers.items.saveDescription', { name: tool.name })}>{t('common.save')}</button>
    </form>
  )
}
