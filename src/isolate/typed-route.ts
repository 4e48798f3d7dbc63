// Typed routes: `route({ method, path, params, query, headers, cookies, body }, handler)` in a
// handler module. Each isolate that imports the module finds the declaration, compiles its
// validators once (TypeBox's JIT), and wraps the handler in an adapter whose per-request work is
// convert → default → check, then the call. The schemas go to the main thread in the manifest
// (for its router and the OpenAPI document); the main thread never imports user code.

import { Compile } from './typebox.ts'
import type { Static, TSchema } from 'typebox'
import { IsopoolError } from '../shared/errors.ts'
import type { HttpMethod } from '../shared/http-syntax.ts'
import type { FileField, ManifestRoute, ValidationIssue } from '../shared/protocol.ts'
import { planDependencies, runPlan } from './dependencies.ts'
import { securitySchemes } from './auth.ts'
import type { DepValues, Dependency } from './dependencies.ts'
import type { FormLimits } from './form.ts'
import { compileCoercer, hasDefaults } from './coerce.ts'
import type { Coerce } from './coerce.ts'
import { compilePartValidator } from './part-validator.ts'
import type { PartValidator } from './part-validator.ts'
import { compileEncoder } from './json-encoder.ts'
import { describeReceived, preview } from './describe.ts'
import { compilePath } from '../shared/path-pattern.ts'
import { Encodable, encodable } from './respond.ts'
import { BODY_FORM, BODY_MSGPACK, BODY_NONE, compileBodyTypes } from './body-types.ts'
import { BODY_LENGTH, GATHER, TYPED } from './request.ts'
import type { IsolateRequest } from './request.ts'
import type { Middleware } from './middleware.ts'

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
  /** Its own rate limit, `max` requests per `window` ms by the server's key, or false for none
   * (overrides the server's `rateLimit`; kept on the main thread, over every isolate). */
  rateLimit?: { max: number, window: number } | false
  /** Limits of a form body (urlencoded or multipart); its text fields are what `body` validates.
   * Declaring it (`form: {}` for the default limits) makes the route take forms, not JSON. */
  form?: FormLimits
  /** A form route's file fields, for the API document (multipart, `format: binary`); the handler
   * reads the files from `await req.form()`. Declaring them makes the route a form route too. */
  fileFields?: Record<string, FileField>
  /** Dependencies (made with depends()): run before the handler, their values its 2nd argument. */
  deps?: Record<string, Dependency>
  /** This route's own middleware, run after the global ones (the `middleware` option) and
   * before validation, so they see its 422s too (src/isolate/middleware.ts): functions, or
   * `'./mw.ts#timing'` strings relative to the declaring module. */
  middleware?: (Middleware | string)[]
  /** false: never compress this route's answers, whatever the compression option says. */
  compression?: boolean
  /** Largest request body in bytes (413 past it), overriding the server's `maxBodySize`. Above
   * the server's, the body streams: the handler runs at the head and reads it with
   * `req.stream()` or `await req.form()` (a body schema still gathers it first, to validate it). */
  maxBodySize?: number
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
  const form = isFormRoute(c)
  const security = securitySchemes(c.deps)
  return {
    method: String(c.method).toUpperCase(),
    path: c.path,
    module,
    export: exportName,
    schemas,
    ...(c.body === undefined && !form ? {} : { bodyTypes: [...compileBodyTypes(form, c.method).types] }),
    ...(c.fileFields === undefined ? {} : { fileFields: JSON.parse(JSON.stringify(c.fileFields)) }),
    ...(c.timeout === undefined ? {} : { timeout: c.timeout }),
    ...(c.rateLimit === undefined ? {} : { rateLimit: c.rateLimit }), // checked by compileAdapter()
    ...(c.compression === false ? { compression: false } : {}), // checked by compileAdapter()
    ...(c.maxBodySize === undefined ? {} : { maxBodySize: c.maxBodySize }), // checked by compileAdapter()
    ...(c.summary === undefined ? {} : { summary: c.summary }),
    ...(c.description === undefined ? {} : { description: c.description }),
    ...(c.tags === undefined ? {} : { tags: c.tags }),
    ...(security === undefined ? {} : { security })
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

/** Where a declaration is served: the method and path its requests come by (a route() named as
 * `module#export` in `routes` is served at the path given there), and its `module#export`. */
export interface ServedAt {
  method: string
  path: string
  handler: string | undefined
}

/**
 * Refuse, when the isolate compiles the route (listen() or reload() then fails with
 * ISOPOOL_ERR_INVALID_ROUTE naming the route and its handler), the mistakes that would otherwise
 * fail every request: a `params` schema that does not name exactly the path's parameters (a
 * property no request can have, or a parameter the schema, and so the API document, lacks), and
 * a default that its own schema refuses (every request without the field would get 422).
 */
function checkDeclaration (decl: RouteDeclaration, at: ServedAt): void {
  const c = decl.config
  const fail = (reason: string): never => {
    throw new IsopoolError('ISOPOOL_ERR_INVALID_ROUTE', { method: at.method, path: at.path, reason: at.handler === undefined ? reason : `${reason} (${at.handler})` })
  }
  const limit = rateLimitProblem(c.rateLimit)
  if (limit !== null) fail(limit)
  if (c.compression !== undefined && typeof c.compression !== 'boolean') fail(`compression must be a boolean, got ${typeof c.compression}`)
  if (c.maxBodySize !== undefined && !(typeof c.maxBodySize === 'number' && Number.isSafeInteger(c.maxBodySize) && c.maxBodySize >= 0)) {
    fail(`maxBodySize must be an integer of bytes from 0 to ${Number.MAX_SAFE_INTEGER}, got ${String(c.maxBodySize)}`)
  }
  const params = c.params as { type?: unknown, properties?: unknown } | undefined
  if (params !== undefined && params.type === 'object' && params.properties !== null && typeof params.properties === 'object') {
    const inPath = compilePath(at.method, at.path).names
    const named = Object.keys(params.properties)
    const shown = (names: string[]): string => names.length === 0 ? 'none' : names.map(n => n === '*' ? '*' : `:${n}`).join(', ')
    const stray = named.filter(n => !inPath.includes(n))
    const missing = inPath.filter(n => !named.includes(n))
    const problems: string[] = []
    if (stray.length > 0) {
      problems.push(`the params schema names ${stray.map(n => `"${n}"`).join(', ')}, not ${stray.length === 1 ? 'a parameter' : 'parameters'} of the path (its parameters: ${shown(inPath)})`)
    }
    if (missing.length > 0) problems.push(`the path's ${shown(missing)} ${missing.length === 1 ? 'is' : 'are'} not in the params schema`)
    if (problems.length > 0) fail(problems.join('; '))
  }
  for (const part of ['params', 'query', 'headers', 'cookies', 'body'] as const) {
    const schema = c[part]
    if (schema === undefined) continue
    const bad = refusedDefault(schema, part)
    if (bad !== null) {
      fail(`the default of ${bad.path}, ${bad.value}, does not match its own schema (${bad.problem}): every request without it would get 422`)
    }
  }
}

/** What is wrong with a declaration's `rateLimit` (false, or { max, window } in whole numbers). */
function rateLimitProblem (value: unknown): string | null {
  if (value === undefined || value === false) return null
  const v = value as { max?: unknown, window?: unknown } | null
  const count = (n: unknown, max: number): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= max
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'rateLimit must be false or { max, window }'
  if (!count(v.max, 1e9)) return `rateLimit.max must be an integer from 1 to 1000000000, got ${String(v.max)}`
  if (!count(v.window, 0x7fffffff)) return `rateLimit.window must be an integer of milliseconds from 1 to 2147483647, got ${String(v.window)}`
  return null
}

/** The first default in `schema` (at any depth) that its own schema refuses once applied, or null. */
function refusedDefault (schema: unknown, path: string): { path: string, value: string, problem: string } | null {
  type Node = { s: Record<string, unknown>, at: string, depth: number }
  const stack: Node[] = [{ s: schema as Record<string, unknown>, at: path, depth: 0 }]
  while (stack.length > 0) {
    const { s, at, depth } = stack.pop()!
    if (s === null || typeof s !== 'object' || depth > 64) continue
    if (Object.hasOwn(s, 'default') && s.default !== undefined && typeof s.default !== 'function') {
      let validator: Validator | null = null
      try { validator = Compile(s as TSchema) } catch {} // a schema compiled alone cannot resolve its $refs: not judged
      if (validator !== null) {
        let value: unknown
        try { value = structuredClone(s.default) } catch { value = s.default }
        // Applied as a request would get it: an object default takes its properties' defaults.
        value = validator.Default(value)
        if (!validator.Check(value)) {
          const e = [...validator.Errors(value)][0] as { instancePath?: string, message?: string } | undefined
          const problem = e === undefined ? 'refused' : `${e.instancePath === '' || e.instancePath === undefined ? '' : `${e.instancePath} `}${e.message ?? 'refused'}`
          return { path: at, value: preview(s.default), problem }
        }
      }
    }
    const children: [unknown, string][] = []
    const props = s.properties
    if (props !== null && typeof props === 'object') for (const [k, v] of Object.entries(props)) children.push([v, member(k, at)])
    if (Array.isArray(s.items)) s.items.forEach((v, i) => children.push([v, `${at}[${i}]`]))
    else if (s.items !== undefined) children.push([s.items, `${at}[]`])
    if (Array.isArray(s.prefixItems)) s.prefixItems.forEach((v, i) => children.push([v, `${at}[${i}]`]))
    if (s.additionalProperties !== null && typeof s.additionalProperties === 'object') children.push([s.additionalProperties, `${at}[*]`])
    for (const k of ['anyOf', 'oneOf', 'allOf'] as const) if (Array.isArray(s[k])) for (const v of s[k] as unknown[]) children.push([v, at])
    for (let i = children.length - 1; i >= 0; i--) stack.push({ s: children[i][0] as Record<string, unknown>, at: children[i][1], depth: depth + 1 })
  }
  return null
}

/**
 * Build, once per isolate, the function that serves a typed route: validate and coerce each
 * declared part, answer 422 listing the problems, else call the handler with the typed values.
 */
export function compileAdapter (decl: RouteDeclaration, options: AdapterOptions = DEFAULT_ADAPTER_OPTIONS, at?: ServedAt): (req: IsolateRequest) => unknown {
  const { dev, maxBodyDepth } = options
  const c = decl.config
  checkDeclaration(decl, at ?? { method: String(c.method).toUpperCase(), path: c.path, handler: undefined })
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
  const hasBody = parts.some(p => p.part === 'body')
  // The media types a body may come as, decided now: JSON and MessagePack, or a form's two.
  const bodyTypes = hasBody || isFormRoute(c) ? compileBodyTypes(isFormRoute(c), c.method) : null
  if (parts.length === 0 && bodyTypes === null) return handler as (req: IsolateRequest) => unknown

  const serve = (req: IsolateRequest, formFields: unknown, kind: number): unknown => {
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
        value = part === 'body' ? (formFields ?? readBody(req, maxBodyDepth, kind)) : { ...sourcePart(req, part as Exclude<Part, 'body' | 'response'>) }
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
  // stay available through req.form(), which returns the same parse. A Content-Type the route
  // does not take is a 415 before anything reads the body.
  if (bodyTypes === null) return (req: IsolateRequest) => serve(req, undefined, BODY_NONE)
  const typed = (req: IsolateRequest): unknown => {
    const type = req.headers['content-type']
    const kind = bodyTypes.classify(typeof type === 'string' ? type : undefined, req[BODY_LENGTH])
    return kind === BODY_FORM && hasBody
      ? req.form(c.form).then(form => serve(req, { ...form.fields }, kind))
      : serve(req, undefined, kind)
  }
  if (!hasBody) return typed
  // A body schema validates the whole body: on a streaming route (maxBodySize above the
  // server's) it is gathered first, up to the route's limit.
  return (req: IsolateRequest) => {
    const gathering = req[GATHER]()
    return gathering === null ? typed(req) : gathering.then(() => typed(req))
  }
}

/** A route that takes forms: it declares form limits or file fields. */
function isFormRoute (c: RouteConfig): boolean {
  return c.form !== undefined || c.fileFields !== undefined
}

/** The request's own string-valued part; callers copy before anything converts it in place. */
function sourcePart (req: IsolateRequest, part: Exclude<Part, 'body' | 'response'>): Record<string, string | string[] | undefined> {
  return part === 'params' ? req.params : part === 'query' ? req.query : part === 'headers' ? req.headers : req.cookies
}

/** The body as `kind` (the route's classification of its Content-Type) says it came. */
function readBody (req: IsolateRequest, maxDepth: number, kind: number): unknown {
  const bytes = req[BODY_LENGTH]
  if (bytes === 0) return undefined
  const value = kind === BODY_MSGPACK ? req.msgpack() : req.json()
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
    // Only JSON data is checked: bytes, a Response, a Blob and what cannot be sent at all (named
    // by the response writer) are not the schema's.
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || (typeof value === 'object' && value !== null && !encodable(value))) return value
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
  // Plain objects and arrays (one prototype read), and class instances that are JSON data; bytes,
  // a Response, a Blob, a Map or a generator go to the response writer as they are.
  const wrap = (value: unknown): unknown => encodable(value) ? new Encodable(value, encode) : value
  return (req, deps) => {
    const value = handler(req, deps)
    return value instanceof Promise ? value.then(wrap) : wrap(value)
  }
}
