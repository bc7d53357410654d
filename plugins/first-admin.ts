import fp from 'fastify-plugin'
import { randomPassword } from '../lib/passwords.ts'
import { createFirstAdmin } from '../routes/users/service.ts'

export interface FirstAdminOptions {
  username: string
  /** The configured password; when absent a random one is generated and printed once. */
  password: string | undefined
  /** Where the generated password is shown: once, never through the logger. */
  print: (text: string) => void
}

/** No hub runs without an admin, and none ever has a known default password. */
export default fp<FirstAdminOptions>(async (app, { username, password, print }) => {
  const chosen = password ?? randomPassword()
  const created = await createFirstAdmin(app.db, username, chosen)
  if (!created) return
  app.log.info({ username }, 'first admin created')
  if (password === undefined) {
    print([
      '',
      'MCPHub created the first admin account:',
      `  username: ${username}`,
      `  password: ${chosen}`,
      'This password is shown only this once. Sign in and change it.',
      ''
    ].join('\n'))
  }
}, { name: 'first-admin', dependencies: ['db'] })
