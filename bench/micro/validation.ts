// The validation work alone, per request, for the typed scenarios of bench/run.ts: isopool's
// typed-route path (a coercer compiled from the schema, then TypeBox's compiled check) against
// Ajv configured as Fastify configures it (coerceTypes: 'array', useDefaults, removeAdditional),
// on the same schemas (bench/targets/schemas.ts) and the same inputs. Each side starts from what
// its framework has in hand: the parsed query/params strings, or the parsed JSON body.
// Usage: node bench/micro/validation.ts
import { Ajv } from 'ajv'
import { Bench } from 'tinybench'
import { Compile } from 'typebox/compile'
import { compileCoercer } from '../../src/isolate/coerce.ts'
import { echoPayload } from '../scenarios.ts'
import { EchoBody, UserParams, UserQuery } from '../targets/schemas.ts'

const ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false })

const params = { id: '42' }
const query = { fields: ['a', 'b'] }
const body = echoPayload(64 * 1024)

// isopool: compiled once per route (as compileAdapter does), per request: coerce + check.
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
if (!paramsCheck.Check(paramsCoerce({ ...params })) || !queryCheck.Check(queryCoerce({ ...query })) || !bodyCheck.Check(parsed)) throw new Error('isopool rejects the inputs')
if (!ajvParams({ ...params }) || !ajvQuery({ ...query }) || !ajvBody(JSON.parse(body))) throw new Error('ajv rejects the inputs')

const bench = new Bench({ time: 1000, warmup: true })
bench
  .add('params+query: isopool (coerce + TypeBox)', () => {
    // The request's own objects are coerced in place; each request has fresh ones.
    paramsCheck.Check(paramsCoerce({ ...params }))
    queryCheck.Check(queryCoerce({ ...query }))
  })
  .add('params+query: Ajv as Fastify', () => {
    ajvParams({ ...params })
    ajvQuery({ ...query })
  })
  .add('64 KiB body: isopool (TypeBox check)', () => { bodyCheck.Check(parsed) })
  .add('64 KiB body: Ajv as Fastify', () => { ajvBody(parsed) })
await bench.run()

const ns = (name: string): number => ((bench.tasks.find(t => t.name === name)!.result as { latency: { mean: number } }).latency.mean) * 1e6
for (const t of bench.tasks) console.log(`${t.name.padEnd(44)} ${ns(t.name).toFixed(0).padStart(8)} ns`)
console.log(`\nisopool / Ajv: params+query ${(ns('params+query: isopool (coerce + TypeBox)') / ns('params+query: Ajv as Fastify')).toFixed(2)}×, 64 KiB body ${(ns('64 KiB body: isopool (TypeBox check)') / ns('64 KiB body: Ajv as Fastify')).toFixed(2)}× (below 1: isopool's validation costs less)`)
