import { createContext } from 'preact'
import { useContext } from 'preact/hooks'

const en = {
  'app.title': 'MCPHub',
  'app.signedInAs': 'Signed in as {name}',
  'app.signOut': 'Sign out',
  'app.language': 'Language',
  'app.loading': 'Loading…',
  'signIn.title': 'Sign in',
  'signIn.username': 'Username',
  'signIn.password': 'Password',
  'signIn.mfaCode': 'MFA code',
  'signIn.mfaHint': 'Enter the 6-digit code from your authenticator app.',
  'signIn.submit': 'Sign in',
  'signIn.working': 'Signing in…',
  'servers.title': 'Servers',
  'servers.live': 'Live updates on',
  'servers.connecting': 'Connecting to live updates…',
  'servers.empty': 'No servers yet.',
  'servers.name': 'Name',
  'servers.status': 'Status',
  'servers.actions': 'Actions',
  'servers.start': 'Start',
  'servers.stop': 'Stop',
  'servers.startName': 'Start {name}',
  'servers.stopName': 'Stop {name}',
  'status.stopped': 'Stopped',
  'status.starting': 'Starting',
  'status.running': 'Running',
  'status.stopping': 'Stopping',
  'status.backoff': 'Waiting to restart',
  'status.error': 'Error'
}

export type MessageKey = keyof typeof en

const zh: Record<MessageKey, string> = {
  'app.title': 'MCPHub',
  'app.signedInAs': '已登录：{name}',
  'app.signOut': '退出登录',
  'app.language': '语言',
  'app.loading': '加载中…',
  'signIn.title': '登录',
  'signIn.username': '用户名',
  'signIn.password': '密码',
  'signIn.mfaCode': '多因素验证码',
  'signIn.mfaHint': '请输入身份验证器应用中的 6 位验证码。',
  'signIn.submit': '登录',
  'signIn.working': '正在登录…',
  'servers.title': '服务器',
  'servers.live': '实时更新已开启',
  'servers.connecting': '正在连接实时更新…',
  'servers.empty': '还没有服务器。',
  'servers.name': '名称',
  'servers.status': '状态',
  'servers.actions': '操作',
  'servers.start': '启动',
  'servers.stop': '停止',
  'servers.startName': '启动 {name}',
  'servers.stopName': '停止 {name}',
  'status.stopped': '已停止',
  'status.starting': '启动中',
  'status.running': '运行中',
  'status.stopping': '停止中',
  'status.backoff': '等待重启',
  'status.error': '出错'
}

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
