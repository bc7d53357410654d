import type { JsonSchema, SdkModel, SdkOperation, SdkParameter } from './model.ts'

/**
 * The Python SDK's generated part: `mcphub_sdk/_types.py` (a TypedDict per component schema),
 * `mcphub_sdk/_resources.py` (a class per resource, a method per operation, each calling the
 * hand-made transport's `request`), `mcphub_sdk/_version.py` and `pyproject.toml` (versioned
 * with the API). The runtime around them (client, transport, errors, build backend) is hand-made.
 */

const PACKAGE = 'sdk/python'
const MODULE = `${PACKAGE}/mcphub_sdk`

const PYTHON_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif',
  'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or',
  'pass', 'raise', 'return', 'try', 'while', 'with', 'yield'
])

/** `serverId` → `server_id`, `if-match` → `if_match`, `import` → `import_`. */
export function pythonName (name: string): string {
  const snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()
  return PYTHON_KEYWORDS.has(snake) ? `${snake}_` : snake
}

const isIdentifier = (key: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !PYTHON_KEYWORDS.has(key)
const pascal = (name: string) => name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('')
const literal = (value: unknown) => typeof value === 'string' ? pyString(value) : value === true ? 'True' : value === false ? 'False' : value === null ? 'None' : String(value)
/** A Python string literal (JSON's escapes are Python's for what the document holds), in single quotes unless it holds one. */
function pyString (text: string): string {
  const escaped = JSON.stringify(text).slice(1, -1)
  if (text.includes("'") && !text.includes('"')) return `"${escaped}"`
  return `'${escaped.replace(/\\"/g, '"').replace(/'/g, "\\'")}'`
}
/** One line of documentation text. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim()
/** Text safe inside a docstring. */
const docText = (text: string) => text.replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"')
/** One line ending with a full stop. */
const sentence = (text: string) => { const line = oneLine(text); return /[.!?]$/.test(line) ? line : `${line}.` }
const docstring = (text: string, indent: string) => `${indent}"""${docText(oneLine(text)).replace(/"$/, '" ')}"""\n`
const refName = (ref: string) => ref.replace('#/components/schemas/', '')

interface Field {
  key: string
  type: string
  required: boolean
  description: string | undefined
}

/** Python type expressions for schemas, and the TypedDicts they need (named after where they appear). */
class TypeWriter {
  /** The types `_types.py` defines (TypedDicts and aliases), in the order they were first needed. */
  readonly definitions: Array<{ name: string, text: string }> = []
  readonly #named = new Map<JsonSchema, string>()
  readonly #taken = new Set<string>()
  readonly #schemas: Record<string, JsonSchema>

  constructor (schemas: Record<string, JsonSchema>) {
    this.#schemas = schemas
    for (const name of Object.keys(schemas)) this.#taken.add(name)
  }

  /** The component a `$ref` names, or the schema itself. */
  resolve (schema: JsonSchema): JsonSchema {
    return typeof schema.$ref === 'string' ? this.#schemas[refName(schema.$ref)]! : schema
  }

  /** A component schema: a TypedDict, or an alias for anything that is not an object. */
  defineComponent (name: string, schema: JsonSchema): void {
    if (this.#isObject(schema)) this.#defineObject(name, schema)
    else this.definitions.push({ name, text: `${schema.description === undefined ? '' : `#: ${oneLine(String(schema.description))}\n`}${name} = ${this.type(schema, name)}\n` })
  }

  /** The type of `schema`; inline objects become TypedDicts named `hint`. */
  type (schema: JsonSchema | undefined, hint: string): string {
    if (schema === undefined || Object.keys(schema).filter((key) => !['description', 'examples', 'default'].includes(key)).length === 0) return 'Any'
    if (typeof schema.$ref === 'string') return refName(schema.$ref)
    if ('const' in schema) return `Literal[${literal(schema.const)}]`
    if (Array.isArray(schema.enum)) {
      const values = schema.enum.filter((value) => value !== null)
      const type = `Literal[${values.map(literal).join(', ')}]`
      return values.length < schema.enum.length ? `Optional[${type}]` : type
    }
    const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined
    if (variants !== undefined) return this.#union(variants.map((variant, i) => this.type(variant, `${hint}${i + 1}`)))
    if (this.#isObject(schema)) {
      const existing = this.#named.get(schema)
      if (existing !== undefined) return existing
      const name = this.#freshName(hint)
      this.#defineObject(name, schema)
      return name
    }
    const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string | undefined]
    return this.#union(types.map((type) => {
      switch (type) {
        case 'string': return 'str'
        case 'integer': return 'int'
        case 'number': return 'float'
        case 'boolean': return 'bool'
        case 'null': return 'None'
        case 'array': return `List[${this.type(schema.items as JsonSchema | undefined, `${hint}Item`)}]`
        case 'object': {
          const values = schema.additionalProperties
          return `Dict[str, ${typeof values === 'object' && values !== null ? this.type(values as JsonSchema, `${hint}Value`) : 'Any'}]`
        }
        default: return 'Any'
      }
    }))
  }

  /** An object with properties (or an `allOf` of such objects): a TypedDict of its own. */
  #isObject (schema: JsonSchema): boolean {
    return typeof schema.properties === 'object' || Array.isArray(schema.allOf)
  }

  #freshName (hint: string): string {
    let name = pascal(hint)
    for (let n = 2; this.#taken.has(name); n++) name = `${pascal(hint)}${n}`
    this.#taken.add(name)
    return name
  }

  #union (types: string[]): string {
    const unique = [...new Set(types)]
    const nullable = unique.includes('None')
    const rest = unique.filter((type) => type !== 'None')
    if (rest.length === 0) return 'None'
    const type = rest.length === 1 ? rest[0]! : `Union[${rest.join(', ')}]`
    return nullable ? `Optional[${type}]` : type
  }

  #defineObject (name: string, schema: JsonSchema): void {
    this.#named.set(schema, name)
    this.#taken.add(name)
    const bases: string[] = []
    const parts = Array.isArray(schema.allOf) ? schema.allOf as JsonSchema[] : [schema]
    const fields: Field[] = []
    for (const part of parts) {
      if (typeof part.$ref === 'string') {
        bases.push(refName(part.$ref))
        continue
      }
      const required = new Set((part.required ?? []) as string[])
      for (const [key, property] of Object.entries((part.properties ?? {}) as Record<string, JsonSchema>)) {
        const description = property.description ?? this.resolve(property).description
        fields.push({ key, type: this.type(property, `${name}${pascal(key)}`), required: required.has(key), description: description === undefined ? undefined : oneLine(String(description)) })
      }
    }
    this.definitions.push({ name, text: typedDict(name, schema.description as string | undefined, bases, fields) })
  }
}

/**
 * A TypedDict in the syntax Python 3.9 reads: required keys in a base class, optional ones in a
 * `total=False` class over it; the functional syntax for keys that are not identifiers (`from`).
 */
function typedDict (name: string, description: string | undefined, bases: string[], fields: Field[]): string {
  const required = fields.filter((field) => field.required)
  const optional = fields.filter((field) => !field.required)
  const doc = description === undefined ? '' : docstring(description, '    ')
  const body = (list: Field[]) => list.map((field) => `${field.description === undefined ? '' : `    #: ${field.description}\n`}    ${field.key}: ${field.type}\n`).join('')
  const functional = (typeName: string, list: Field[], total: boolean) =>
    `${typeName} = TypedDict(${pyString(typeName)}, {\n${list.map((field) => `    ${pyString(field.key)}: ${pyString(field.type)},${field.description === undefined ? '' : `  # ${field.description}`}\n`).join('')}}${total ? '' : ', total=False'})\n`
  const base = bases.length === 0 ? 'TypedDict' : bases.join(', ')

  if (fields.some((field) => !isIdentifier(field.key))) {
    let text = ''
    const classBases = [...bases]
    if (required.length > 0) {
      text += functional(`_${name}Required`, required, true) + '\n\n'
      classBases.push(`_${name}Required`)
    }
    if (optional.length > 0) {
      text += functional(`_${name}Optional`, optional, false) + '\n\n'
      classBases.push(`_${name}Optional`)
    }
    return `${text}class ${name}(${classBases.join(', ')}):\n${doc || '    pass\n'}`
  }
  if (required.length === 0) return `class ${name}(${base}, total=False):\n${doc}${body(optional) || (doc ? '' : '    pass\n')}`
  if (optional.length === 0) return `class ${name}(${base}):\n${doc}${body(required)}`
  return `class _${name}Required(${base}):\n${body(required)}\n\nclass ${name}(_${name}Required, total=False):\n${doc}${body(optional)}`
}

interface Argument {
  /** The Python name. */
  name: string
  /** The API's name. */
  wire: string
  type: string
  required: boolean
}

/** `filter[name]` query parameters, gathered in one `filter` dict argument. */
const FILTER = /^filter\[(.+)\]$/

function emitResources (model: SdkModel, types: TypeWriter): string {
  const resources = [...new Set(model.operations.map((operation) => operation.resource))]
  let text = ''
  for (const resource of resources) {
    const className = pascal(resource)
    text += `\n\nclass ${className}:\n    """\`client.${resource}\`: ${model.operations.filter((o) => o.resource === resource).map((o) => pythonName(o.method)).join(', ')}."""\n\n`
    text += '    def __init__(self, transport: Transport) -> None:\n        self._transport = transport\n'
    for (const operation of model.operations.filter((o) => o.resource === resource)) {
      const signature = signatureOf(operation, types)
      text += emitMethod(operation, signature, types)
      if (operation.iterator !== undefined) text += emitIterator(operation, signature, types)
    }
  }
  text += '\n\nclass Resources:\n    """Every resource of the API, as attributes of the client."""\n\n'
  text += '    def __init__(self, transport: Transport) -> None:\n'
  for (const resource of resources) text += `        self.${resource}: ${pascal(resource)} = ${pascal(resource)}(transport)\n`
  return text
}

interface Signature {
  path: Argument[]
  query: Argument[]
  filters: Argument[]
  headers: Argument[]
  body: Argument[]
  filterType: string | undefined
}

/** The arguments of an operation's method (and of its iterator); defines the TypedDict of its `filter`. */
function signatureOf (operation: SdkOperation, types: TypeWriter): Signature {
  const hint = `${pascal(operation.resource)}${pascal(operation.method)}`
  const argument = (parameter: SdkParameter, name: string) => ({ name, wire: parameter.name, type: types.type(parameter.schema, `${hint}${pascal(name)}`), required: parameter.required })
  const path = operation.pathParams.map((p) => argument(p, pythonName(p.name)))
  const query: Argument[] = []
  const filters: Argument[] = []
  for (const parameter of operation.queryParams) {
    const filter = FILTER.exec(parameter.name)
    if (filter !== null) filters.push(argument(parameter, filter[1]!))
    else query.push(argument(parameter, pythonName(parameter.name)))
  }
  const headers = operation.headerParams.map((p) => argument(p, pythonName(p.name)))
  const body: Argument[] = []
  if (operation.body !== undefined) {
    const bodySchema = types.resolve(operation.body.schema)
    if (typeof bodySchema.properties !== 'object') throw new Error(`${operation.operationId}: the Python SDK takes body fields as keyword arguments, and this body has no properties`)
    const required = new Set((bodySchema.required ?? []) as string[])
    for (const [key, property] of Object.entries(bodySchema.properties as Record<string, JsonSchema>)) {
      body.push({ name: pythonName(key), wire: key, type: types.type(property, `${hint}${pascal(key)}`), required: required.has(key) })
    }
  }
  let filterType: string | undefined
  if (filters.length > 0) {
    filterType = `${hint}Filter`
    types.definitions.push({ name: filterType, text: typedDict(filterType, `The \`filter[...]\` parameters of \`${operation.resource}.${pythonName(operation.method)}\`.`, [], filters.map((f) => ({ key: f.name, type: f.type, required: false, description: undefined }))) })
  }
  const names = [...path, ...query, ...headers, ...body].map((a) => a.name)
  const clash = names.find((name, i) => names.indexOf(name) !== i || name === 'filter' || name === 'self')
  if (clash !== undefined) throw new Error(`${operation.operationId}: two arguments named ${clash} in the Python SDK`)
  return { path, query, filters, headers, body, filterType }
}

function resultTypeOf (operation: SdkOperation, types: TypeWriter): string {
  if (operation.resultType === 'none') return 'None'
  if (operation.resultType === 'text') return 'str'
  return types.type(operation.result, `${pascal(operation.resource)}${pascal(operation.method)}Result`)
}

/** The parameters of a method's `def` line after `self`. */
function parameters (signature: Signature, skip: Set<string> = new Set()): string {
  const list = signature.path.map((a) => `${a.name}: ${a.type}`)
  const keywords: string[] = []
  for (const a of [...signature.query, ...signature.headers].filter((a) => !skip.has(a.name))) keywords.push(`${a.name}: ${a.required ? a.type : `Optional[${a.type}]`}${a.required ? '' : ' = None'}`)
  if (signature.filterType !== undefined) keywords.push(`filter: Optional[${signature.filterType}] = None`)
  for (const a of signature.body.filter((a) => a.required)) keywords.push(`${a.name}: ${a.type}`)
  for (const a of signature.body.filter((a) => !a.required)) keywords.push(`${a.name}: Union[${a.type}, Unset] = UNSET`)
  if (keywords.length > 0) list.push('*', ...keywords)
  return ['self', ...list].join(', ')
}

const dict = (entries: string[]) => entries.length === 0 ? '{}' : `{${entries.join(', ')}}`

function emitMethod (operation: SdkOperation, signature: Signature, types: TypeWriter): string {
  const name = pythonName(operation.method)
  const result = resultTypeOf(operation, types)
  let text = `\n    def ${name}(${parameters(signature)}) -> ${result}:\n`
  let description = operation.description === undefined ? '' : `\n\n        ${sentence(operation.description)}`
  if (operation.stream !== undefined) description += `\n\n        For the stream, use \`client.${operation.resource}.follow_${pythonName(operation.method)}()\`.`
  text += `        """${docText(`${sentence(operation.summary)}${description}\n\n        \`${operation.httpMethod} ${operation.path}\``)}\n        """\n`
  const query = [
    ...signature.query.map((a) => `${pyString(a.wire)}: ${a.name}`),
    ...signature.filters.map((f) => `${pyString(`filter[${f.name}]`)}: filter.get(${pyString(f.name)})`)
  ]
  const args = [pyString(operation.httpMethod), pyString(operation.path)]
  if (signature.path.length > 0) args.push(`path_params=${dict(signature.path.map((a) => `${pyString(a.wire)}: ${a.name}`))}`)
  if (query.length > 0) args.push(`query=${dict(query)}`)
  if (signature.headers.length > 0) args.push(`headers=${dict(signature.headers.map((a) => `${pyString(a.wire)}: ${a.name}`))}`)
  if (operation.body !== undefined) {
    args.push(`body=${dict(signature.body.map((a) => `${pyString(a.wire)}: ${a.name}`))}`)
    if (!operation.body.required) args.push('body_optional=True')
  }
  args.push(`result=${pyString(operation.resultType)}`)
  if (operation.resultType === 'json' && !operation.enveloped) args.push('enveloped=False')
  if (operation.public) args.push('authenticated=False')
  if (signature.filterType !== undefined) text += '        filter = filter or {}\n'
  text += `        return self._transport.request(${args.join(', ')})\n`
  return text
}

function emitIterator (operation: SdkOperation, signature: Signature, types: TypeWriter): string {
  const cursor = operation.paging === 'cursor'
  const counter = cursor ? 'cursor' : 'page'
  const itemSchema = (types.resolve(operation.result!).properties as Record<string, JsonSchema>).items!.items as JsonSchema
  const item = types.type(itemSchema, `${pascal(operation.resource)}${pascal(operation.method)}Item`)
  const name = pythonName(operation.iterator!)
  let text = `\n    def ${name}(${parameters(signature, new Set([counter]))}) -> Iterator[${item}]:\n`
  text += `        """Every item of \`${pythonName(operation.method)}\`, ${cursor ? 'following `nextCursor`' : 'page after page'}: ${docText(sentence(operation.summary))}"""\n`
  const call = [
    ...signature.path.map((a) => a.name),
    ...signature.query.map((a) => `${a.name}=${a.name}`),
    ...signature.headers.map((a) => `${a.name}=${a.name}`),
    ...(signature.filterType === undefined ? [] : ['filter=filter'])
  ]
  text += cursor ? '        cursor: Optional[str] = None\n' : '        page = 1\n'
  text += '        while True:\n'
  text += `            result = self.${pythonName(operation.method)}(${call.join(', ')})\n`
  text += '            yield from result[\'items\']\n'
  if (cursor) {
    text += '            cursor = result[\'pagination\'][\'nextCursor\']\n'
    text += '            if not result[\'pagination\'][\'hasNext\'] or cursor is None:\n                return\n'
  } else {
    text += '            if not result[\'pagination\'][\'hasNext\']:\n                return\n'
    text += '            page += 1\n'
  }
  return text
}

const HEADER = (model: SdkModel) => `# Generated by \`npm run sdk\` from openapi/openapi.json (${model.title} ${model.version},\n# sha256 ${model.documentHash}). Do not edit: change the API and regenerate.\n`

/** The names of `typing` that `code` uses, for its import line. */
function typingNames (code: string, always: string[]): string {
  const names = ['Any', 'Dict', 'Iterator', 'List', 'Literal', 'Optional', 'Union'].filter((name) => new RegExp(`\\b${name}\\b`).test(code))
  return [...names, ...always].sort().join(', ')
}

export function emitPython (model: SdkModel): Record<string, string> {
  const types = new TypeWriter(model.schemas)
  for (const [name, schema] of Object.entries(model.schemas)) types.defineComponent(name, schema)
  const resources = emitResources(model, types)
  const typeNames = types.definitions.map((definition) => definition.name)
  const typeDefinitions = types.definitions.map((definition) => definition.text).join('\n\n')
  const code = resources.replace(/"""[\s\S]*?"""/g, '')
  const used = typeNames.filter((name) => new RegExp(`\\b${name}\\b`).test(code)).sort()

  const typesFile = `${HEADER(model)}"""The API's data shapes, as TypedDicts (the JSON the hub sends and takes)."""\n\nfrom __future__ import annotations\n\n` +
    `from typing import ${typingNames(typeDefinitions, ['TypedDict'])}\n\n` +
    `__all__ = [\n${typeNames.map((n) => `    ${pyString(n)},\n`).join('')}]\n\n\n` +
    typeDefinitions

  const resourcesFile = `${HEADER(model)}"""The API's operations, a class per resource: each method is one request through the transport."""\n\nfrom __future__ import annotations\n\n` +
    `from typing import ${typingNames(code, [])}\n\n` +
    'from ._transport import UNSET, Transport, Unset\n' +
    `from ._types import (\n${used.map((n) => `    ${n},\n`).join('')})\n` +
    resources

  const versionFile = `${HEADER(model)}"""The SDK's version: the API's \`info.version\`."""\n\n__version__ = ${pyString(model.version)}\n`

  const pyproject = `${HEADER(model)}
[build-system]
requires = []
build-backend = "mcphub_build"
backend-path = ["_build"]

[project]
name = "mcphub-sdk"
version = "${model.version}"
description = "Python client for the MCPHub API (standard library only)"
readme = "README.md"
requires-python = ">=3.9"
license = "MIT"
`
  return {
    [`${MODULE}/_types.py`]: typesFile,
    [`${MODULE}/_resources.py`]: resourcesFile,
    [`${MODULE}/_version.py`]: versionFile,
    [`${PACKAGE}/pyproject.toml`]: pyproject
  }
}
