// Bench target: node:cluster running the Fastify app (fastify-app.ts) in n worker processes,
// the primary distributing connections (Node's default round-robin scheduling on Linux), as
// node:cluster's docs show. The pid it reports is the primary's: the harness counts CPU and
// memory over the whole process tree. Usage: node bench/targets/cluster.ts [--workers n]

import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { openSqlite } from '../scenarios.ts'
import { buildApp, listen } from './fastify-app.ts'
import { ready } from './lifecycle.ts'

if (cluster.isPrimary) {
  const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' } } })
  const n = Number(values.workers)
  let stopping = false
  const ports = await new Promise<number[]>((resolve, reject) => {
    const got: number[] = []
    cluster.on('message', (_worker, msg: { port?: number }) => {
      if (typeof msg?.port === 'number') {
        got.push(msg.port)
        if (got.length === n) resolve(got)
      }
    })
    cluster.on('exit', (worker, code) => {
      if (!stopping) reject(new Error(`cluster worker ${worker.process.pid} exited with code ${code}`))
    })
    for (let i = 0; i < n; i++) cluster.fork()
  })
  if (new Set(ports).size !== 1) throw new Error(`cluster workers listen on different ports: ${ports.join(', ')}`)
  ready(ports[0], async () => {
    stopping = true
    const workers = Object.values(cluster.workers ?? {})
    await Promise.all(workers.map(w => w === undefined
      ? undefined
      : new Promise<void>((resolve) => {
        w.once('exit', () => resolve())
        w.kill('SIGTERM')
      })))
  })
} else {
  openSqlite()
  const app = buildApp()
  // In a cluster worker, listen(0) gets the same port in every worker (node:cluster docs).
  const port = await listen(app, 0)
  process.send!({ port })
}
