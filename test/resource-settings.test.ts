import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { build, DRIVERS, signIn, type Driver } from './helper.ts'

const FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname

/** A listening hub running the conformance fixture as `name`, and an admin's API caller that throws on failure. */
async function hubWithServer (t: Parameters<typeof build>[0], driver: Driver, name: string) {
  const app = await build(t, driver, { supervisorPolicy: { startTimeoutMs: 15_000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = await signIn(app)
  const api = async (method: 'POST' | 'PUT', url: string, payload?: object) => {
    const res = await app.inject({ method, url, headers: admin.headers, ...(payload === undefined ? {} : { payload }) })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.body}`)
    return res.body === '' ? undefined : res.json().data
  }
  const server = await api('POST', '/api/servers', { name, command: process.execPath, args: [FIXTURE], enabled: false }) as { id: string, key: string }
  await api('POST', `/api/servers/${server.id}/start`)
  return { app, base, admin, api, server }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: a resource admins disabled is never reached, not even through a matching template`, async (t) => {
    const { base, admin, api, server } = await hubWithServer(t, driver, 'templated')
    // The server's template is test://template/{id}/data; this URI is not listed, only matched.
    const secret = 'test://template/secret/data'
    await api('PUT', `/api/servers/${server.id}/tools`, { kind: 'resource', name: secret, enabled: false })

    for (const path of [`/mcp/servers/${server.key}`, '/mcp']) {
      const client = new Client({ name: 'reader', version: '1.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(`${base}${path}`), { requestInit: { headers: admin.headers } }))
      t.teardown(() => client.close())
      t.match(JSON.stringify(await client.readResource({ uri: 'test://template/other/data' })), /Data for ID: other/, `${path}: the template still serves other URIs`)
      await t.rejects(client.readResource({ uri: secret }), /Unknown resource/, `${path}: read`)
      await t.rejects(client.readResource({ uri: 'test://template/%73ecret/data' }), /Unknown resource/, `${path}: read, percent-encoded`)
      await t.rejects(client.subscribeResource({ uri: secret }), /Unknown resource/, `${path}: subscribe`)
      await t.rejects(client.complete({ ref: { type: 'ref/resource', uri: secret }, argument: { name: 'id', value: 'pa' } }), /Unknown resource/, `${path}: completion`)
      t.same((await client.complete({ ref: { type: 'ref/resource', uri: 'test://template/{id}/data' }, argument: { name: 'id', value: 'pa' } })).completion.values, ['paris', 'park', 'party'], `${path}: the template's own completions still work`)
    }

    await api('PUT', `/api/servers/${server.id}/tools`, { kind: 'resource', name: secret, enabled: true })
    const client = new Client({ name: 'reader', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
    t.teardown(() => client.close())
    t.match(JSON.stringify(await client.readResource({ uri: secret })), /Data for ID: secret/, 'enabled again, it is read again')
  })
}

for (const driver of DRIVERS) {
  t.test(`${driver}: a subscription to a resource admins then disable hears no more of it and is not renewed`, async (t) => {
    const { base, admin, api, server } = await hubWithServer(t, driver, 'watched')
    const watched = 'test://watched-resource'
    const other = 'test://template/other/data'

    // The fixture tells a subscriber of a change at once, on every subscription it hears.
    const client = new Client({ name: 'subscriber', version: '1.0.0' })
    const updates: string[] = []
    let heard = () => {}
    client.setNotificationHandler('notifications/resources/updated', (notification) => {
      updates.push(notification.params.uri)
      heard()
    })
    const updatesReach = async (count: number) => {
      while (updates.length < count) await new Promise<void>((resolve) => { heard = resolve })
    }
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/servers/${server.key}`), { requestInit: { headers: admin.headers } }))
    t.teardown(() => client.close())
    await client.subscribeResource({ uri: watched })
    await client.subscribeResource({ uri: other })
    await updatesReach(2)

    await api('PUT', `/api/servers/${server.id}/tools`, { kind: 'resource', name: watched, enabled: false })
    await api('POST', `/api/servers/${server.id}/restart`)
    // The server hears the subscriptions again in the order they were made: once `other` is heard, `watched` would have been.
    await updatesReach(3)
    t.same(updates.slice(2), [other], 'after the restart, only the subscription still allowed is renewed and heard')

    await api('PUT', `/api/servers/${server.id}/tools`, { kind: 'resource', name: watched, enabled: true })
    t.match(JSON.stringify(await client.readResource({ uri: watched })), /not subscribed/, 'the server was not subscribed to the disabled resource again')
  })
}
