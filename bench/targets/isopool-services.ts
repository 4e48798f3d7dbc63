// The services run's isopool options (bench/service-sets.ts): a set of services turned into what
// createServer() takes, each as isopool's docs show it (docs/services.md), tuned only so that the
// run measures what a service costs and nothing else (a log that goes nowhere, a limit never
// reached).

import pino from 'pino'
import type { ServerOptions } from 'isopool'
import { LIMIT_WINDOW, NEVER_LIMITS } from '../service-sets.ts'
import type { ServiceName } from '../service-sets.ts'

/** The options that turn on `services` and leave every other service off. */
export function isopoolServices (services: readonly ServiceName[]): ServerOptions {
  const on = new Set(services)
  return {
    // Request ids are on by default: a set without them must say so.
    requestId: on.has('requestId'),
    cors: on.has('cors'),
    compression: on.has('compression'),
    // pino to /dev/null: every request's line is made and written (pino's asynchronous
    // SonicBoom, through the 4 KiB buffer isopool's `logger: true` uses on stdout), and nothing
    // floods the terminal or a disk.
    logger: on.has('logger') ? pino({}, pino.destination({ dest: '/dev/null', minLength: 4096 })) : false,
    metrics: on.has('metrics'),
    rateLimit: on.has('rateLimit') ? { max: NEVER_LIMITS, window: LIMIT_WINDOW } : false,
    // Relative to the target's root, bench/targets/.
    ...(on.has('middleware') ? { middleware: ['./bench-middleware.ts#benchHeader'] } : {})
  }
}
