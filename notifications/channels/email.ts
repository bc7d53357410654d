import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import nodemailer from 'nodemailer'
import { privateRange, type EgressGuard } from '../../lib/egress.ts'
import type { Smtp } from '../../settings/schemas.ts'
import { DeliveryError } from '../failure.ts'
import type { EmailMessage } from '../message.ts'

/** How long the SMTP server may take: to accept the connection, to greet, between any two replies. */
export interface SmtpTimeouts {
  connectionMs: number
  greetingMs: number
  socketMs: number
}

const TIMEOUTS: SmtpTimeouts = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 30_000 }

/**
 * Sends one email over the configured SMTP server, connecting to the address the egress guard
 * checked (TLS still verifies the host's name). `secure`: TLS from the first byte; otherwise
 * STARTTLS when the server offers it, and required unless the server is a private address the
 * allow-list admitted (a relay on the local network may speak plain SMTP).
 */
export async function sendEmail (egress: EgressGuard, smtp: Smtp, to: string[], message: EmailMessage, timeouts: SmtpTimeouts = TIMEOUTS): Promise<void> {
  if (smtp.host === null) throw new DeliveryError('email: no SMTP server is set (smtp.host)')
  if (to.length === 0) throw new DeliveryError('email: nobody to send to (notifications.emailTo is empty)')
  const from = smtp.from ?? smtp.auth.user
  if (from === null) throw new DeliveryError('email: no sender address is set (smtp.from)')
  const host = smtp.host
  let address: string
  try {
    address = (await egress.resolve(host)).address
  } catch (error) {
    throw new DeliveryError(`email: ${(error as Error).message}`)
  }
  const onPrivateNetwork = privateRange(ipaddr.parse(address)) !== undefined
  const transport = nodemailer.createTransport({
    host: address,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && !onPrivateNetwork,
    // The certificate must name the host; an address is no server name (RFC 6066).
    tls: isIP(host) === 0 ? { servername: host } : {},
    ...(smtp.auth.user === null ? {} : { auth: { user: smtp.auth.user, pass: smtp.auth.pass ?? '' } }),
    connectionTimeout: timeouts.connectionMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    logger: false,
    debug: false
  })
  try {
    await transport.sendMail({ from, to, subject: message.subject, text: message.text, disableFileAccess: true, disableUrlAccess: true })
  } catch (error) {
    throw new DeliveryError(`email: ${smtpFailure(error as SmtpError, host)}`)
  } finally {
    transport.close()
  }
}

interface SmtpError extends Error {
  code?: string
  response?: string
  responseCode?: number
}

const TLS_PATTERN = /certificate|ssl|tls|self.signed/i

/** nodemailer's error in plain words, naming the host (never the password). */
function smtpFailure (error: SmtpError, host: string): string {
  const reply = error.response === undefined ? '' : `: the server said "${oneLine(error.response)}"`
  switch (error.code) {
    case 'EAUTH':
      return `authentication with ${host} failed${reply}`
    case 'ETIMEDOUT':
      return `${host} did not answer in time`
    case 'EENVELOPE':
      return `${host} refused the sender or a recipient${reply}`
    case 'EMESSAGE':
      return `${host} refused the message${reply}`
  }
  if (error.code === 'ETLS' || TLS_PATTERN.test(error.message)) return `TLS with ${host} failed: ${oneLine(error.message.replace(/^Error initiating TLS - /, ''))}`
  if (/ECONNREFUSED/.test(error.message)) return `${host} refused the connection`
  if (/ECONNRESET|closed unexpectedly|Connection closed/i.test(error.message)) return `${host} closed the connection`
  return `sending through ${host} failed: ${oneLine(error.message)}`
}

function oneLine (text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300)
}
