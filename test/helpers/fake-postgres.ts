import { createServer, type Socket } from 'node:net'

interface Tap {
  teardown(fn: () => unknown): void
}

/** A PostgreSQL protocol message: type byte, length, body. */
function message (type: string, body: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeInt32BE(body.length + 4)
  return Buffer.concat([Buffer.from(type), length, body])
}

/**
 * A server that speaks just enough of the PostgreSQL protocol to refuse a password the way a
 * real one does (the local PostgreSQL trusts every connection, so it never asks for one): it
 * asks for a cleartext password, then answers 28P01. Resolves to its port; closed with the test.
 */
export async function passwordRefusingPostgres (t: Tap): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    let startup = true
    socket.on('data', () => {
      if (startup) {
        startup = false
        const cleartext = Buffer.alloc(4)
        cleartext.writeInt32BE(3)
        socket.write(message('R', cleartext))
        return
      }
      const fields = [['S', 'FATAL'], ['V', 'FATAL'], ['C', '28P01'], ['M', 'password authentication failed for user "mcphub"']]
      socket.end(message('E', Buffer.concat([...fields.map(([type, text]) => Buffer.from(`${type}${text}\0`)), Buffer.from('\0')])))
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return (server.address() as { port: number }).port
}
