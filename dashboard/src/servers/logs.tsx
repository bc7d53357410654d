import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { LogLine } from '../../../sdk/js/src/index.ts'
import { useI18n } from '../i18n.ts'
import { sessionEnded } from '../session.ts'
import { useSession } from '../session-context.ts'
import { CheckboxField, SelectField, Time, messageOf } from '../ui.tsx'

type Level = LogLine['level']

const LEVELS: Level[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']

/** The newest lines kept on the page; older ones drop off the top. */
export const KEPT_LINES = 500

const keepNewest = (lines: LogLine[]) => lines.length > KEPT_LINES ? lines.slice(-KEPT_LINES) : lines

/**
 * A server's log as it is written (`followLogs`: the recent lines, then each new one), from a
 * chosen level up; paused, new lines wait aside; following, the view keeps to the newest line.
 * The stream ends when the page closes or the level changes.
 */
export function LogTail ({ serverId }: { serverId: string }) {
  const { t } = useI18n()
  const { client, ended } = useSession()
  const [level, setLevel] = useState<Level>('debug')
  const [lines, setLines] = useState<LogLine[]>([])
  const [waiting, setWaiting] = useState<LogLine[]>([])
  const [paused, setPaused] = useState(false)
  const [follow, setFollow] = useState(true)
  const [error, setError] = useState<string | undefined>(undefined)
  const pausedRef = useRef(paused)
  pausedRef.current = paused
  const box = useRef<HTMLOListElement>(null)

  useEffect(() => {
    const stop = new AbortController()
    setLines([])
    setWaiting([])
    setError(undefined)
    const read = async () => {
      for await (const line of client.servers.followLogs(serverId, { level, signal: stop.signal })) {
        if (pausedRef.current) setWaiting((held) => keepNewest([...held, line]))
        else setLines((shown) => keepNewest([...shown, line]))
      }
    }
    read().catch((failure: unknown) => {
      if (stop.signal.aborted) return
      if (sessionEnded(failure)) ended()
      else setError(messageOf(failure))
    })
    return () => stop.abort()
  }, [client, ended, serverId, level])

  useLayoutEffect(() => {
    const element = box.current
    if (follow && element !== null) element.scrollTop = element.scrollHeight
  }, [lines, follow])

  const resume = () => {
    setLines((shown) => keepNewest([...shown, ...waiting]))
    setWaiting([])
    setPaused(false)
  }

  const levels: Array<[Level, string]> = LEVELS.map((one) => [one, t(`servers.logs.level.${one}`)])
  return (
    <section class='log-tail' aria-labelledby='server-logs'>
      <h2 id='server-logs'>{t('servers.logs.title')}</h2>
      <div class='log-controls'>
        <SelectField label={t('servers.logs.minLevel')} value={level} onValue={setLevel} options={levels} />
        <button type='button' class='secondary' aria-pressed={paused} onClick={() => { if (paused) resume(); else setPaused(true) }}>
          {paused ? t('servers.logs.resume') : t('servers.logs.pause')}
        </button>
        <CheckboxField label={t('servers.logs.follow')} checked={follow} onValue={setFollow} />
      </div>
      {paused && <p class='hint' role='status'>{t('servers.logs.waiting', { count: String(waiting.length) })}</p>}
      {error !== undefined && <p role='alert' class='error'>{error}</p>}
      <ol class='log' ref={box} tabIndex={0} aria-label={t('servers.logs.lines')}>
        {lines.length === 0 && <li class='hint'>{t('servers.logs.empty')}</li>}
        {lines.map((line, index) => (
          <li key={index} class={`log-line level-${line.level}`} data-level={line.level} data-source={line.source}>
            <Time at={line.time} /> <span class='log-level'>{line.level}</span> <span class='log-source'>{line.source}</span> {line.message}
          </li>
        ))}
      </ol>
    </section>
  )
}
