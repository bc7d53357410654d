import { createHash } from 'node:crypto'

/**
 * The SDKs' view of the published OpenAPI document: every operation with the resource and
 * method it is reached by (`client.servers.list`), its parameters, body and result. Both
 * language emitters build from this model, so the two SDKs name and shape things alike.
 */

export type JsonSchema = Record<string, unknown>

export interface OpenApiDocument {
  info: { title: string, version: string }
  paths: Record<string, Record<string, OpenApiOperation>>
  components: { schemas: Record<string, JsonSchema> }
}

interface OpenApiParameter {
  name: string
  in: 'path' | 'query' | 'header'
  required?: boolean
  description?: string
  schema: JsonSchema
}

interface OpenApiOperation {
  operationId: string
  summary?: string
  description?: string
  security?: unknown[]
  parameters?: OpenApiParameter[]
  requestBody?: { required?: boolean, content: Record<string, { schema: JsonSchema }> }
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>
}

export interface SdkParameter {
  name: string
  required: boolean
  description: string | undefined
  schema: JsonSchema
}

export interface SdkOperation {
  operationId: string
  /** `servers` in `client.servers.list()`. */
  resource: string
  /** `list` in `client.servers.list()` (camelCase; the Python SDK snake_cases it). */
  method: string
  /** The page iterator's name (`iterate`, `iterateMembers`) when the result is a page. */
  iterator: string | undefined
  httpMethod: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** `/api/servers/{serverId}`. */
  path: string
  /** Path parameters in the order they appear in the path: the method's leading arguments. */
  pathParams: SdkParameter[]
  queryParams: SdkParameter[]
  headerParams: SdkParameter[]
  body: { schema: JsonSchema, required: boolean } | undefined
  /** 200, 201 or 204. */
  successStatus: number
  /** `application/json` (the envelope's `data` is the result), `text/plain`, or none (204). */
  resultType: 'json' | 'text' | 'none'
  /** The envelope's `data` schema (or the whole body when the answer is not enveloped). */
  result: JsonSchema | undefined
  /** Whether the JSON answer is the `{ success, data, timestamp }` envelope. */
  enveloped: boolean
  /** `page`: `page`/`limit` with `pagination.hasNext`; `cursor`: `cursor` with `pagination.nextCursor`. */
  paging: 'page' | 'cursor' | undefined
  /**
   * Operations that also answer an NDJSON stream: the query switch that asks for it (`follow`,
   * left out of `queryParams`), and the stream's line schema. The hand-made `followLogs` /
   * `follow_logs` read the stream.
   */
  stream: { switch: string, line: JsonSchema } | undefined
  /** Whether the operation is open without credentials. */
  public: boolean
  summary: string
  description: string | undefined
}

export interface SdkModel {
  title: string
  /** `info.version`: the SDKs are versioned with the API. */
  version: string
  /** sha256 of the document the SDKs were generated from. */
  documentHash: string
  schemas: Record<string, JsonSchema>
  operations: SdkOperation[]
}

/**
 * Where each operation lives in the SDKs: `operationId` → [resource, method]. The one
 * hand-made part of the generated surface; an operation missing here stops the generator, so
 * a new route cannot ship without a name in the SDKs.
 */
export const OPERATION_NAMES: Record<string, [resource: string, method: string]> = {
  getHealth: ['hub', 'health'],
  getReadiness: ['hub', 'readiness'],

  login: ['auth', 'login'],
  refreshToken: ['auth', 'refresh'],
  logout: ['auth', 'logout'],
  openBrowserSession: ['auth', 'openSession'],
  refreshBrowserSession: ['auth', 'refreshSession'],
  closeBrowserSession: ['auth', 'closeSession'],
  verifyToken: ['auth', 'verify'],
  getMfaStatus: ['auth', 'mfaStatus'],
  startMfaEnrolment: ['auth', 'enrollMfa'],
  confirmMfaEnrolment: ['auth', 'confirmMfa'],
  disableMfa: ['auth', 'disableMfa'],
  resetMfa: ['auth', 'resetMfa'],
  listApiKeys: ['auth', 'listApiKeys'],
  createApiKey: ['auth', 'createApiKey'],
  revokeApiKey: ['auth', 'revokeApiKey'],

  listUsers: ['users', 'list'],
  createUser: ['users', 'create'],
  getUser: ['users', 'get'],
  updateUser: ['users', 'update'],
  deleteUser: ['users', 'delete'],

  listGroups: ['groups', 'list'],
  createGroup: ['groups', 'create'],
  getGroup: ['groups', 'get'],
  updateGroup: ['groups', 'update'],
  deleteGroup: ['groups', 'delete'],
  listGroupMembers: ['groups', 'listMembers'],
  addGroupMember: ['groups', 'addMember'],
  updateGroupMember: ['groups', 'updateMember'],
  removeGroupMember: ['groups', 'removeMember'],
  approveGroupMember: ['groups', 'approveMember'],
  listGroupServers: ['groups', 'listServers'],
  assignGroupServer: ['groups', 'assignServer'],
  updateGroupServer: ['groups', 'updateServer'],
  removeGroupServer: ['groups', 'removeServer'],

  listServers: ['servers', 'list'],
  createServer: ['servers', 'create'],
  importServers: ['servers', 'import'],
  exportServers: ['servers', 'export'],
  getServer: ['servers', 'get'],
  updateServer: ['servers', 'update'],
  deleteServer: ['servers', 'delete'],
  startServer: ['servers', 'start'],
  stopServer: ['servers', 'stop'],
  restartServer: ['servers', 'restart'],
  getServerTools: ['servers', 'tools'],
  updateServerTool: ['servers', 'updateTool'],
  getServerLogs: ['servers', 'logs'],

  getMonitoringStatus: ['monitoring', 'status'],
  getMetrics: ['monitoring', 'metrics'],
  listActivity: ['monitoring', 'activity'],
  listHubLogs: ['monitoring', 'logs'],
  listAlerts: ['monitoring', 'alerts'],
  getAlert: ['monitoring', 'alert'],
  getPrometheusMetrics: ['monitoring', 'prometheus'],

  getConfig: ['config', 'get'],
  updateConfig: ['config', 'update'],
  testNotifications: ['config', 'testNotifications']
}

const HTTP_METHODS = ['get', 'post', 'put', 'delete'] as const

/** `list` → `iterate`, `listMembers` → `iterateMembers`, `activity` → `iterateActivity`. */
function iteratorName (method: string): string {
  if (method === 'list') return 'iterate'
  if (method.startsWith('list')) return `iterate${method.slice(4)}`
  return `iterate${method[0]!.toUpperCase()}${method.slice(1)}`
}

export function buildModel (document: OpenApiDocument, documentText: string): SdkModel {
  const schemas = document.components.schemas
  const resolve = (schema: JsonSchema): JsonSchema => {
    const ref = schema.$ref
    if (typeof ref !== 'string') return schema
    const target = schemas[ref.replace('#/components/schemas/', '')]
    if (target === undefined) throw new Error(`unknown schema ${ref}`)
    return target
  }

  const operations: SdkOperation[] = []
  const unnamed: string[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    for (const httpMethod of HTTP_METHODS) {
      const operation = item[httpMethod]
      if (operation === undefined) continue
      const names = OPERATION_NAMES[operation.operationId]
      if (names === undefined) {
        unnamed.push(`${httpMethod.toUpperCase()} ${path} (${operation.operationId})`)
        continue
      }
      const [resource, method] = names
      const parameters = (operation.parameters ?? []).map((p) => ({ in: p.in, name: p.name, required: p.required === true, description: p.description, schema: p.schema }))
      const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => {
        const parameter = parameters.find((p) => p.in === 'path' && p.name === match[1])
        if (parameter === undefined) throw new Error(`${operation.operationId}: path parameter ${match[1]} is not declared`)
        return parameter
      })
      const [status, response] = Object.entries(operation.responses).find(([code]) => code.startsWith('2'))!
      const content = response.content ?? {}
      let resultType: SdkOperation['resultType'] = 'none'
      let result: JsonSchema | undefined
      let enveloped = false
      if (content['application/json'] !== undefined) {
        resultType = 'json'
        const body = resolve(content['application/json'].schema)
        const properties = body.properties as Record<string, JsonSchema> | undefined
        enveloped = properties?.success !== undefined && properties.data !== undefined
        result = enveloped ? properties!.data : content['application/json'].schema
      } else if (content['text/plain'] !== undefined) {
        resultType = 'text'
        result = content['text/plain'].schema
      }
      let paging: SdkOperation['paging']
      const data = result === undefined ? undefined : resolve(result)
      const pagination = (data?.properties as Record<string, JsonSchema> | undefined)?.pagination
      if (pagination !== undefined) {
        const fields = Object.keys(resolve(pagination).properties as object)
        paging = fields.includes('nextCursor') ? 'cursor' : 'page'
      }
      const ndjson = content['application/x-ndjson']
      const streamSwitch = parameters.find((p) => p.in === 'query' && p.name === 'follow' && p.schema.type === 'boolean')
      if (ndjson !== undefined && streamSwitch === undefined) throw new Error(`${operation.operationId}: an NDJSON answer without a boolean \`follow\` query parameter`)
      const body = operation.requestBody?.content['application/json']
      const strip = ({ in: _in, ...parameter }: (typeof parameters)[number]): SdkParameter => parameter
      operations.push({
        operationId: operation.operationId,
        resource,
        method,
        iterator: paging === undefined ? undefined : iteratorName(method),
        httpMethod: httpMethod.toUpperCase() as SdkOperation['httpMethod'],
        path,
        pathParams: pathParams.map(strip),
        queryParams: parameters.filter((p) => p.in === 'query' && p !== streamSwitch).map(strip),
        headerParams: parameters.filter((p) => p.in === 'header').map(strip),
        body: body === undefined ? undefined : { schema: body.schema, required: operation.requestBody!.required === true },
        successStatus: Number(status),
        resultType,
        result,
        enveloped,
        paging,
        stream: ndjson === undefined ? undefined : { switch: streamSwitch!.name, line: ndjson.schema },
        public: Array.isArray(operation.security) && operation.security.length === 0,
        summary: operation.summary ?? operation.operationId,
        description: operation.description
      })
    }
  }
  if (unnamed.length > 0) {
    throw new Error(`operations without a name in the SDKs (add them to OPERATION_NAMES in sdk/generate/model.ts):\n  ${unnamed.join('\n  ')}`)
  }
  const stale = Object.keys(OPERATION_NAMES).filter((id) => !operations.some((o) => o.operationId === id))
  if (stale.length > 0) throw new Error(`OPERATION_NAMES names operations the document does not have: ${stale.join(', ')}`)

  return {
    title: document.info.title,
    version: document.info.version,
    documentHash: createHash('sha256').update(documentText).digest('hex'),
    schemas,
    operations
  }
}
