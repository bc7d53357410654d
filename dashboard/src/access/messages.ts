import type { Translation } from '../messages.ts'

export const en = {
}

export const zh: Translation<typeof en> = {
}
