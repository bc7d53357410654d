import type { Translation } from '../messages.ts'

export const en = {
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
  'servers.stopName': 'Stop {name}'
}

export const zh: Translation<typeof en> = {
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
  'servers.stopName': '停止 {name}'
}
