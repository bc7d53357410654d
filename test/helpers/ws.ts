import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import type { App } from '../../app.ts'

interface Tap {
  teardown(fn: () => unknown): void
}

/** A message from the hub. */
export type Message = Record<string, unknown> & { type: string }

export interface Client {
  socket: WebSocket
  send(message: unknown): void
  /** The next message not taken yet (waits for it); rejects if the socket closes first. */
  next(): Promise<Message>
  /** Takes messages until one matches (those before it are skipped); rejects if the socket closes first. */
  waitFor(match: (message: Message) => boolean): Promise<Message>
  /** Every message received so far, taken or not. */
  received: Message[]
  /** Settles with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number, reason: string }>
}

/** The app listening on 127.0.0.1 (port 0); returns its `/ws` URL. */
export async function listen (app: App): Promise<string> {
  if (app.server.listening) return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
}

/** Opens a socket (closed with the test) and waits until it is open; `localAddress` picks the address it comes from. */
export async function connect (t: Tap, url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<Client> {
  const socket = new WebSocket(url, { headers, ...(localAddress === undefined ? {} : { localAddress }) })
  t.teardown(() => { socket.terminate() })
  const received: Message[] = []
  let taken = 0
  const waiters = new Set<() => void>()
  let isClosed = false
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      isClosed = true
      for (const waiter of waiters) waiter()
      resolve({ code, reason: reason.toString() })
    })
  })
  socket.on('message', (data) => {
    received.push(JSON.parse(data.toString()) as Message)
    for (const waiter of waiters) waiter()
  })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('unexpected-response', (_request, response: IncomingMessage) => reject(new Error(`upgrade refused: ${response.statusCode}`)))
    socket.once('error', reject)
  })
  const waitFor = (match: (message: Message) => boolean) => new Promise<Message>((resolve, reject) => {
    const check = () => {
      while (taken < received.length) {
        const message = received[taken++]!
        if (match(message)) {
          waiters.delete(check)
          resolve(message)
          return
        }
      }
      if (isClosed) {
        waiters.delete(check)
        reject(new Error(`socket closed while waiting; received ${JSON.stringify(received).slice(-1000)}`))
      }
    }
    waiters.add(check)
    check()
  })
  return {
    socket,
    send: (message) => { socket.send(typeof message === 'string' ? message : JSON.stringify(message)) },
    next: () => waitFor(() => true),
    waitFor,
    received,
    closed
  }
}

/** Opens a socket and authenticates with an `auth` message; resolves after `authenticated`. */
export async function authedClient (t: Tap, url: string, credential: { token: string } | { apiKey: string }): Promise<Client> {
  const client = await connect(t, url)
  client.send({ type: 'auth', ...credential })
  const answer = await client.next()
  if (answer.type !== 'authenticated') throw new Error(`authentication failed: ${JSON.stringify(answer)}`)
  return client
}

/** Subscribes and resolves with the subscription id, after `subscribed`. */
export async function subscribe (client: Client, subscription: Record<string, unknown>): Promise<string> {
  client.send({ type: 'subscribe', ...subscription })
  const answer = await client.next()
  if (answer.type !== 'subscribed') throw new Error(`subscription refused: ${JSON.stringify(answer)}`)
  return answer.subscriptionId as string
}

/** The upgrade's refusal: its status and body (the upgrade must be refused). */
export async function refusedUpgrade (url: string, headers: Record<string, string>): Promise<{ status: number, body: unknown }> {
  const socket = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    socket.once('unexpected-response', (_request, response: IncomingMessage) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => {
        socket.terminate()
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) })
      })
    })
    socket.once('error', reject)
  })
}
