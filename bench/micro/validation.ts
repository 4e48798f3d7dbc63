// The validation work alone, per request, for the typed scenarios of bench/run.ts: isopool's
// typed-route path (for params and query, the fused validator compiled from the schema, which
// converts and checks in one pass; for the body, TypeBox's compiled check) against
// Ajv configured as Fastify configures it (coerceTypes: 'array', useDefaults, removeAdditional),
// on the same schemas (bench/targets/schemas.ts) and the same inputs. Each side starts from what
// its framework has in hand: the parsed query/params strings, or the parsed JSON body.
// Usage: node bench/micro/validation.ts
import { Ajv } from 'ajv'
import { Bench } from 'tinybench'
import { Compile } from 'typebox/compile'
import { compileCoercer } from '../../src/isolate/coerce.ts'
import { compilePartValidator } from '../../src/isolate/part-validator.ts'
import { load as loadTypebox } from '../../src/isolate/typebox.ts'

// The isolate loads TypeBox's compiler only when it has typed routes (src/isolate/typebox.ts).
await loadTypebox()
import { echoPayload } from '../scenarios.ts'
import { EchoBody, UserParams, UserQuery } from '../targets/schemas.ts'

const ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false })

const params = { id: '42' }
const query = { fields: ['a', 'b'] }
const body = echoPayload(64 * 1024)

// isopool: compiled once per route (as compileAdapter does), per request: one fused call per part.
const paramsValidate = compilePartValidator(UserParams)!
const queryValidate = compilePartValidator(UserQuery)!
// The path before the fused validator (kept for comparison): the compiled coercer, then TypeBox.
const paramsCoerce = compileCoercer(UserParams)!
const queryCoerce = compileCoercer(UserQuery)!
const paramsCheck = Compile(UserParams)
const queryCheck = Compile(UserQuery)
const bodyCheck = Compile(EchoBody)
// Ajv: coerces in place, so each call gets a fresh copy, as Fastify's request does.
const ajvParams = ajv.compile(UserParams)
const ajvQuery = ajv.compile(UserQuery)
const ajvBody = ajv.compile(EchoBody)

const parsed = JSON.parse(body)
if (!paramsValidate({ ...params }) || !queryValidate({ ...query })) throw new Error('isopool\'s fused validator rejects the inputs')
if (!paramsCheck.Check(paramsCoerce({ ...params })) || !queryCheck.Check(queryCoerce({ ...query })) || !bodyCheck.Check(parsed)) throw new Error('isopool rejects the inputs')
if (!ajvParams({ ...params }) || !ajvQuery({ ...query }) || !ajvBody(JSON.parse(body))) throw new Error('ajv rejects the inputs')

// A params+query validation takes tens of nanoseconds, about what tinybench spends around each
// call: so each task runs BATCH requests per call and the time is divided back. Every request
// gets fresh copies of its parts (both frameworks hand the validator objects built for that
// request), stored where the optimizer must keep them, so no copy is elided; "copies only" is
// that cost alone, which both sides pay, and is subtracted for the net figures.
const BATCH = 100
let kept: unknown
let valid = 0
// Each loop is written out (not one shared higher-order loop) so that every task's call site
// sees only its own validators, as a route's adapter does.
const bench = new Bench({ time: 1000, warmup: true })
bench
  .add('params+query: copies only', () => {
    for (let i = 0; i < BATCH; i++) {
      const p = { ...params }; const q = { ...query }
      valid++; kept = p; kept = q
    }
  })
  .add('params+query: isopool (fused validator)', () => {
    // The request's own objects are converted in place; each request has fresh ones.
    for (let i = 0; i < BATCH; i++) {
      const p = { ...params }; const q = { ...query }
      if (paramsValidate(p) && queryValidate(q)) valid++
      kept = p; kept = q
    }
  })
  .add('params+query: isopool before (coerce + TypeBox)', () => {
    for (let i = 0; i < BATCH; i++) {
      const p = { ...params }; const q = { ...query }
      if (paramsCheck.Check(paramsCoerce(p)) && queryCheck.Check(queryCoerce(q))) valid++
      kept = p; kept = q
    }
  })
  .add('params+query: Ajv as Fastify', () => {
    for (let i = 0; i < BATCH; i++) {
      const p = { ...params }; const q = { ...query }
      if (ajvParams(p) && ajvQuery(q)) valid++
      kept = p; kept = q
    }
  })
  .add('64 KiB body: isopool (TypeBox check)', () => { if (bodyCheck.Check(parsed)) valid++ })
  .add('64 KiB body: Ajv as Fastify', () => { if (ajvBody(parsed)) valid++ })
await bench.run()
if (kept === undefined || valid === 0) throw new Error('nothing was validated')

// The median sample, not the mean: on a shared machine a preempted sample is far off, and the
// net figures subtract one task's time from another's.
const ns = (name: string): number => {
  const p50 = (bench.tasks.find(t => t.name === name)!.result as { latency: { p50: number } }).latency.p50 * 1e6
  return name.startsWith('params+query') ? p50 / BATCH : p50
}
for (const t of bench.tasks) console.log(`${t.name.padEnd(50)} ${ns(t.name).toFixed(1).padStart(9)} ns`)
const copies = ns('params+query: copies only')
const ours = ns('params+query: isopool (fused validator)')
const theirs = ns('params+query: Ajv as Fastify')
console.log(`\nisopool / Ajv (below 1: isopool's validation costs less):
  params+query ${(ours / theirs).toFixed(2)}× with the copies, ${((ours - copies) / (theirs - copies)).toFixed(2)}× net of them (${(ours - copies).toFixed(1)} vs ${(theirs - copies).toFixed(1)} ns)
  64 KiB body  ${(ns('64 KiB body: isopool (TypeBox check)') / ns('64 KiB body: Ajv as Fastify')).toFixed(2)}×`)
