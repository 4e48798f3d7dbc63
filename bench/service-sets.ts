// The service sets of the services run (bench/run.ts, targets `isopool[-N]:SET` and
// `fastify:SET`): which of isopool's production services a target turns on. Shared by the
// harness, which names the targets, and the targets, which turn the services on
// (targets/isopool-services.ts, targets/fastify-services.ts).
//
//   off                 every service off (isopool's request ids too: they are on by default)
//   all                 every service on
//   cors                one service alone
//   cors+logger         several together
//   each                (for a target name only) off, every service alone, and all

/** The services measured, in the order of the report. trustProxy is left out: it costs nothing
 * until a request carries X-Forwarded-For, and the load sends none. */
export const SERVICE_NAMES = ['requestId', 'cors', 'compression', 'logger', 'metrics', 'rateLimit', 'middleware'] as const
export type ServiceName = typeof SERVICE_NAMES[number]

/** The `max` of both rate limits: a number of requests one window never reaches (1e9 a minute is
 * 16 million a second), so the limiter counts every request and never answers 429. */
export const NEVER_LIMITS = 1_000_000_000

/** The window of both rate limits, ms. */
export const LIMIT_WINDOW = 60_000

const BY_LOWER = new Map<string, ServiceName>(SERVICE_NAMES.map(n => [n.toLowerCase(), n]))

/** The services of a set's name (case-insensitive), in SERVICE_NAMES order; null when it names
 * none of them (`each` is not a set: see serviceSets). */
export function parseServiceSet (text: string): ServiceName[] | null {
  const t = text.trim().toLowerCase()
  if (t === 'off') return []
  if (t === 'all') return [...SERVICE_NAMES]
  const on = new Set<ServiceName>()
  for (const part of t.split('+')) {
    const name = BY_LOWER.get(part.trim())
    if (name === undefined) return null
    on.add(name)
  }
  return SERVICE_NAMES.filter(n => on.has(n))
}

/** A set's canonical name: `off`, `all`, or its services in SERVICE_NAMES order joined by `+`. */
export function serviceSetName (services: readonly ServiceName[]): string {
  if (services.length === 0) return 'off'
  if (services.length === SERVICE_NAMES.length) return 'all'
  return SERVICE_NAMES.filter(n => services.includes(n)).join('+')
}

/** The canonical set names `text` stands for: `each` → off, each service alone, all; otherwise
 * the one set it names. null when it is neither. */
export function serviceSets (text: string): string[] | null {
  if (text.trim().toLowerCase() === 'each') return ['off', ...SERVICE_NAMES, 'all']
  const set = parseServiceSet(text)
  return set === null ? null : [serviceSetName(set)]
}

/** The most a set may cost of the req/s its target has with every service off: 5 % for one
 * service, 15 % for several (issue #16). */
export function costLimit (services: readonly ServiceName[]): number {
  return services.length <= 1 ? 0.05 : 0.15
}
