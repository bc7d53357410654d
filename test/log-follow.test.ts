import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { SkippingWriter } from '../lib/skipping-writer.ts'
import { build, DRIVERS, signIn } from './helper.ts'

// A follower that does not read never makes the hub hold more than a bound for it: it skips
// lines, and is told how many once it reads again.

const FIXTURE = new URL('./fixtures/mcp-server.ts', import.meta.url).pathname

t.test('a stream nobody reads holds at most the bound; the reader then hears how many lines it missed', async (t) => {
  const stream = new PassThrough({ highWaterMark: 1024 })
  const writer = new SkippingWriter(stream, 64 * 1024, (count) => `skipped ${count}\n`)
  const line = 'y'.repeat(1023) + '\n'
  let written = 0
  for (let n = 0; n < 1000; n++) if (writer.write(line)) written++
  t.ok(writer.buffered <= 64 * 1024, `${writer.buffered} bytes held`)
  t.equal(writer.skipped, 1000 - written, `${writer.skipped} lines skipped, counted`)
  t.ok(written >= 60, `${written} lines kept`)

  const received: string[] = []
  stream.on('data', (chunk: Buffer) => received.push(...chunk.toString().split('\n').filter(Boolean)))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(writer.buffered, 0, 'the reader caught up')
  writer.write('after\n')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(received.slice(written), [`skipped ${1000 - written}`, 'after'], 'told how many, then the next line')
})

for (const driver of DRIVERS) {
  t.test(`${driver}: a follower that stops reading skips lines while a server floods`, async (t) => {
    const app = await build(t, driver, { supervisorPolicy: { startTimeoutMs: 5000, stdinGraceMs: 300, stopTimeoutMs: 1000 } })
    const admin = await signIn(app)
    const created = await app.inject({
      method: 'POST',
      url: '/api/servers',
      headers: admin.headers,
      payload: { name: 'flood', command: process.execPath, args: [FIXTURE], env: { FIXTURE_MODE: 'flood-stderr', FIXTURE_FLOOD_BYTES: String(15 * 1024) }, enabled: false }
    })
    const id = created.json().data.id as string
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo

    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', path: `/api/servers/${id}/logs?follow=true&limit=1`, headers: admin.headers }, resolve)
      req.on('error', reject)
      t.teardown(() => req.destroy())
      req.end()
    })
    t.equal(response.statusCode, 200)
    response.pause()

    // The hub's own count of what the server logged: far more than any socket buffers hold.
    let produced = 0
    const enough = new Promise<void>((resolve) => {
      const stop = app.supervisor.get(id)!.logs.subscribe((entry) => {
        produced += entry.message.length
        if (produced >= 48 * 1024 * 1024) {
          stop()
          resolve()
        }
      })
    })
    const started = await app.inject({ method: 'POST', url: `/api/servers/${id}/start`, headers: admin.headers })
    t.equal(started.json().data.status, 'running')
    t.teardown(() => app.supervisor.get(id)?.stop({ graceful: false }))
    await enough

    let receivedBytes = 0
    let pending = ''
    const marker = await new Promise<string | undefined>((resolve) => {
      response.on('data', (chunk: Buffer) => {
        receivedBytes += chunk.length
        pending += chunk.toString('utf8')
        const lines = pending.split('\n')
        pending = lines.pop()!
        const found = lines.find((line) => line.includes('lines skipped'))
        if (found !== undefined) resolve(found)
        // Everything was held for it: no line was skipped.
        if (receivedBytes >= produced) resolve(undefined)
      })
      response.resume()
    })
    await app.supervisor.get(id)!.stop({ graceful: false })
    t.match(JSON.parse(marker ?? '{}'), { level: 'warning', source: 'supervisor', message: /^\d+ lines skipped: this reader is too slow$/ })
    t.ok(receivedBytes < produced / 2, `${Math.round(receivedBytes / 1024 / 1024)} MiB delivered of ${Math.round(produced / 1024 / 1024)} MiB logged`)
  })
}

/** Opens a follow stream over a real socket; `ended` settles when the hub ends the response. */
async function follow (t: Test, port: number, id: string, headers: Record<string, string>) {
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: `/api/servers/${id}/logs?follow=true`, headers }, resolve)
    req.on('error', reject)
    t.teardown(() => req.destroy())
    req.end()
  })
  t.equal(response.statusCode, 200, 'the stream is open')
  const ended = new Promise<void>((resolve) => response.on('end', resolve))
  response.resume()
  return { ended }
}

for (const driver of DRIVERS) {
  t.test(`${driver}: follow streams end`, async (t) => {
    // One listening hub for both: the first deletes a server of its own, the second closes the hub.
    const app = await build(t, driver)
    const admin = await signIn(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const create = async (name: string) => (await app.inject({ method: 'POST', url: '/api/servers', headers: admin.headers, payload: { name, command: 'true', enabled: false } })).json().data.id as string

    t.test('deleting a server ends its follow streams', async (t) => {
      const id = await create('deleted')
      const { ended } = await follow(t, port, id, admin.headers)
      const deleted = await app.inject({ method: 'DELETE', url: `/api/servers/${id}`, headers: admin.headers })
      t.equal(deleted.statusCode, 204)
      await ended
      t.pass('the stream ended')
    })

    t.test('closing the hub ends open follow streams', async (t) => {
      const { ended } = await follow(t, port, await create('followed'), admin.headers)
      await app.close()
      await ended
      t.pass('the stream ended')
    })
  })
}
