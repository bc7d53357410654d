/**
 * A notification that could not be delivered, said in plain words (refused address, DNS, TLS,
 * authentication failed, HTTP status): what an admin reads in the attempt's record. Never a
 * secret, never a URL (a Slack URL is its token).
 */
export class DeliveryError extends Error {
  /** Retrying cannot help until an admin changes something (the channel is turned off). */
  readonly permanent: boolean

  constructor (message: string, options: { permanent?: boolean } = {}) {
    super(message)
    this.name = 'DeliveryError'
    this.permanent = options.permanent ?? false
  }
}
