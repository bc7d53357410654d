import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { FastifyServerOptions } from 'fastify'

type Serialize = (data: unknown) => string
type RouteSchema = { schema: unknown, method: string, url: string, httpStatus: string }

const compileWithFastJsonStringify = SerializerSelector()

/** What was compiled, by the shared schemas and options it was compiled with, then by the response schema. */
const compiled = new Map<string, Map<string, Serialize>>()

/**
 * Fastify's response serializers (fast-json-stringify), each compiled once per process: every app
 * built in it (the tests build hundreds) has the same schemas, as new objects, and compiling them
 * again was a sixth of the cost of a build. Given to Fastify as its serializer factory.
 */
function buildResponseSerializer (sharedSchemas: Record<string, unknown>, options: unknown): (route: RouteSchema) => Serialize {
  const compile = compileWithFastJsonStringify(sharedSchemas, options as never) as unknown as (route: RouteSchema) => Serialize
  const context = JSON.stringify([sharedSchemas, options])
  let serializers = compiled.get(context)
  if (serializers === undefined) compiled.set(context, serializers = new Map())
  return (route) => {
    const key = JSON.stringify(route.schema)
    let serialize = serializers.get(key)
    if (serialize === undefined) serializers.set(key, serialize = compile(route))
    return serialize
  }
}

type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>
export const buildSerializer = buildResponseSerializer as unknown as SerializerFactory
