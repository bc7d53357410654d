import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks'
import type { MCPHubClient, Pagination } from '../../sdk/js/src/index.ts'
import { useI18n, type MessageKey } from './i18n.ts'
import { sessionEnded } from './session.ts'
import { useSession } from './session-context.ts'

/** How the hub shows a stored secret (an env value, a header, a password); sent back, it keeps the stored value. */
export const MASK = '********'

/** What a failure says to the user (the hub's messages are in the contract's envelope). */
export const messageOf = (failure: unknown): string => failure instanceof Error ? failure.message : String(failure)

export interface Loaded<T> {
  data: T | undefined
  error: string | undefined
  /** Loads again (after a change, or when events may have been missed). */
  reload: () => void
  /** Changes the loaded value in place (from an event, or the answer of an update). */
  setData: (update: (current: T | undefined) => T | undefined) => void
}

/**
 * Data a page shows, loaded with the session's client when the page opens and whenever `deps`
 * change; a session the hub ended sends the user back to sign in.
 */
export function useLoad<T> (load: (client: MCPHubClient) => Promise<T>, deps: unknown[]): Loaded<T> {
  const { client, ended } = useSession()
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    let current = true
    load(client).then((value) => {
      if (!current) return
      setData(value)
      setError(undefined)
    }, (failure: unknown) => {
      if (!current) return
      if (sessionEnded(failure)) ended()
      else setError(messageOf(failure))
    })
    return () => { current = false }
  }, [client, generation, ...deps])
  const reload = useCallback(() => setGeneration((value) => value + 1), [])
  return { data, error, reload, setData }
}

export interface Action {
  /** Runs `work`; its failure is shown by `<ActionOutcome>`, its success message too when it answers one. */
  run: (work: (client: MCPHubClient) => Promise<string | void>) => Promise<boolean>
  pending: boolean
  error: string | undefined
  done: string | undefined
  /** Forgets the last outcome (the user moved on: reloaded what it was about). */
  clear: () => void
}

/** A change the user asked for (a form sent, a button pressed): one at a time, with its outcome. */
export function useAction (): Action {
  const { client, ended } = useSession()
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [done, setDone] = useState<string | undefined>(undefined)
  const run = async (work: (client: MCPHubClient) => Promise<string | void>): Promise<boolean> => {
    setPending(true)
    setError(undefined)
    setDone(undefined)
    try {
      const message = await work(client)
      if (typeof message === 'string') setDone(message)
      return true
    } catch (failure) {
      if (sessionEnded(failure)) ended()
      else setError(messageOf(failure))
      return false
    } finally {
      setPending(false)
    }
  }
  const clear = () => {
    setError(undefined)
    setDone(undefined)
  }
  return { run, pending, error, done, clear }
}

/** An action's failure (an alert) or success message (a status), where the user is looking. */
export function ActionOutcome ({ action }: { action: Pick<Action, 'error' | 'done'> }) {
  return (
    <>
      {action.error !== undefined && <p role='alert' class='error'>{action.error}</p>}
      <p role='status' class='done'>{action.done ?? ''}</p>
    </>
  )
}

/** A page: its title in the tab and as the heading, which takes the focus when the page opens (screen readers hear where they are). */
export function Page ({ title, actions, children }: { title: string, actions?: ComponentChildren, children: ComponentChildren }) {
  const { t } = useI18n()
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => { document.title = `${title} · ${t('app.title')}` }, [title, t])
  useEffect(() => { heading.current?.focus({ preventScroll: true }) }, [])
  return (
    <section class='page' aria-labelledby='page-title'>
      <div class='heading'>
        <h1 id='page-title' tabIndex={-1} ref={heading}>{title}</h1>
        {actions !== undefined && <div class='page-actions'>{actions}</div>}
      </div>
      {children}
    </section>
  )
}

/** What a loaded page shows before its data arrives, or when it could not be loaded. */
export function LoadState ({ loaded }: { loaded: Pick<Loaded<unknown>, 'data' | 'error'> }) {
  const { t } = useI18n()
  if (loaded.error !== undefined) return <p role='alert' class='error'>{loaded.error}</p>
  if (loaded.data === undefined) return <p role='status'>{t('app.loading')}</p>
  return null
}

/** What a text field may say of its input beside its value. */
interface InputProps {
  type?: 'text' | 'password' | 'email' | 'url' | 'number' | 'search' | 'tel' | 'date'
  name?: string
  required?: boolean
  disabled?: boolean
  readOnly?: boolean
  placeholder?: string
  autocomplete?: string
  inputMode?: 'text' | 'numeric' | 'email' | 'url' | 'search' | 'tel' | 'decimal'
  pattern?: string
  min?: number | string
  max?: number | string
  minLength?: number
  maxLength?: number
  autoFocus?: boolean
  spellcheck?: boolean
}

/** A labelled text input (with an optional hint read out with it). */
export function TextField ({ label, value, onValue, hint, type = 'text', ...input }: { label: string, value: string, onValue: (value: string) => void, hint?: string } & InputProps) {
  const id = useId()
  return (
    <div class='field'>
      <label for={id}>{label}</label>
      {/* Preact types each input type apart; every type this field takes has the text input's attributes. */}
      <input id={id} type={type as 'text'} value={value} onInput={(event) => onValue(event.currentTarget.value)} aria-describedby={hint === undefined ? undefined : `${id}-hint`} {...input} />
      {hint !== undefined && <p id={`${id}-hint`} class='hint'>{hint}</p>}
    </div>
  )
}

/** A labelled multi-line input. */
export function TextArea ({ label, value, onValue, hint, rows = 4, ...rest }: { label: string, value: string, onValue: (value: string) => void, hint?: string, rows?: number, required?: boolean, spellcheck?: boolean }) {
  const id = useId()
  return (
    <div class='field'>
      <label for={id}>{label}</label>
      <textarea id={id} rows={rows} value={value} onInput={(event) => onValue(event.currentTarget.value)} aria-describedby={hint === undefined ? undefined : `${id}-hint`} {...rest} />
      {hint !== undefined && <p id={`${id}-hint`} class='hint'>{hint}</p>}
    </div>
  )
}

/** A labelled choice among `options` ([value, label] pairs). */
export function SelectField<T extends string> ({ label, value, onValue, options, disabled }: { label: string, value: T, onValue: (value: T) => void, options: Array<[T, string]>, disabled?: boolean }) {
  const id = useId()
  return (
    <div class='field'>
      <label for={id}>{label}</label>
      <select id={id} value={value} disabled={disabled} onChange={(event) => onValue(event.currentTarget.value as T)}>
        {options.map(([option, text]) => <option key={option} value={option}>{text}</option>)}
      </select>
    </div>
  )
}

/** A labelled checkbox. */
export function CheckboxField ({ label, checked, onValue, disabled }: { label: string, checked: boolean, onValue: (checked: boolean) => void, disabled?: boolean }) {
  const id = useId()
  return (
    <div class='field checkbox'>
      <input id={id} type='checkbox' checked={checked} disabled={disabled} onChange={(event) => onValue(event.currentTarget.checked)} />
      <label for={id}>{label}</label>
    </div>
  )
}

/** Tabs as links would be heavier than this: a row of toggle buttons choosing one of `options`. */
export function Choice<T extends string> ({ label, value, onValue, options }: { label: string, value: T, onValue: (value: T) => void, options: Array<[T, string]> }) {
  return (
    <div class='choice' role='group' aria-label={label}>
      {options.map(([option, text]) => (
        <button key={option} type='button' class='secondary' aria-pressed={option === value} onClick={() => onValue(option)}>{text}</button>
      ))}
    </div>
  )
}

/** A timestamp in the user's locale and time zone. */
export function Time ({ at }: { at: string | null | undefined }) {
  const { language } = useI18n()
  if (at === null || at === undefined) return <span>—</span>
  return <time dateTime={at}>{new Date(at).toLocaleString(language === 'zh' ? 'zh-CN' : 'en')}</time>
}

/** The message key of a translated label, for lists of options built from keys. */
export type Labelled<T extends string> = Array<[T, MessageKey]>

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
export function Pager ({ pagination, onPage, label }: { pagination: Pagination, onPage: (page: number) => void, label?: string }) {
  const { t } = useI18n()
  if (pagination.pages <= 1) return null
  return (
    <nav class='pager' aria-label={label ?? t('common.pages')}>
      <button type='button' class='secondary' disabled={!pagination.hasPrev} onClick={() => onPage(pagination.page - 1)}>{t('common.previous')}</button>
      <span>{t('common.pageOf', { page: String(pagination.page), pages: String(pagination.pages) })}</span>
      <button type='button' class='secondary' disabled={!pagination.hasNext} onClick={() => onPage(pagination.page + 1)}>{t('common.next')}</button>
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
