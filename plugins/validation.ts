import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'
import fp from 'fastify-plugin'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

function compiler (options: Options): Ajv {
  return addFormats(new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options }))
}

/**
 * Request validation: bodies are strict JSON (unknown keys are errors, no type coercion);
 * query strings, params and headers arrive as text, so they are coerced.
 */
export default fp(async (app) => {
  const strict = compiler({ coerceTypes: false })
  const coercing = compiler({ coerceTypes: 'array' })
  app.setValidatorCompiler(({ schema, httpPart }) => {
    return (httpPart === 'body' ? strict : coercing).compile(schema)
  })
}, { name: 'validation' })
