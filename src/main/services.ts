// The main thread's services: what must see every request, globally over the isolates — the
// request id, CORS, static files, /metrics, rate limits, the access log. Each is a small
// RequestService with up to three hooks, and the server calls only the hooks some service has:
// with every service off, a request pays for none of them.
//
//   accepted ─▶ begin() each ─▶ builtins / router ─▶ admit() each ─▶ an isolate ─▶ … ─▶ finished() each
//                  │ false: answered here (a preflight,     │ false: answered here (429)
//                  ▼ a file, /metrics)                      ▼
//
// Fields a service wants on the answer (Access-Control-*, x-request-id, RateLimit-*) go in
// res.extra: every head carries them, a handler's, a coded error's, a builtin's alike. What the
// isolates need to know (the client's address, the request id) crosses as the head text's
// pseudo-fields (src/shared/head-text.ts).

import { IsopoolError } from '../shared/errors.ts'
import type { IsolateMessage } from '../shared/protocol.ts'
import type { FinishListener, Http1Request, Http1Response, Refusal, RefusalListener } from './http1.ts'
import type { ResolvedOptions, RouteRateLimit } from './options.ts'
import { metricsService } from './metrics.ts'
import { corsService } from './cors.ts'
import { loggerService } from './logger.ts'
import { rateLimitService } from './rate-limit.ts'
import { requestIdService } from './request-id.ts'
import { staticFiles } from './static-files.ts'

/** What admit() is told of the route a request matched: an HTTP route (RouteInfo) or a WebSocket
 * route's upgrade (SocketRoute). */
export interface AdmittedRoute {
  readonly method: string
  readonly path: string
  /** Its own rate limit, false for none; undefined: the server's. */
  readonly rateLimit: RouteRateLimit | false | undefined
}

export interface RequestService {
  /** Before routing, for every request (builtins and unknown paths too). False: it answered. */
  begin? (req: Http1Request, res: Http1Response): boolean
  /** The request matched `route` and is about to wait for an isolate (or, for a WebSocket route,
   * to be upgraded). False: it answered. */
  admit? (req: Http1Request, res: Http1Response, route: AdmittedRoute): boolean
  /** The answer is over: written whole, or its connection gone first (`res.writableEnded` false). */
  finished? (req: Http1Request, res: Http1Response): void
  /** A message from isolate `isolate` (a log line, a metrics report). */
  message? (isolate: number, msg: IsolateMessage): void
  /** The HTTP layer answered a request itself, before begin() (a malformed head: 400, 431, 408, 501). */
  refused? (refusal: Refusal): void
  /** The server is closing: resolves once the answers this service gives itself (a file being
   * sent) are over; close() waits for it, up to shutdownTimeout, before it cuts connections. */
  settle? (): Promise<void>
  /** The server is closing, its isolates stopped: flush and let go. */
  close? (): void | Promise<void>
}

/** What services may ask of the server they serve. */
export interface ServiceHost {
  /** Isolates serving now, with what the metrics report of each. */
  isolates (): readonly ServiceIsolate[]
  /** Requests placed on isolates and not answered; waiting in the main thread; of those, held. */
  load (): { inFlight: number, waiting: number, held: number }
  /** Isolates replaced since listen(). */
  restarts (): number
}

export interface ServiceIsolate {
  readonly index: number
  /** Ask it for a metrics report (an IsolateMessage 'metrics' with the same id comes back). */
  post (msg: { type: 'metrics', id: number }): void
  /** 'ready' | 'stalled' | 'suspect' | 'stopping' (IsolateHandle.state). */
  readonly state: string
  /** Event-loop utilization since it started, 0 to 1. */
  utilization (): number
  /** Bytes in use in its request and response rings, and their capacity. */
  rings (): { request: number, response: number, capacity: number }
}

/** The services the options turn on, in the order their hooks run. */
export function createServices (options: ResolvedOptions, host: ServiceHost): RequestService[] {
  const services: RequestService[] = []
  // The request id first: every other service's answers (a preflight, a 429) carry it.
  const id = requestIdService(options.given.requestId)
  if (id !== null) services.push(id)
  // CORS: before anything that answers in begin(), so those answers carry its headers.
  const cors = corsService(options.given.cors)
  if (cors !== null) services.push(cors)
  // Files: after the request id and CORS (their headers go on a file's answer too), before
  // metrics and rate limits.
  const files = staticFiles(options)
  if (files !== null) services.push(files)
  // Metrics: after CORS (a scrape from a browser gets its headers), before rate limits (a scrape
  // is never limited) and the logger.
  const metrics = metricsService(options, host)
  if (metrics !== null) services.push(metrics)
  // Rate limits (admit: routed requests and WebSocket upgrades). Always there: a route may bring its own limit
  // after the services are made (server.route(), a route() declaration an isolate finds).
  services.push(rateLimitService(options.given.rateLimit))
  // The access log last: its finished() runs after the others', and sees what they added.
  const logger = loggerService(options)
  if (logger !== null) services.push(logger)
  return services
}

/** The services, their hooks gathered once: the server asks `begin`, `admit` and `finished` only
 * of those that have them. */
export class Services implements FinishListener {
  readonly all: readonly RequestService[]
  private readonly beginners: RequestService[]
  private readonly admitters: RequestService[]
  private readonly finishers: RequestService[]
  /** Some service needs the answer's end. */
  readonly listens: boolean
  /** What the HTTP layer tells of the requests it refused itself; null when no service asks. */
  readonly refusals: RefusalListener | null

  constructor (all: RequestService[]) {
    this.all = all
    this.beginners = all.filter(s => s.begin !== undefined)
    this.admitters = all.filter(s => s.admit !== undefined)
    this.finishers = all.filter(s => s.finished !== undefined)
    this.listens = this.finishers.length > 0
    const refusers = all.filter(s => s.refused !== undefined)
    this.refusals = refusers.length === 0 ? null : (r: Refusal) => {
      for (const s of refusers) {
        try { s.refused!(r) } catch (err) { console.error('isopool: a service failed after a refusal:', err) }
      }
    }
  }

  /** begin() has anything to do: a service with a begin hook, or one that hears the end. */
  get begins (): boolean { return this.beginners.length > 0 || this.listens }

  /** admit() has anything to do. */
  get admits (): boolean { return this.admitters.length > 0 }

  /** Before routing; false when a service answered. */
  begin (req: Http1Request, res: Http1Response): boolean {
    if (this.listens) res.onFinish(this)
    const b = this.beginners
    for (let i = 0; i < b.length; i++) if (!b[i].begin!(req, res)) return false
    return true
  }

  /** After routing; false when a service answered. */
  admit (req: Http1Request, res: Http1Response, route: AdmittedRoute): boolean {
    const a = this.admitters
    for (let i = 0; i < a.length; i++) if (!a[i].admit!(req, res, route)) return false
    return true
  }

  responseFinished (res: Http1Response): void {
    const req = res.request as Http1Request
    req.finishedAt = performance.now() // one clock read for the log and the metrics alike
    const f = this.finishers
    for (let i = 0; i < f.length; i++) {
      try {
        f[i].finished!(req, res)
      } catch (err) {
        console.error('isopool: a service failed after a response:', err)
      }
    }
  }

  message (isolate: number, msg: IsolateMessage): void {
    for (const s of this.all) s.message?.(isolate, msg)
  }

  /** Every service's answers under way are over. */
  settle (): Promise<void> {
    return Promise.all(this.all.map(s => s.settle?.())).then(() => {})
  }

  async close (): Promise<void> {
    for (const s of this.all) {
      try { await s.close?.() } catch (err) { console.error('isopool: a service failed to close:', err) }
    }
  }
}

/** Milliseconds from the request's start (the server's onRequest()) to its answer's end (responseFinished()),
 * or to now when no end was marked: the time the access log and the metrics report. */
export function elapsedMs (req: Http1Request): number {
  return (req.finishedAt > 0 ? req.finishedAt : performance.now()) - req.startedAt
}

/** ISOPOOL_ERR_INVALID_OPTION for a service's option. */
export function badOption (option: string, reason: string): never {
  throw new IsopoolError('ISOPOOL_ERR_INVALID_OPTION', { option, reason })
}
