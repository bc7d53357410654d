import t from 'tap'
import { build, DRIVERS, signIn } from './helper.ts'

const MINUTE = 60_000

for (const driver of DRIVERS) {
  t.test(`${driver}: an access token works for 15 minutes after it was issued, then never again`, async (t) => {
    let clock = Date.parse('2026-03-01T12:00:00Z')
    const app = await build(t, driver, { now: () => clock })
    const admin = await signIn(app)
    const verify = () => app.inject({ method: 'GET', url: '/api/auth/verify', headers: admin.headers })

    const fresh = await verify()
    t.equal(fresh.statusCode, 200)
    t.equal(fresh.json().data.expiresAt, new Date(clock + 15 * MINUTE).toISOString(), '/verify names an expiry 15 minutes out')

    clock += 15 * MINUTE - 1000
    t.equal((await verify()).statusCode, 200, 'still valid a second before its 15 minutes end')
    clock += 2000
    const expired = await verify()
    t.equal(expired.statusCode, 401, 'refused a second after its 15 minutes, although it was just used')
    t.equal(expired.json().error.code, 'AUTHENTICATION_FAILED')
    clock += 20 * MINUTE
    t.equal((await verify()).statusCode, 401, 'and 20 minutes later')
  })
}
