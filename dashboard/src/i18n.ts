import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import * as access from './access/messages.ts'
import * as core from './messages.ts'
import * as ops from './ops/messages.ts'
import * as servers from './servers/messages.ts'

const en = { ...core.en, ...servers.en, ...access.en, ...ops.en }

export type MessageKey = keyof typeof en

const zh: Record<MessageKey, string> = { ...core.zh, ...servers.zh, ...access.zh, ...ops.zh }

export const LANGUAGES = { en: { name: 'English', tag: 'en', messages: en }, zh: { name: '中文', tag: 'zh-CN', messages: zh } }

export type Language = keyof typeof LANGUAGES

/** Where the choice is kept: a preference, not a secret. */
const STORAGE_KEY = 'mcphub.language'

export function savedLanguage (): Language {
  const saved = localStorage.getItem(STORAGE_KEY)
  return saved === 'zh' ? 'zh' : 'en'
}

export function saveLanguage (language: Language): void {
  localStorage.setItem(STORAGE_KEY, language)
  document.documentElement.lang = LANGUAGES[language].tag
}

export type Translate = (key: MessageKey, values?: Record<string, string>) => string

export function translator (language: Language): Translate {
  const messages = LANGUAGES[language].messages
  return (key, values = {}) => messages[key].replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? '')
}

export const I18n = createContext<{ language: Language, setLanguage: (language: Language) => void, t: Translate }>({
  language: 'en',
  setLanguage: () => {},
  t: translator('en')
})

export const useI18n = () => useContext(I18n)
