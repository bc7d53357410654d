import cookie from '@fastify/cookie'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from 'typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ApiKeyRow, UserRow } from '../../db/schema.ts'
import { ok } from '../../lib/envelope.ts'
import { authenticationFailed, HubError, invalidRequest } from '../../lib/errors.ts'
import { errorResponses, NoContent, Ref } from '../../lib/schemas.ts'
import { isAdmin, permissionsOf } from '../../access/index.ts'
import { addressKey } from '../../plugins/rate-limit.ts'
import { getUser } from '../users/service.ts'
import * as schemas from './schemas.ts'
import * as service from './service.ts'
import { ACCOUNT_POLICY, IP_POLICY, LoginThrottle } from './throttle.ts'
import { BrowserSessionCookies, CSRF_COOKIE, REFRESH_COOKIE } from './cookies.ts'
import { principalOf } from '../../plugins/access.ts'
import { requestLogsFrom } from '../../plugins/hub-log.ts'

function apiKeyDto (row: ApiKeyRow) {
  return {
    id: row.id,
    userId: row.userId,
    name: row.name,
    prefix: row.prefix,
    readOnly: row.readOnly,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null
  }
}

const SESSION_ONLY = 'Needs a signed-in session (a bearer token from login): API keys get 403.'
const CODE_GUESSES = 'Wrong codes count like failed sign-ins: after repeated failures further attempts get 401 with Retry-After for a growing delay.'

const auth: FastifyPluginAsyncTypebox = async (app) => {
  app.setChildLoggerFactory(requestLogsFrom('auth'))
  await app.register(cookie)
  for (const schema of schemas.SCHEMAS) app.addSchema(schema)
  const ctx = app.auth
  // Password and MFA code guesses, per account and per address; in Redis when configured, so every hub sees them.
  const accounts = new LoginThrottle({ policy: ACCOUNT_POLICY, now: ctx.now, redis: app.sharedRedis, name: 'account' })
  const addresses = new LoginThrottle({ policy: IP_POLICY, now: ctx.now, redis: app.sharedRedis, name: 'address' })

  /** 401 with Retry-After while the account or the caller's address is blocked by earlier failures. */
  async function refuseWhileBlocked (request: FastifyRequest, reply: FastifyReply, account: string, message: string): Promise<void> {
    const waitMs = Math.max(await accounts.retryAfterMs(account), await addresses.retryAfterMs(addressKey(request.ip)))
    if (waitMs > 0) {
      reply.header('retry-after', Math.ceil(waitMs / 1000))
      throw authenticationFailed(message)
    }
  }

  async function countFailure (request: FastifyRequest, account: string): Promise<void> {
    await accounts.fail(account)
    await addresses.fail(addressKey(request.ip))
  }

  /** Runs an MFA code check; a wrong code counts like a failed sign-in, and is refused meanwhile. */
  async function guardMfaCode (request: FastifyRequest, reply: FastifyReply, check: () => Promise<void>): Promise<void> {
    const principal = principalOf(request)
    const account = principal.username.toLowerCase()
    await refuseWhileBlocked(request, reply, account, 'Too many wrong MFA codes; try again later')
    try {
      await check()
    } catch (error) {
      if (error instanceof HubError && error.code !== 'RESOURCE_CONFLICT') {
        await countFailure(request, account)
        request.log.info({ userId: principal.userId }, 'wrong MFA code')
      }
      throw error
    }
  }

  /** A sign-in, for the trail: the account when there is one, else the name that was tried. */
  const recordSignIn = (request: FastifyRequest, username: string, outcome: 'success' | 'failure', reason: string | null, user?: Pick<UserRow, 'id' | 'username'>) => {
    app.activity.record(request, {
      action: 'auth.login',
      outcome,
      reason,
      actor: { userId: user?.id ?? null, username: user?.username ?? username },
      target: user === undefined ? null : { type: 'user', id: user.id, name: user.username }
    })
  }

  /** The access token of a session, and who it belongs to. */
  const accessFor = async (user: UserRow, sessionId: string) => ({
    token: app.issueAccessToken({ userId: user.id, role: user.role, sessionId }),
    expiresIn: service.ACCESS_TOKEN_TTL_SECONDS,
    user: { id: user.id, username: user.username, role: user.role, permissions: await permissionsOf(ctx.db, { userId: user.id, role: user.role }) }
  })

  const tokenPair = async (user: UserRow, grant: service.SessionGrant) => ({ ...await accessFor(user, grant.sessionId), refreshToken: grant.refreshToken })
  /** A browser's answer: the access token only (its refresh token travels in the cookie). */
  const bearerOnly = async (user: UserRow, grant: service.SessionGrant) => ({ ...await accessFor(user, grant.sessionId), tokenType: 'Bearer' as const })

  /** Checks a sign-in (throttled, with MFA when enrolled, recorded) and opens a session. */
  async function signIn (request: FastifyRequest, reply: FastifyReply, body: Static<typeof schemas.LoginBody>): Promise<service.SessionGrant & { user: UserRow }> {
    const { username, password, mfaCode } = body
    const accountKey = username.toLowerCase()
    try {
      await refuseWhileBlocked(request, reply, accountKey, 'Too many failed sign-in attempts; try again later')
    } catch (error) {
      if (error instanceof HubError) recordSignIn(request, username, 'failure', 'throttled')
      throw error
    }
    let user
    try {
      user = await service.checkCredentials(ctx.db, username, password)
      await service.checkMfaCode(ctx, user, mfaCode)
    } catch (error) {
      const awaitingCode = user !== undefined && mfaCode === undefined
      if (error instanceof HubError && !awaitingCode) {
        await countFailure(request, accountKey)
        request.log.info({ username: accountKey }, 'sign-in failed')
      }
      if (error instanceof service.CredentialsRefused) recordSignIn(request, username, 'failure', error.reason, error.user)
      throw error
    }
    await accounts.reset(accountKey)
    const grant = await service.openSession(ctx, user.id)
    request.log.info({ userId: user.id, sessionId: grant.sessionId }, 'signed in')
    recordSignIn(request, username, 'success', null, user)
    return { ...grant, user }
  }

  /** Spends a refresh token for the next one; refusals and reuse are recorded. */
  async function renew (request: FastifyRequest, refreshToken: string): Promise<service.SessionGrant & { user: UserRow }> {
    try {
      return await service.rotateRefreshToken(ctx, refreshToken)
    } catch (error) {
      // Routine renewals are not recorded (every 15 minutes per session); refusals and reuse are.
      if (error instanceof service.CredentialsRefused) {
        const { reason, user } = error
        app.activity.record(request, {
          action: reason === 'reused' ? 'auth.refresh-reuse' : 'auth.refresh',
          outcome: 'failure',
          reason,
          actor: user === undefined ? null : { userId: user.id, username: user.username },
          target: user === undefined ? null : { type: 'user', id: user.id, name: user.username }
        })
      }
      throw error
    }
  }

  app.post('/login', {
    config: { access: 'public', activity: { action: 'auth.login', manual: true } },
    schema: {
      operationId: 'login',
      tags: ['auth'],
      summary: 'Sign in with username, password and (if enrolled) a TOTP code',
      description: 'Wrong usernames and passwords get the same 401. Repeated failures delay further attempts on the account and from the address, with growing delays.',
      body: Ref(schemas.LoginBody),
      response: { 200: Ref(schemas.TokenPairEnvelope, 'Signed in: an access token and a refresh token'), ...errorResponses(401, 422, 429) }
    }
  }, async (request, reply) => {
    const { user, ...grant } = await signIn(request, reply, request.body)
    return ok(await tokenPair(user, grant))
  })

  app.post('/refresh', {
    config: { access: 'public', activity: { action: 'auth.refresh', manual: true } },
    schema: {
      operationId: 'refreshToken',
      tags: ['auth'],
      summary: 'Exchange a refresh token for a new token pair',
      description: 'The presented refresh token is spent. Presenting a spent one again revokes the whole session.',
      body: Ref(schemas.RefreshBody),
      response: { 200: Ref(schemas.TokenPairEnvelope, 'A new token pair (the refresh token sent is spent)'), ...errorResponses(401, 422, 429) }
    }
  }, async (request) => {
    const { user, ...grant } = await renew(request, request.body.refreshToken)
    return ok(await tokenPair(user, grant))
  })

  app.post('/logout', {
    config: { access: 'user', activity: { action: 'auth.logout', target: { type: 'user', self: true } } },
    schema: {
      operationId: 'logout',
      tags: ['auth'],
      summary: 'End this session: its access and refresh tokens stop working at once',
      response: { 204: NoContent, ...errorResponses(400) }
    }
  }, async (request, reply) => {
    const { sessionId } = principalOf(request)
    if (sessionId === undefined) throw invalidRequest('API keys have no session; revoke the key instead')
    await service.revokeSession(ctx, sessionId)
    return reply.code(204).send()
  })

  // The browser session (the dashboard): the refresh token in an HttpOnly cookie only this path
  // receives, the access token in the page's memory, and a double-submit CSRF token.
  const browser = new BrowserSessionCookies(`${app.prefix}/session`, ctx.now)

  app.post('/session', {
    config: { access: 'public', activity: { action: 'auth.login', manual: true } },
    schema: {
      operationId: 'openBrowserSession',
      tags: ['auth'],
      summary: 'Sign in a browser: the access token in the body, the refresh token in an HttpOnly cookie',
      description: `As POST /api/auth/login (same throttling, lockout and MFA), but the refresh token is set as the cookie \`${REFRESH_COOKIE}\` (HttpOnly, SameSite=Strict, Path=/api/auth/session, Secure over https) and never in the body. \`${CSRF_COOKIE}\` (SameSite=Strict, Path=/, readable by the page) holds the CSRF token to send as \`X-CSRF-Token\` to the other /api/auth/session operations.`,
      body: Ref(schemas.LoginBody),
      response: { 200: Ref(schemas.BrowserSessionEnvelope, 'Signed in: an access token; the refresh and CSRF tokens are in cookies'), ...errorResponses(401, 422, 429) }
    }
  }, async (request, reply) => {
    const { user, ...grant } = await signIn(request, reply, request.body)
    browser.open(request, reply, grant)
    return ok(await bearerOnly(user, grant))
  })

  app.post('/session/refresh', {
    config: { access: 'public', activity: { action: 'auth.refresh', manual: true } },
    schema: {
      operationId: 'refreshBrowserSession',
      tags: ['auth'],
      summary: 'A new access token for a browser, by its refresh cookie (rotated)',
      description: `Needs the \`${REFRESH_COOKIE}\` cookie (else 401) and the header \`X-CSRF-Token\` equal to the \`${CSRF_COOKIE}\` cookie (else 403). The refresh token is spent and a new one set as the cookie; presenting a spent one again revokes the whole session. No body.`,
      headers: schemas.CsrfHeaders,
      response: { 200: Ref(schemas.BrowserSessionEnvelope, 'A new access token; the new refresh token is in the cookie'), ...errorResponses(401, 403, 429) }
    }
  }, async (request, reply) => {
    const { user, ...grant } = await renew(request, browser.refreshToken(request))
    browser.renew(request, reply, grant)
    return ok(await bearerOnly(user, grant))
  })

  app.delete('/session', {
    config: { access: 'public', activity: { action: 'auth.logout', manual: true } },
    schema: {
      operationId: 'closeBrowserSession',
      tags: ['auth'],
      summary: 'Sign a browser out: ends the session and clears its cookies',
      description: `Needs the \`${REFRESH_COOKIE}\` cookie (else 401) and the header \`X-CSRF-Token\` equal to the \`${CSRF_COOKIE}\` cookie (else 403). The session's access and refresh tokens stop working at once, as after POST /api/auth/logout.`,
      headers: schemas.CsrfHeaders,
      response: { 204: NoContent, ...errorResponses(401, 403, 429) }
    }
  }, async (request, reply) => {
    const user = await service.revokeSessionOfRefreshToken(ctx, browser.refreshToken(request))
    app.activity.record(request, { action: 'auth.logout', actor: { userId: user.id, username: user.username }, target: { type: 'user', id: user.id, name: user.username } })
    browser.close(request, reply)
    return reply.code(204).send()
  })

  app.get('/verify', {
    config: { access: 'user' },
    schema: {
      operationId: 'verifyToken',
      tags: ['auth'],
      summary: 'Who the credentials belong to, and until when they are valid',
      response: { 200: Ref(schemas.VerificationEnvelope, 'The caller and how they signed in') }
    }
  }, async (request) => {
    const principal = principalOf(request)
    // A bearer token expires; an API key has its own expiry in the key list.
    const bearer = principal.sessionId === undefined ? undefined : request.headers.authorization?.slice('Bearer '.length)
    const exp = bearer === undefined ? undefined : app.jwt.decode<{ exp: number }>(bearer)?.exp
    return ok({
      user: { id: principal.userId, username: principal.username, role: principal.role, permissions: await permissionsOf(ctx.db, principal) },
      method: principal.apiKeyId === undefined ? 'token' as const : 'apiKey' as const,
      expiresAt: exp === undefined ? null : new Date(exp * 1000).toISOString()
    })
  })

  app.get('/mfa', {
    config: { access: 'user' },
    schema: {
      operationId: 'getMfaStatus',
      tags: ['auth'],
      summary: 'Whether MFA is enabled for the caller',
      response: { 200: Ref(schemas.MfaStatusEnvelope, 'The caller\'s MFA status') }
    }
  }, async (request) => {
    const user = await getUser(ctx.db, principalOf(request).userId)
    return ok({ enabled: user.mfaSecret !== null, pending: user.mfaPendingSecret !== null })
  })

  app.post('/mfa/enroll', {
    config: { access: 'user', activity: { action: 'auth.mfa.start', target: { type: 'user', self: true } } },
    schema: {
      operationId: 'startMfaEnrolment',
      tags: ['auth'],
      summary: 'Start MFA enrolment: a new TOTP secret, active once confirmed with a code',
      description: SESSION_ONLY,
      response: { 200: Ref(schemas.MfaEnrolmentEnvelope, 'The new TOTP secret, shown once'), ...errorResponses(403, 409) }
    }
  }, async (request) => {
    const principal = principalOf(request)
    service.requireSession(principal, 'MFA enrolment')
    const user = await getUser(ctx.db, principal.userId)
    return ok(await service.startMfaEnrolment(ctx, user), 'Scan the secret, then confirm with a code')
  })

  app.post('/mfa/confirm', {
    config: { access: 'user', activity: { action: 'auth.mfa.enroll', target: { type: 'user', self: true } } },
    schema: {
      operationId: 'confirmMfaEnrolment',
      tags: ['auth'],
      summary: 'Confirm MFA enrolment with a first code',
      description: `${SESSION_ONLY} ${CODE_GUESSES}`,
      body: Ref(schemas.MfaCodeBody),
      response: { 200: Ref(schemas.MfaStatusEnvelope, 'MFA is now enabled'), ...errorResponses(403, 409, 422) }
    }
  }, async (request, reply) => {
    const principal = principalOf(request)
    service.requireSession(principal, 'MFA enrolment')
    const user = await getUser(ctx.db, principal.userId)
    await guardMfaCode(request, reply, async () => await service.confirmMfaEnrolment(ctx, user, request.body.code))
    return ok({ enabled: true, pending: false }, 'MFA enabled')
  })

  app.post('/mfa/disable', {
    config: { access: 'user', activity: { action: 'auth.mfa.disable', target: { type: 'user', self: true } } },
    schema: {
      operationId: 'disableMfa',
      tags: ['auth'],
      summary: 'Turn MFA off (needs a current code)',
      description: `${SESSION_ONLY} ${CODE_GUESSES}`,
      body: Ref(schemas.MfaCodeBody),
      response: { 200: Ref(schemas.MfaStatusEnvelope, 'MFA is now disabled'), ...errorResponses(403, 409, 422) }
    }
  }, async (request, reply) => {
    const principal = principalOf(request)
    service.requireSession(principal, 'Turning MFA off')
    const user = await getUser(ctx.db, principal.userId)
    await guardMfaCode(request, reply, async () => await service.disableMfa(ctx, user, request.body.code))
    return ok({ enabled: false, pending: false }, 'MFA disabled')
  })

  app.delete('/mfa/:userId', {
    config: { access: 'admin', activity: { action: 'auth.mfa.reset', target: { type: 'user', param: 'userId' } } },
    schema: {
      operationId: 'resetMfa',
      tags: ['auth'],
      summary: 'Reset another user\'s MFA (admins), e.g. after a lost device',
      description: SESSION_ONLY,
      params: schemas.UserIdParams,
      response: { 204: NoContent, ...errorResponses(404, 422) }
    }
  }, async (request, reply) => {
    const principal = principalOf(request)
    service.requireSession(principal, 'Resetting MFA')
    await service.resetMfa(ctx, request.params.userId)
    request.log.info({ userId: request.params.userId, by: principal.userId }, 'MFA reset')
    return reply.code(204).send()
  })

  app.get('/api-keys', {
    config: { access: 'user' },
    schema: {
      operationId: 'listApiKeys',
      tags: ['auth'],
      summary: 'List API keys: the caller\'s own, or (admins) everyone\'s',
      querystring: schemas.ApiKeyListQuery,
      response: { 200: Ref(schemas.ApiKeyListEnvelope, 'The API keys (never the keys themselves)'), ...errorResponses(422) }
    }
  }, async (request) => {
    const principal = principalOf(request)
    const owner = isAdmin(principal) ? request.query.userId : principal.userId
    return ok((await service.listApiKeys(ctx, owner)).map(apiKeyDto))
  })

  app.post('/api-keys', {
    config: { access: 'user', activity: { action: 'auth.api-key.create', target: { type: 'api-key' } } },
    schema: {
      operationId: 'createApiKey',
      tags: ['auth'],
      summary: 'Create an API key for the caller; the key is shown only in this response',
      description: `${SESSION_ONLY} \`expiresAt\`, when given, must be in the future.`,
      body: Ref(schemas.CreateApiKeyBody),
      response: { 201: Ref(schemas.CreatedApiKeyEnvelope, 'The new API key, with the whole key this once'), ...errorResponses(403, 422) }
    }
  }, async (request, reply) => {
    const principal = principalOf(request)
    service.requireSession(principal, 'Creating an API key')
    const { row, key } = await service.createApiKey(ctx, principal.userId, request.body)
    app.activity.target(request, { id: row.id, name: row.name })
    reply.code(201)
    return ok({ ...apiKeyDto(row), key }, 'Store this key now: it is not shown again')
  })

  app.delete('/api-keys/:keyId', {
    config: { access: 'user', activity: { action: 'auth.api-key.revoke', target: { type: 'api-key', param: 'keyId' } } },
    schema: {
      operationId: 'revokeApiKey',
      tags: ['auth'],
      summary: 'Revoke an API key (one\'s own; admins: anyone\'s)',
      params: schemas.KeyIdParams,
      response: { 204: NoContent, ...errorResponses(404, 422) }
    }
  }, async (request, reply) => {
    await service.revokeApiKey(ctx, principalOf(request), request.params.keyId)
    return reply.code(204).send()
  })
}

export default auth
