import { Ajv, type AnySchema, type ErrorObject, type FormatDefinition, type Options, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify'

interface FormatsPlugin {
  (ajv: Ajv): Ajv
  get (name: string): FormatDefinition<string>
}
const addFormats = addFormatsModule as unknown as FormatsPlugin

/** A date PostgreSQL and `Date` both take: a real instant (no leap second), years 1 to 9999. */
export function storableDate (text: string): boolean {
  const time = Date.parse(text)
  if (!Number.isFinite(time)) return false
  const year = new Date(time).getUTCFullYear()
  return year >= 1 && year <= 9999
}

/** RFC 3339 `date` and `date-time`, narrowed to the dates the database can store. */
function storableFormat (name: 'date' | 'date-time'): FormatDefinition<string> {
  const rfc = addFormats.get(name)
  const valid = rfc.validate as (text: string) => boolean
  return { ...rfc, validate: (text: string) => valid(text) && storableDate(text) }
}

function compiler (options: Options): Ajv {
  const ajv = addFormats(new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options }))
  ajv.addFormat('date', storableFormat('date'))
  ajv.addFormat('date-time', storableFormat('date-time'))
  return ajv
}

/** What is wrong with a string PostgreSQL would refuse (in text or JSON), if anything. */
function unstorable (text: string): string | undefined {
  if (text.includes('\0')) return 'must not contain NUL characters'
  // A lone surrogate half: JSON columns refuse its escape (\ud800).
  if (!text.isWellFormed()) return 'must be well-formed Unicode'
  return undefined
}

/** The JSON pointer and reason of the first string (value or key) the database would refuse, if any. */
export function unstorablePath (value: unknown, path = ''): { path: string, message: string } | undefined {
  if (typeof value === 'string') {
    const message = unstorable(value)
    return message === undefined ? undefined : { path, message }
  }
  if (value === null || typeof value !== 'object') return undefined
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = unstorable(key)
    if (keyProblem !== undefined) return { path, message: `keys ${keyProblem}` }
    const found = unstorablePath(item, `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * PostgreSQL refuses U+0000 in text and JSON, and lone surrogates in JSON: a string holding
 * one is a validation error wherever it is (body, query, path), before it can reach a query.
 */
function refusingUnstorable (validate: ValidateFunction): ValidateFunction {
  const wrapped = ((data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    const found = unstorablePath(data)
    if (found !== undefined) {
      const error: ErrorObject = { keyword: 'storable', instancePath: found.path, schemaPath: '#', params: {}, message: found.message }
      wrapped.errors = [error]
      return false
    }
    const valid = validate(data, context)
    wrapped.errors = validate.errors
    return valid
  }) as ValidateFunction
  // Fastify passes the parent object to validators that carry a schemaEnv, so that coercion can replace a root value.
  Object.assign(wrapped, { schema: validate.schema, schemaEnv: validate.schemaEnv })
  return wrapped
}

/**
 * Request validation: bodies are strict JSON (unknown keys are errors, no type coercion);
 * query strings, params and headers arrive as text, so they are coerced. No string anywhere
 * may hold a NUL character or a lone surrogate, and dates must be storable.
 *
 * Given to Fastify as its validator factory (`schemaController.compilersFactory`), not set with
 * `setValidatorCompiler`: Fastify builds a validator for each plugin context that adds shared
 * schemas (`app.addSchema`, referenced by `$ref` from routes), and would otherwise build its
 * default one there instead of this.
 */
function buildRequestValidator (sharedSchemas: Record<string, unknown>): FastifySchemaCompiler<unknown> {
  const compilers = compilersFor(Object.values(sharedSchemas))
  return ({ schema, httpPart }) => {
    const mode = httpPart === 'body' ? 'strict' : 'coercing'
    const key = `${mode} ${JSON.stringify(schema)}`
    let validate = compilers.validators.get(key)
    if (validate === undefined) {
      validate = compilers[mode].compile(schema as AnySchema)
      compilers.validators.set(key, validate)
    }
    return refusingUnstorable(validate)
  }
}

interface Compilers {
  strict: Ajv
  coercing: Ajv
  /** What each compiled, by the mode and the schema's JSON. */
  validators: Map<string, ValidateFunction>
}

/**
 * The compilers for a set of shared schemas, and what they compiled, kept for the process: every
 * app built in it (the tests build hundreds) has the same schemas, as new objects, and compiling
 * them again was half the cost of a build.
 */
const compilerSets = new Map<string, Compilers>()

function compilersFor (shared: unknown[]): Compilers {
  const key = JSON.stringify(shared)
  const known = compilerSets.get(key)
  if (known !== undefined) return known
  const strict = compiler({ coerceTypes: false })
  const coercing = compiler({ coerceTypes: 'array' })
  for (const schema of shared) {
    strict.addSchema(schema as AnySchema)
    coercing.addSchema(schema as AnySchema)
  }
  const made = { strict, coercing, validators: new Map<string, ValidateFunction>() }
  compilerSets.set(key, made)
  return made
}

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>
// Fastify declares the factory with @fastify/ajv-compiler's type, whose compile function takes a
// bare schema; Fastify calls it with the route schema definition (`{ schema, httpPart, ... }`).
export const buildValidator = buildRequestValidator as unknown as ValidatorFactory
