import { useI18n } from '../i18n.ts'
import { MASK } from '../ui.tsx'

/** One entry of an env or headers map: a stored one keeps its hidden value until the user types a new one. */
export interface SecretRow {
  id: number
  key: string
  value: string
  stored: boolean
}

let nextRow = 0

/** The rows of a map the hub answered (its values masked). */
export const rowsOf = (map: Record<string, string>): SecretRow[] =>
  Object.keys(map).map((key) => ({ id: nextRow++, key, value: '', stored: true }))

/** The map to send: new values as typed, the mask for stored values left alone; rows without a name are left out. */
export const mapOf = (rows: SecretRow[]): Record<string, string> =>
  Object.fromEntries(rows.filter((row) => row.key.trim() !== '').map((row) => [row.key.trim(), row.stored && row.value === '' ? MASK : row.value]))

/**
 * Name/value rows of secrets (env variables, headers): stored values are never shown, their
 * inputs stay empty unless a new value is typed; removing a row removes the entry.
 */
export function SecretRows ({ legend, rows, onRows, namePattern }: { legend: string, rows: SecretRow[], onRows: (rows: SecretRow[]) => void, namePattern?: string }) {
  const { t } = useI18n()
  const change = (id: number, patch: Partial<SecretRow>) => onRows(rows.map((row) => row.id === id ? { ...row, ...patch } : row))
  return (
    <fieldset class='secrets'>
      <legend>{legend}</legend>
      {rows.length === 0 && <p class='hint'>{t('common.none')}</p>}
      {rows.map((row, index) => {
        const shown = row.key === '' ? String(index + 1) : row.key
        return (
          <div class='secret-row' key={row.id}>
            <input
              type='text' value={row.key} readOnly={row.stored} pattern={namePattern} spellcheck={false} autocomplete='off'
              aria-label={t('servers.form.entryName', { entry: shown })}
              onInput={(event) => change(row.id, { key: event.currentTarget.value })}
            />
            <input
              type='password' value={row.value} autocomplete='new-password' spellcheck={false}
              placeholder={row.stored ? t('servers.form.unchanged') : ''}
              aria-label={t('servers.form.entryValue', { entry: shown })}
              onInput={(event) => change(row.id, { value: event.currentTarget.value })}
            />
            <button type='button' class='secondary' aria-label={t('servers.form.remove', { entry: shown })} onClick={() => onRows(rows.filter((other) => other.id !== row.id))}>
              {t('servers.form.removeShort')}
            </button>
          </div>
        )
      })}
      <button type='button' class='secondary' onClick={() => onRows([...rows, { id: nextRow++, key: '', value: '', stored: false }])}>
        {t('servers.form.add', { what: legend })}
      </button>
      {rows.some((row) => row.stored) && <p class='hint'>{t('servers.form.secretHint')}</p>}
    </fieldset>
  )
}
