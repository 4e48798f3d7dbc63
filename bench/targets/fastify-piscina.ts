// Bench target: Fastify 5 with every handler offloaded to a piscina pool of n threads
// (`await piscina.run(arg, { name })`, as piscina's docs show), the usual way to keep Fastify's
// event loop free of CPU work. Usage: node bench/targets/fastify-piscina.ts [--threads n]

import { parseArgs } from 'node:util'
import { Piscina } from 'piscina'
import { buildApp, listen } from './fastify-app.ts'
import { ready } from './lifecycle.ts'

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' } } })
const threads = Number(values.threads)

const pool = new Piscina({
  filename: new URL('./piscina-worker.ts', import.meta.url).href,
  minThreads: threads,
  maxThreads: threads,
  // Tasks wait in piscina's queue when every thread is busy (its default is unbounded too).
  maxQueue: Infinity
})
const app = buildApp((name, arg) => pool.run(arg, { name }))
const port = await listen(app)
// Every thread up and its module (and sqlite connection) loaded before we say ready.
await Promise.all(Array.from({ length: threads }, () => pool.run(undefined, { name: 'hello' })))
ready(port, async () => {
  await app.close()
  await pool.destroy()
})
