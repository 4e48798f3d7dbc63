// Why the access log writes its line itself rather than through logger.info (src/main/logger.ts
// AccessLog.finished()): time per line, pino's generic path against the direct one, into a
// stream that drops what it is given (the serialization alone) and into pino.destination to
// /dev/null with the 4 KiB buffer of `logger: true` (written synchronously here: this loop never
// lets an asynchronous write finish, so the buffer would only grow).
// Usage: node bench/micro/access-log.ts
import { Bench } from 'tinybench'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { AccessLog } from '../../src/main/logger.ts'
import type { Http1Request, Http1Response } from '../../src/main/http1.ts'

const dropped = { write (_s: string) {} }
const toNull = (): Logger => pino(pino.destination({ dest: '/dev/null', minLength: 4096, sync: true }))

const light = { id: '', method: 'GET', url: '/hello', route: '/hello', isolate: 1, startedAt: performance.now() } as Http1Request
const full = { id: 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', method: 'GET', url: '/users/12345/orders?status=open&limit=20&cursor=abcdef', route: '/users/:id/orders', isolate: 1, startedAt: performance.now() } as Http1Request
const res = { statusCode: 200, bytes: 13, writableEnded: true } as Http1Response

/** What finished() did before: the line as an object, to logger.info. */
function viaInfo (logger: Logger, req: Http1Request, res: Http1Response): void {
  if (!logger.isLevelEnabled('info')) return
  const duration = Math.round((performance.now() - req.startedAt) * 1000) / 1000
  const isolate = req.isolate < 0 ? null : req.isolate
  const line = req.id === ''
    ? { method: req.method, url: req.url, status: res.statusCode, duration, bytes: res.bytes, route: req.route, isolate }
    : { id: req.id, method: req.method, url: req.url, status: res.statusCode, duration, bytes: res.bytes, route: req.route, isolate }
  logger.info(line, 'request completed')
}

const dropLogger = pino({}, dropped)
const dropLog = new AccessLog(dropLogger)
const nullLogger = toNull()
const nullLog = new AccessLog(nullLogger)
if (!dropLog.writesDirectly || !nullLog.writesDirectly) throw new Error('the direct path is not taken')

const bench = new Bench({ time: 500, warmup: true })
bench
  .add('light, dropped: logger.info', () => { viaInfo(dropLogger, light, res) })
  .add('light, dropped: direct', () => { dropLog.finished(light, res) })
  .add('id + long url, dropped: logger.info', () => { viaInfo(dropLogger, full, res) })
  .add('id + long url, dropped: direct', () => { dropLog.finished(full, res) })
  .add('light, /dev/null: logger.info', () => { viaInfo(nullLogger, light, res) })
  .add('light, /dev/null: direct', () => { nullLog.finished(light, res) })
await bench.run()
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number } } | undefined
  console.log(`${t.name.padEnd(38)} ${((r?.latency?.mean ?? NaN) * 1e6).toFixed(0).padStart(7)} ns`)
}
nullLogger.flush()
