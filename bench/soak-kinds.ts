// What bench/soak-load.ts sends and reports, shared with bench/soak.ts (which must not import
// soak-load.ts itself: that module is a program, it runs at import).

export const NORMAL_KINDS = ['light', 'cpu', 'async', 'echo'] as const
export const FAULT_KINDS = ['crash', 'exit', 'hang'] as const
export type Kind = typeof NORMAL_KINDS[number] | typeof FAULT_KINDS[number]
export const KINDS: readonly Kind[] = [...NORMAL_KINDS, ...FAULT_KINDS]

/**
 * Statuses each kind may get. A normal request gets 200, or 502 when it shared an isolate with a
 * crash, an exit or a hang (the isolate died under it), or 504 when it waited behind a hang on
 * the stuck isolate, or 503 (ISOPOOL_ERR_NO_ISOLATE) when it stayed queued for its whole timeout
 * because no isolate could take it (all restarting or stuck). A fault request gets 502 (its
 * isolate died), 504 (the route's timeout passed first: always so for a hang), or 503 like the
 * others when it never reached an isolate.
 */
export const ALLOWED: Record<Kind, readonly number[]> = {
  light: [200, 502, 503, 504],
  cpu: [200, 502, 503, 504],
  async: [200, 502, 503, 504],
  echo: [200, 502, 503, 504],
  crash: [502, 503, 504],
  exit: [502, 503, 504],
  hang: [502, 503, 504]
}

export type NoAnswerCause = 'timeout' | 'reset' | 'refused' | 'truncated' | 'other' | 'unfinished'
export const NO_ANSWER_CAUSES: readonly NoAnswerCause[] = ['timeout', 'reset', 'refused', 'truncated', 'other', 'unfinished']

export interface KindStats {
  sent: number
  /** Complete responses by status code. */
  status: Record<string, number>
  /** Requests that got no complete response, by cause. */
  noAnswer: Record<NoAnswerCause, number>
  /** Responses with a status this kind may not get, or a 200 with a wrong body. */
  unexpected: number
  /** Latency of complete responses, send → last body byte, ms. */
  latencyMs: { p50: number, p99: number, max: number }
}

export interface SoakProgress {
  type: 'progress'
  /** Seconds since the load started. */
  t: number
  sent: number
  answered: number
  status: Record<string, number>
  noAnswer: number
  unexpected: number
  inFlight: number
}

export interface SoakLoadResult {
  type: 'result'
  url: string
  connections: number
  durationS: number
  faultRate: number
  timeoutS: number
  /** Seconds from the first request to the last answer (or to giving up on the unfinished). */
  elapsedS: number
  sent: number
  answered: number
  status: Record<string, number>
  noAnswer: Record<NoAnswerCause, number>
  unexpected: number
  kinds: Record<Kind, KindStats>
  /** "<status> <error message>" of non-200 answers, and "<cause> <error code>" of no answers. */
  reasons: Record<string, number>
  /** A few examples of unexpected answers, for the report. */
  unexpectedExamples: string[]
}
