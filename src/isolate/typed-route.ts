// Typed routes: `route({ method, path, params, query, headers, cookies, body }, handler)` in a
// handler module. Each isolate that imports the module finds the declaration, compiles its
// validators once (TypeBox's JIT), and wraps the handler in an adapter whose per-request work is
// convert → default → check, then the call. The schemas go to the main thread in the manifest
// (for its router and the OpenAPI document); the main thread never imports user code.

import { Compile } from 'typebox/compile'
import type { Static, TSchema } from 'typebox'
import { IsopoolError } from '../shared/errors.ts'
import type { ManifestRoute, ValidationIssue } from '../shared/protocol.ts'
import { planDependencies, runPlan } from './dependencies.ts'
import type { DepValues, Dependency } from './dependencies.ts'
import type { FormLimits } from './form.ts'
import { compileCoercer, hasDefaults } from './coerce.ts'
import type { Coerce } from './coerce.ts'
import { compilePartValidator } from './part-validator.ts'
import type { PartValidator } from './part-validator.ts'
import { compileEncoder } from './json-encoder.ts'
import { Encodable } from './respond.ts'
import { BODY_LENGTH, TYPED } from './request.ts'
import type { IsolateRequest } from './request.ts'

const DECLARATION = Symbol.for('isopool.route')

export type ExtraBodyPolicy = 'keep' | 'strip' | 'reject'

export interface RouteConfig {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
  path: string
  params?: TSchema
  query?: TSchema
  headers?: TSchema
  cookies?: TSchema
  body?: TSchema
  /** Response schemas by status, for the API document. */
  response?: Record<number, TSchema>
  /** Body fields the schema does not name: kept (default), stripped, or a 422. */
  extraBody?: ExtraBodyPolicy
  /** Milliseconds before 504, overriding the server's `timeout`. */
  timeout?: number
  /** Limits of a form body (urlencoded or multipart); its text fields are what `body` validates. */
  form?: FormLimits
  /** Dependencies (made with depends()): run before the handler, their values its 2nd argument. */
  deps?: Record<string, Dependency>
  summary?: string
  description?: string
  tags?: string[]
}

type Typed<S, Else> = S extends TSchema ? Static<S> : Else

/** The request a typed handler sees: the declared parts validated, coerced and typed. */
export type TypedRequest<C extends RouteConfig> = Omit<IsolateRequest, 'params' | 'query' | 'headers' | 'cookies' | 'body'> & {
  readonly params: Typed<C['params'], Record<string, string>>
  readonly query: Typed<C['query'], IsolateRequest['query']>
  readonly headers: Typed<C['headers'], IsolateRequest['headers']>
  readonly cookies: Typed<C['cookies'], Record<string, string>>
  /** With a body schema, the parsed and validated body; without, the raw bytes. */
  readonly body: Typed<C['body'], Uint8Array>
}

export type RouteHandler<C extends RouteConfig> = (req: TypedRequest<C>, deps: DepValues<C['deps'] extends Record<string, Dependency> ? C['deps'] : Record<string, never>>) => unknown

export interface RouteDeclaration<C extends RouteConfig = RouteConfig> {
  readonly [DECLARATION]: true
  readonly config: C
  readonly handler: RouteHandler<C>
}

/** Declare a typed route; export the result from a module listed in `modules`. */
export function route<const C extends RouteConfig> (config: C, handler: RouteHandler<C>): RouteDeclaration<C> {
  return Object.freeze({ [DECLARATION]: true as const, config, handler })
}

export function isRouteDeclaration (value: unknown): value is RouteDeclaration {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DECLARATION] === true
}

/** What the main thread learns about a declared route. Schemas are plain JSON Schema. */
export function manifestEntry (decl: RouteDeclaration, module: string, exportName: string): ManifestRoute {
  const c = decl.config
  const schemas: ManifestRoute['schemas'] = {}
  for (const part of ['params', 'query', 'headers', 'cookies', 'body'] as const) {
    if (c[part] !== undefined) schemas[part] = JSON.parse(JSON.stringify(c[part]))
  }
  if (c.response !== undefined) schemas.response = JSON.parse(JSON.stringify(c.response))
  return {
    method: String(c.method).toUpperCase(),
    path: c.path,
    module,
    export: exportName,
    schemas,
    ...(c.timeout === undefined ? {} : { timeout: c.timeout }),
    ...(c.summary === undefined ? {} : { summary: c.summary }),
    ...(c.description === undefined ? {} : { description: c.description }),
    ...(c.tags === undefined ? {} : { tags: c.tags })
  }
}

type Validator = ReturnType<typeof Compile>
type Part = 'params' | 'query' | 'headers' | 'cookies' | 'body' | 'response'

interface CompiledPart {
  part: Part
  validator: Validator
  schema: TSchema
  /** The compiled string coercion of a flat part the fused validator does not cover, or null
   * to use TypeBox's Convert/Default. */
  coerce: Coerce | null
  /** Conversion and check in one generated pass, for a flat part whose every keyword it knows;
   * its "valid" skips TypeBox's Check, its "not sure" falls back to it (and to its errors). */
  fast: PartValidator | null
  /** The schema declares defaults: a value that checks may still need them applied. */
  defaults: boolean
}

/**
 * Build, once per isolate, the function that serves a typed route: validate and coerce each
 * declared part, answer 422 listing every problem, else call the handler with the typed values.
 */
export function compileAdapter (decl: RouteDeclaration, dev = false): (req: IsolateRequest) => unknown {
  const c = decl.config
  const parts: CompiledPart[] = []
  for (const part of ['params', 'query', 'headers', 'cookies', 'body'] as const) {
    const schema = c[part]
    if (schema !== undefined) {
      const fast = part === 'body' ? null : compilePartValidator(schema)
      const coerce = part === 'body' || fast !== null ? null : compileCoercer(schema)
      parts.push({ part, validator: Compile(schema), schema, coerce, fast, defaults: hasDefaults(schema) })
    }
  }
  const extra = c.extraBody ?? 'keep'
  const plan = c.deps === undefined || Object.keys(c.deps).length === 0 ? null : planDependencies(c.deps, `${c.method} ${c.path}`)
  const declared = decl.handler as (req: unknown, deps?: unknown) => unknown
  const ok = c.response?.[200]
  // Development only: check what the handler returns against its 200 schema, so a mismatch is
  // a 500 naming the field rather than a client surprised in production.
  const checked = !dev || ok === undefined ? declared : checkResult(declared, Compile(ok), `${c.method} ${c.path}`)
  // The 200 schema's JSON encoder, compiled now and used for every plain result of this route.
  const target = ok === undefined ? checked : withEncoder(checked, compileEncoder(ok))
  const handler = plan === null
    ? target
    : (req: unknown): unknown => {
        const deps = runPlan(plan, req)
        return deps instanceof Promise ? deps.then(d => target(req, d)) : target(req, deps)
      }
  if (parts.length === 0) return handler as (req: IsolateRequest) => unknown
  const hasBody = parts.some(p => p.part === 'body')

  const serve = (req: IsolateRequest, formFields: unknown): unknown => {
    let issues: ValidationIssue[] | null = null
    const values: Partial<Record<Part, unknown>> = {}
    for (const { part, validator, schema, coerce, fast, defaults } of parts) {
      let value: unknown
      let valid = false
      if (fast !== null) {
        // Converts the request's own object in place to the value the coercer would make, so a
        // value it is not sure of gets TypeBox's check and errors exactly as below.
        const own = sourcePart(req, part as Exclude<Part, 'body' | 'response'>)
        valid = fast(own)
        value = own
      } else if (coerce !== null) {
        // The coercer converts the request's own object for the part in place: it was built
        // for this request and nothing has read it yet; the typed value then replaces it.
        value = coerce(sourcePart(req, part as Exclude<Part, 'body' | 'response'>))
      } else {
        value = part === 'body' ? (formFields ?? readBody(req)) : { ...sourcePart(req, part as Exclude<Part, 'body' | 'response'>) }
        // A JSON body usually has its types already: convert only what does not check as it is.
        if (!defaults && validator.Check(value)) valid = true
        else value = validator.Default(validator.Convert(value))
      }
      if (part === 'body' && extra !== 'keep') {
        if (extra === 'strip') value = validator.Clean(value)
        else for (const path of extraKeys(schema, value, '')) (issues ??= []).push({ in: 'body', path: 'body' + path, message: 'is not allowed by the schema', expected: 'no such field', received: '(present)' })
      }
      // Stripping only removes what the schema does not name: a value that checked still does.
      if (!valid && !validator.Check(value)) {
        for (const e of validator.Errors(value)) (issues ??= []).push(issue(part, e, value))
      }
      values[part] = value
    }
    if (issues !== null) throw new IsopoolError('ISOPOOL_ERR_VALIDATION', { count: issues.length }, { details: issues })
    req[TYPED](values)
    return handler(req)
  }
  // A form body is parsed (asynchronously, by busboy) before its fields are validated; the files
  // stay available through req.form(), which returns the same parse.
  return (req: IsolateRequest) => hasBody && req.isForm
    ? req.form(c.form).then(form => serve(req, { ...form.fields }))
    : serve(req, undefined)
}

/** The request's own string-valued part; callers copy before anything converts it in place. */
function sourcePart (req: IsolateRequest, part: Exclude<Part, 'body' | 'response'>): Record<string, string | string[] | undefined> {
  return part === 'params' ? req.params : part === 'query' ? req.query : part === 'headers' ? req.headers : req.cookies
}

function readBody (req: IsolateRequest): unknown {
  if (req[BODY_LENGTH] === 0) return undefined
  return req.data()
}

/** One TypeBox error as a ValidationIssue: where (`body.items[2].price`), what was expected, what came. */
function issue (part: Part, e: { keyword: string, instancePath: string, params: Record<string, unknown>, message: string }, root: unknown): ValidationIssue {
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map(s => s.replaceAll('~1', '/').replaceAll('~0', '~'))
  let received: unknown = root
  for (const s of segments) received = received === null || typeof received !== 'object' ? undefined : (received as Record<string, unknown>)[s]
  let path = part + segments.map(s => /^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`).join('')
  let expected = e.message
  if (e.keyword === 'required' && Array.isArray(e.params.requiredProperties)) {
    const missing = e.params.requiredProperties as string[]
    path += missing.length === 1 ? `.${missing[0]}` : ''
    expected = missing.length === 1 ? 'present' : `properties ${missing.join(', ')}`
    received = undefined
  } else if (e.keyword === 'type') {
    expected = String(e.params.type)
  } else if (typeof e.params.comparison === 'string') {
    expected = `${e.params.comparison} ${String(e.params.limit)}`
  }
  return { in: part, path, message: e.message, expected, received: received === undefined ? '(missing)' : received }
}

/** Paths of object keys in `value` that `schema` does not declare (for extraBody: 'reject'). */
function extraKeys (schema: TSchema, value: unknown, at: string): string[] {
  const s = schema as { type?: string, properties?: Record<string, TSchema>, items?: TSchema, additionalProperties?: unknown }
  if (value === null || typeof value !== 'object') return []
  if (Array.isArray(value)) return s.items === undefined ? [] : value.flatMap((v, i) => extraKeys(s.items!, v, `${at}[${i}]`))
  if (s.properties === undefined || s.additionalProperties !== undefined) return []
  const out: string[] = []
  for (const [k, v] of Object.entries(value)) {
    const child = s.properties[k]
    if (child === undefined) out.push(`${at}.${k}`)
    else out.push(...extraKeys(child, v, `${at}.${k}`))
  }
  return out
}

function checkResult (handler: (req: unknown, deps?: unknown) => unknown, validator: Validator, route: string): (req: unknown, deps?: unknown) => unknown {
  const check = (value: unknown): unknown => {
    if (value instanceof Response || value instanceof Uint8Array || value === undefined) return value
    if (validator.Check(value)) return value
    const problems = [...validator.Errors(value)].map(e => issue('response' as Part, e, value))
    throw new IsopoolError('ISOPOOL_ERR_RESPONSE_SCHEMA', { route, problems: problems.map(p => `${p.path} ${p.message}`).join('; ') }, { details: problems })
  }
  return (req, deps) => {
    const value = handler(req, deps)
    return value instanceof Promise ? value.then(check) : check(value)
  }
}

function withEncoder (handler: (req: unknown, deps?: unknown) => unknown, encode: (value: unknown) => string): (req: unknown, deps?: unknown) => unknown {
  const wrap = (value: unknown): unknown =>
    value === undefined || value === null || typeof value !== 'object' || value instanceof Response || value instanceof Uint8Array || value instanceof ArrayBuffer
      ? value
      : new Encodable(value, encode)
  return (req, deps) => {
    const value = handler(req, deps)
    return value instanceof Promise ? value.then(wrap) : wrap(value)
  }
}
