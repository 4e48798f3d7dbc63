// The ws-echo benchmark's load generator, in its own process (bench/ws-echo.ts starts it):
// `--connections` WebSocket clients (the ws package), each sending a `--size`-byte text message
// and waiting for its echo before the next, for `--warmup` s uncounted, then `--duration` s.
// Prints one line of JSON: { messages, seconds, rate, errors, p50, p99 } (latencies in ms).

import { parseArgs } from 'node:util'
import WebSocket from 'ws'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    size: { type: 'string', default: '32' },
    /** Print `counting` when the counted window starts (the harness reads CPU then). */
    signal: { type: 'boolean', default: false }
  }
})
const url = values.url!
const connections = Number(values.connections)
const payload = 'x'.repeat(Number(values.size))

let counting = false
let messages = 0
let errors = 0
let stopped = false
const latencies: number[] = []

function client (): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

// Connected in batches: the listen backlog is not what is measured.
const sockets: WebSocket[] = []
for (let i = 0; i < connections; i += 50) {
  sockets.push(...await Promise.all(Array.from({ length: Math.min(50, connections - i) }, client)))
}
for (const ws of sockets) {
  let sentAt = 0
  const send = (): void => {
    if (stopped) return
    sentAt = performance.now()
    ws.send(payload)
  }
  ws.on('message', (data: Buffer) => {
    if (data.byteLength !== payload.length) errors++
    if (counting) {
      messages++
      if ((messages & 15) === 0) latencies.push(performance.now() - sentAt)
    }
    send()
  })
  ws.on('error', () => { errors++ })
  ws.on('close', () => { if (!stopped) errors++ })
  send()
}
await new Promise(resolve => setTimeout(resolve, Number(values.warmup) * 1000))
counting = true
if (values.signal) process.stdout.write('counting\n')
const start = performance.now()
await new Promise(resolve => setTimeout(resolve, Number(values.duration) * 1000))
counting = false
const seconds = (performance.now() - start) / 1000
stopped = true
latencies.sort((a, b) => a - b)
const at = (q: number): number => latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
process.stdout.write(JSON.stringify({ messages, seconds, rate: messages / seconds, errors, p50: at(0.5), p99: at(0.99) }) + '\n')
for (const ws of sockets) ws.terminate()
process.exit(0)
