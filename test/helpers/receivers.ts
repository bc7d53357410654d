import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'

interface Tap {
  teardown(fn: () => unknown): void
}

export interface ReceivedRequest {
  path: string
  headers: IncomingHttpHeaders
  body: string
}

export interface HttpReceiver {
  url: string
  port: number
  requests: ReceivedRequest[]
  /** How the n-th request (1-based, counted since the last reset) is answered; null: never. */
  status: (n: number) => number | null
  /** Forgets the requests kept so far, and answers with `status` from now on: a fresh receiver for the next test. */
  reset(status?: (n: number) => number | null): void
}

/** A local HTTP receiver (Slack, a webhook): keeps every request and answers `status(n)` to the n-th (1-based); null: never answers. */
export async function startHttpReceiver (t: Tap, status: (n: number) => number | null = () => 200): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      requests.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
      const code = receiver.status(requests.length)
      if (code !== null) response.writeHead(code, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  const { port } = server.address() as AddressInfo
  const receiver: HttpReceiver = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    status,
    reset (next = () => 200) {
      requests.length = 0
      receiver.status = next
    }
  }
  return receiver
}

export interface ReceivedMail {
  from: string | false
  to: string[]
  subject: string
  text: string
}

/** The header's value and the body of a raw message (quoted-printable undone). */
function parseMail (raw: string): { subject: string, text: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/)
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ')
  const subject = /^subject: (.*)$/im.exec(unfolded)?.[1] ?? ''
  let text = rest.join('\n\n')
  if (/content-transfer-encoding: quoted-printable/i.test(unfolded)) {
    text = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
  return { subject, text: text.replace(/\r\n/g, '\n') }
}

/** A real SMTP server on a free port (smtp-server's own self-signed certificate for STARTTLS unless disabled). */
export async function startSmtpReceiver (t: Tap, options: SMTPServerOptions = {}): Promise<{ port: number, mails: ReceivedMail[] }> {
  const mails: ReceivedMail[] = []
  const server = new SMTPServer({
    authOptional: true,
    logger: false,
    ...options,
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom === false ? false : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          ...parseMail(Buffer.concat(chunks).toString('utf8'))
        })
        callback()
      })
    }
  })
  server.on('error', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.server.address() as AddressInfo).port, mails }
}
