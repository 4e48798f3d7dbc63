// RSS of a 1 GiB upload hashed by req.stream(), from a COLD baseline (right after listen, two
// isolates, default options but the route's maxBodySize), the client in the same process as
// test/upload-stream.test.ts has it. Each round is one upload on the same server; the first is
// the cold one. `npx node bench/upload-rss.ts [rounds]`; BYTES= sets the upload's size.
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { createServer } from '../src/index.ts'

const GiB = 1024 ** 3
const n = Number(process.env.BYTES ?? GiB)
const rounds = Number(process.argv[2] ?? 2)
const server = createServer({
  root: fileURLToPath(new URL('../test/fixtures/', import.meta.url)),
  isolates: 2,
  routes: [{ method: 'POST', path: '/hash', handler: './upload.ts#hash', maxBodySize: 2 * GiB, timeout: 0 }]
})
const { url } = await server.listen({ port: 0, host: '127.0.0.1' })
const agent = new Agent({ connections: 1 })
const block = Buffer.alloc(1024 * 1024, 7)
function body (): Readable {
  let left = n
  return new Readable({
    read () {
      if (left === 0) return this.push(null)
      const k = Math.min(left, block.length)
      left -= k
      this.push(k === block.length ? block : block.subarray(0, k))
    }
  })
}
const mib = (x: number): string => (x / 1048576).toFixed(1)
const cold = process.memoryUsage().rss
for (let r = 0; r < rounds; r++) {
  const start = process.memoryUsage().rss
  let peak = start
  let peakArrayBuffers = 0
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    peak = Math.max(peak, m.rss)
    peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers)
  }, 20)
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  const res = await request(url + '/hash', { method: 'POST', body: body(), headers: { 'content-length': String(n) }, dispatcher: agent })
  const json = await res.body.json() as { bytes: number }
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  const used = process.cpuUsage(cpu)
  if (json.bytes !== n) throw new Error(`hashed ${json.bytes} bytes of ${n}`)
  console.log(`upload ${r + 1}: ${Math.round(performance.now() - t0)} ms, CPU ${Math.round((used.user + used.system) / 1000)} ms, ` +
    `peak RSS +${mib(peak - cold)} MiB over cold (+${mib(peak - start)} over this upload's start), main thread's ArrayBuffers peak ${mib(peakArrayBuffers)} MiB`)
}
await server.close()
await agent.close()
