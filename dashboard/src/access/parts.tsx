import type { ComponentChildren } from 'preact'
import { useId, useState } from 'preact/hooks'
import type { Pagination } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'

/** A button whose action waits for a second, explicit confirmation in place (no browser dialog). */
export function ConfirmButton ({ label, question, confirm, onConfirm, disabled }: { label: string, question: string, confirm?: string, onConfirm: () => void, disabled?: boolean }) {
  const { t } = useI18n()
  const [asking, setAsking] = useState(false)
  if (!asking) return <button type='button' class='danger' disabled={disabled} onClick={() => setAsking(true)}>{label}</button>
  return (
    <span class='confirm' role='group' aria-label={question}>
      <span>{question}</span>
      <button type='button' class='danger' disabled={disabled} onClick={() => { setAsking(false); onConfirm() }}>{confirm ?? t('common.delete')}</button>
      <button type='button' class='secondary' onClick={() => setAsking(false)}>{t('common.cancel')}</button>
    </span>
  )
}

/** Previous / next page of a paged list, with where the reader is. */
export function Pager ({ pagination, onPage }: { pagination: Pagination, onPage: (page: number) => void }) {
  const { t } = useI18n()
  if (pagination.pages <= 1) return null
  return (
    <nav class='pager' aria-label={t('access.pages')}>
      <button type='button' class='secondary' disabled={!pagination.hasPrev} onClick={() => onPage(pagination.page - 1)}>{t('access.previous')}</button>
      <span>{t('access.pageOf', { page: String(pagination.page), pages: String(pagination.pages) })}</span>
      <button type='button' class='secondary' disabled={!pagination.hasNext} onClick={() => onPage(pagination.page + 1)}>{t('access.next')}</button>
    </nav>
  )
}

/** Checkboxes choosing a subset of `options` ([value, label] pairs), under one legend. */
export function CheckboxGroup<T extends string> ({ legend, options, value, onValue }: { legend: string, options: Array<[T, string]>, value: T[], onValue: (value: T[]) => void }) {
  const id = useId()
  const toggle = (option: T, on: boolean) => onValue(options.map(([each]) => each).filter((each) => each === option ? on : value.includes(each)))
  return (
    <fieldset class='checks'>
      <legend>{legend}</legend>
      {options.map(([option, text]) => (
        <span key={option} class='check'>
          <input id={`${id}-${option}`} type='checkbox' checked={value.includes(option)} onChange={(event) => toggle(option, event.currentTarget.checked)} />
          <label for={`${id}-${option}`}>{text}</label>
        </span>
      ))}
    </fieldset>
  )
}

/** A labelled date input (the shared TextField takes no date). */
export function DateField ({ label, value, onValue, hint, min }: { label: string, value: string, onValue: (value: string) => void, hint?: string, min?: string }) {
  const id = useId()
  return (
    <div class='field'>
      <label for={id}>{label}</label>
      <input id={id} type='date' value={value} min={min} onInput={(event) => onValue(event.currentTarget.value)} aria-describedby={hint === undefined ? undefined : `${id}-hint`} />
      {hint !== undefined && <p id={`${id}-hint`} class='hint'>{hint}</p>}
    </div>
  )
}

/** A titled part of a page. */
export function Section ({ title, children }: { title: string, children: ComponentChildren }) {
  const id = useId()
  return (
    <section class='part' aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  )
}
