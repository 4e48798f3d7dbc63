// Typed routes: `route({ method, path, params, query, headers, cookies, body }, handler)` in a
// handler module. Each isolate that imports the module finds the declaration, compiles its
// validators once (TypeBox's JIT), and wraps the handler in an adapter whose per-request work is
// convert → default → check, then the call. The schemas go to the main thread in the manifest
// (for its router and the OpenAPI document); the main thread never imports user code.

import { Compile } from './typebox.ts'
import type { Static, TSchema } from 'typebox'
import { IsopoolError } from '../shared/errors.ts'
import type { HttpMethod } from '../shared/http-syntax.ts'
import type { ManifestRoute, ValidationIssue } from '../shared/protocol.ts'
import { planDependencies, runPlan } from './dependencies.ts'
import type { DepValues, Dependency } from './dependencies.ts'
import type { FormLimits } from './form.ts'
import { compileCoercer, hasDefaults } from './coerce.ts'
import type { Coerce } from './coerce.ts'
import { compilePartValidator } from './part-validator.ts'
import type { PartValidator } from './part-validator.ts'
import { compileEncoder } from './json-encoder.ts'
import { describeReceived } from './describe.ts'
import { Encodable } from './respond.ts'
import { BODY_LENGTH, TYPED } from './request.ts'
import type { IsolateRequest } from './request.ts'

const DECLARATION = Symbol.for('isopool.route')

export type ExtraBodyPolicy = 'keep' | 'strip' | 'reject'

export interface RouteConfig {
  method: HttpMethod
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

export interface AdapterOptions {
  /** Development mode: results are checked against the 200 schema. */
  dev: boolean
  /** Deepest nesting of arrays and objects a body may have (a 400 past it). */
  maxBodyDepth: number
}

/** The options an adapter is built with when none are given: production, the default depth. */
export const DEFAULT_ADAPTER_OPTIONS: AdapterOptions = { dev: false, maxBodyDepth: 128 }

/** Problems listed in a 422's details at most; the message counts all that were found. */
export const MAX_ISSUES = 100

/**
 * Build, once per isolate, the function that serves a typed route: validate and coerce each
 * declared part, answer 422 listing the problems, else call the handler with the typed values.
 */
export function compileAdapter (decl: RouteDeclaration, options: AdapterOptions = DEFAULT_ADAPTER_OPTIONS): (req: IsolateRequest) => unknown {
  const { dev, maxBodyDepth } = options
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
    let issues: Issues | null = null
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
        value = part === 'body' ? (formFields ?? readBody(req, maxBodyDepth)) : { ...sourcePart(req, part as Exclude<Part, 'body' | 'response'>) }
        // A JSON body usually has its types already: convert only what does not check as it is.
        if (!defaults && validator.Check(value)) valid = true
        else value = validator.Default(validator.Convert(value))
      }
      if (part === 'body' && extra !== 'keep') {
        if (extra === 'strip') value = validator.Clean(value)
        else extraKeys(schema, value, issues ??= new Issues())
      }
      // Stripping only removes what the schema does not name: a value that checked still does.
      // TypeBox stops collecting errors at its maxErrors setting (8): bounded too.
      if (!valid && !validator.Check(value)) {
        for (const e of validator.Errors(value)) (issues ??= new Issues()).add(issue(part, e, value))
      }
      values[part] = value
    }
    if (issues !== null && issues.count > 0) {
      const listed = issues.count > issues.list.length ? `the first ${issues.list.length}` : 'all'
      throw new IsopoolError('ISOPOOL_ERR_VALIDATION', { count: issues.count, listed }, { details: issues.list })
    }
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

function readBody (req: IsolateRequest, maxDepth: number): unknown {
  const bytes = req[BODY_LENGTH]
  if (bytes === 0) return undefined
  const value = req.data()
  // Checked before anything walks the value: TypeBox's Check and Errors recurse, and a body
  // nested 100,000 deep (200 KB of JSON) overflows their stack.
  if (nestsDeeper(value, maxDepth, bytes)) throw new IsopoolError('ISOPOOL_ERR_BODY_TOO_DEEP', { limit: maxDepth })
  return value
}

/**
 * True when `value` nests arrays and objects deeper than `limit` (the value itself is level 1).
 * Iterative, so no depth of input can overflow the stack. A decoded body has at most as many
 * containers as it has bytes (JSON, and MessagePack decoded without msgpackr's references); a
 * value with more shares references, and is refused the same way rather than walked for ever.
 */
export function nestsDeeper (value: unknown, limit: number, bytes: number): boolean {
  if (value === null || typeof value !== 'object') return false
  const stack: object[] = [value]
  const depths: number[] = [1]
  let budget = bytes + 1
  while (stack.length > 0) {
    const v = stack.pop()!
    const depth = depths.pop()!
    if (depth > limit || --budget < 0) return true
    if (ArrayBuffer.isView(v)) continue
    const children = Array.isArray(v) ? v : v instanceof Map || v instanceof Set ? [...v.values()] : Object.values(v)
    for (let i = 0; i < children.length; i++) {
      const child: unknown = children[i]
      if (child !== null && typeof child === 'object') {
        stack.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return false
}

/** The problems of one request: the first MAX_ISSUES kept, all of them counted. */
class Issues {
  readonly list: ValidationIssue[] = []
  count = 0
  add (issue: ValidationIssue): void {
    if (++this.count <= MAX_ISSUES) this.list.push(issue)
  }

  /** Counts a problem without building it, once the list is full. */
  get full (): boolean { return this.count >= MAX_ISSUES }
}

/** One TypeBox error as a ValidationIssue: where (`body.items[2].price`), what was expected, what came. */
function issue (part: Part, e: { keyword: string, instancePath: string, params: Record<string, unknown>, message: string }, root: unknown): ValidationIssue {
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map(s => s.replaceAll('~1', '/').replaceAll('~0', '~'))
  let received: unknown = root
  // Own properties only: a path segment named __proto__ or constructor is not the prototype's.
  for (const s of segments) received = received === null || typeof received !== 'object' || !Object.hasOwn(received, s) ? undefined : (received as Record<string, unknown>)[s]
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
  return { in: part, path, message: e.message, expected, received: received === undefined ? '(missing)' : describeReceived(received) }
}

/**
 * Every object key in `value` that `schema` does not declare, as an issue (for extraBody:
 * 'reject'). Keys are looked up among the schema's own properties only: `__proto__`,
 * `constructor` or `toString` in a body are keys like any other, not the schema object's
 * inherited members. Iterative, and linear in the value: the first MAX_ISSUES are built, the
 * rest only counted.
 */
function extraKeys (schema: TSchema, value: unknown, issues: Issues): void {
  type Node = { schema: TSchema, value: unknown, at: string }
  const stack: Node[] = [{ schema, value, at: '' }]
  while (stack.length > 0) {
    const { schema: sc, value: v, at } = stack.pop()!
    const s = sc as { properties?: Record<string, TSchema>, items?: TSchema, additionalProperties?: unknown }
    if (v === null || typeof v !== 'object') continue
    if (Array.isArray(v)) {
      if (s.items !== undefined && typeof s.items === 'object') {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ schema: s.items, value: v[i], at: `${at}[${i}]` })
      }
      continue
    }
    if (s.properties === undefined || s.additionalProperties !== undefined) continue
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]
      if (!Object.hasOwn(s.properties, k)) {
        if (issues.full) issues.count++
        else issues.add({ in: 'body', path: 'body' + member(k, at), message: 'is not allowed by the schema', expected: 'no such field', received: '(present)' })
      } else {
        stack.push({ schema: s.properties[k], value: (v as Record<string, unknown>)[k], at: member(k, at) })
      }
    }
  }
}

/** `at.key`, or `at["key"]` for a key that is not an identifier. */
function member (key: string, at: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`
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
