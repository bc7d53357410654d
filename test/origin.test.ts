import t from 'tap'
import { isOwnOrigin } from '../lib/origin.ts'

t.test('an Origin is the hub\'s own only with the same scheme, host and port', async (t) => {
  const cases: Array<[origin: string, protocol: string, host: string | undefined, own: boolean]> = [
    ['http://127.0.0.1:3000', 'http', '127.0.0.1:3000', true],
    ['https://hub.example', 'https', 'hub.example', true],
    ['https://hub.example:443', 'https', 'hub.example', true],
    ['http://HUB.example', 'http', 'hub.example', true],
    ['https://127.0.0.1:3000', 'http', '127.0.0.1:3000', false],
    ['http://hub.example', 'https', 'hub.example', false],
    ['http://127.0.0.1:3001', 'http', '127.0.0.1:3000', false],
    ['http://127.0.0.1', 'http', '127.0.0.1:3000', false],
    ['http://localhost:3000', 'http', '127.0.0.1:3000', false],
    ['null', 'http', '127.0.0.1:3000', false],
    ['http://127.0.0.1:3000', 'http', undefined, false]
  ]
  for (const [origin, protocol, host, own] of cases) t.equal(isOwnOrigin(origin, protocol, host), own, `${origin} for ${protocol}://${host}`)
})
