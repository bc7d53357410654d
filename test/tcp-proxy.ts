import { createServer, connect, type Socket } from 'node:net'

/** A TCP proxy the test controls: `cut()` drops every connection and refuses new ones. */
export interface TcpProxy {
  port: number
  cut(): void
  restore(): void
  /** Holds every chunk from the target for this long before passing it on. */
  delay(ms: number): void
  /** New connections go to this port of the target's host. */
  retarget(port: number): void
  close(): Promise<void>
}

export async function startTcpProxy (target: { host: string, port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let open = true
  let delayMs = 0
  let targetPort = target.port
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = createServer((client) => {
    track(client)
    if (!open) {
      client.destroy()
      return
    }
    const upstream = connect(targetPort, target.host)
    track(upstream)
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      if (delayMs === 0) client.write(chunk)
      else setTimeout(() => client.write(chunk), delayMs)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  return {
    port: address.port,
    cut () {
      open = false
      for (const socket of sockets) socket.destroy()
    },
    restore () {
      open = true
    },
    delay (ms) {
      delayMs = ms
    },
    retarget (port) {
      targetPort = port
    },
    async close () {
      open = false
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
