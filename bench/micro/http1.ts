// The main thread's HTTP work per request, without the kernel: isopool's HTTP/1.1 layer
// (src/main/http1.ts) against node:http, each serving an in-memory duplex stream instead of a
// TCP socket, so that what is measured is parsing the request and writing the response — the
// syscalls, the same for both, are left out. Each round trip pushes one request (the head wrk
// sends for `hello`, and a 1 KiB JSON POST) into the connection and waits for the response's
// bytes; both answer {"hello":"world"} with a content-type and a content-length, the way each
// is written in the server (isopool: writeHead with the header list, then endFrom; node:http:
// writeHead with an object, then end).
// Usage: node bench/micro/http1.ts [--time ms]
import { createServer } from 'node:http'
import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { Bench } from 'tinybench'
import { Http1Server } from '../../src/main/http1.ts'

const { values } = parseArgs({ options: { time: { type: 'string', default: '2000' } } })

const BODY = Buffer.from('{"hello":"world"}')
const GET = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n')
const json = JSON.stringify({ items: Array.from({ length: 24 }, (_, i) => ({ id: i, name: `item ${i}`, ok: true })) }).slice(0, 1024)
const POST = Buffer.from(`POST /echo HTTP/1.1\r\nhost: 127.0.0.1:3000\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nuser-agent: bench\r\naccept: */*\r\n\r\n${json}`)

/** A connection in memory: what is pushed is what the server reads; its writes end a round trip
 * once a whole response (`expect` bytes, measured once per server) has come out. */
class Pipe extends Duplex {
  private waiting: (() => void) | null = null
  private got = 0
  expect = Infinity
  _read (): void {}
  _write (chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.got += chunk.byteLength
    if (this.got >= this.expect) {
      this.got = 0
      const w = this.waiting
      this.waiting = null
      w?.()
    }
    cb()
  }

  roundTrip (request: Buffer): Promise<void> {
    return new Promise(resolve => {
      this.waiting = resolve
      this.push(request)
    })
  }
}
// isopool's layer, its limits as createServer resolves them by default.
const iso = new Http1Server(
  { maxHeaderSize: 16384, headersTimeout: 60_000, requestTimeout: 300_000, keepAliveTimeout: 5000, checkInterval: 15_000, maxDrain: 1 << 20 },
  (req, res) => {
    const answer = (): void => {
      res.writeHead(200, ['content-type', 'application/json; charset=utf-8', 'content-length', String(BODY.byteLength)])
      res.endFrom(BODY, 0, BODY.byteLength)
    }
    if (req.bodyLength === 0) answer()
    else req.onBody(() => {}, answer)
  }
)
// node:http, as a server on it is written.
const node = createServer((req, res) => {
  const answer = (): void => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': BODY.byteLength })
    res.end(BODY)
  }
  if (req.headers['content-length'] === undefined) answer()
  else req.on('data', () => {}).on('end', answer)
})

const isoPipe = new Pipe()
const nodePipe = new Pipe()
iso.accept(isoPipe as unknown as Socket)
node.emit('connection', nodePipe)

// Each server's response length, measured once (they differ by a few header bytes: node:http
// spells out Connection and Keep-Alive).
async function responseLength (pipe: Pipe): Promise<number> {
  let n = 0
  const write = pipe._write.bind(pipe)
  pipe._write = (chunk, enc, cb) => { n += chunk.byteLength; cb() }
  pipe.push(GET)
  await new Promise(resolve => setTimeout(resolve, 50))
  pipe._write = write
  return n
}
const isoBytes = await responseLength(isoPipe)
const nodeBytes = await responseLength(nodePipe)
isoPipe.expect = isoBytes
nodePipe.expect = nodeBytes

const bench = new Bench({ time: Number(values.time), warmup: true, warmupTime: 300 })
bench
  .add('GET hello: isopool http1.ts', () => isoPipe.roundTrip(GET))
  .add('GET hello: node:http', () => nodePipe.roundTrip(GET))
  .add('POST 1 KiB: isopool http1.ts', () => isoPipe.roundTrip(POST))
  .add('POST 1 KiB: node:http', () => nodePipe.roundTrip(POST))
await bench.run()

console.log(`response bytes: isopool ${isoBytes}, node:http ${nodeBytes}\n`)
const rate = (name: string): number => (bench.getTask(name)?.result as { throughput?: { mean: number } } | undefined)?.throughput?.mean ?? NaN
for (const kind of ['GET hello', 'POST 1 KiB']) {
  const a = rate(`${kind}: isopool http1.ts`)
  const b = rate(`${kind}: node:http`)
  console.log(`${kind.padEnd(11)} isopool ${Math.round(a).toLocaleString('en-US').padStart(9)} req/s  node:http ${Math.round(b).toLocaleString('en-US').padStart(9)} req/s  ratio ${(a / b).toFixed(2)}×  (${(1e6 / a).toFixed(2)} vs ${(1e6 / b).toFixed(2)} µs)`)
}
process.exit(0)
