// The dispatcher's rules, without sockets, threads or sleeps: fake isolates (candidates that
// record what they take), fake requests, and a clock the test moves.
import { describe, expect, it } from 'vitest'
import { Dispatcher, retryAfter, SHEDDING_FOR_MS } from '../../src/main/dispatch.ts'
import type { Candidate, Clock, Job } from '../../src/main/dispatch.ts'
import { LIGHT_WINDOW_MS, LONG_MS, MAX_LONG, MAX_LONG_MIXED } from '../../src/main/route-costs.ts'
import type { IsopoolError } from '../../src/shared/errors.ts'

class FakeClock implements Clock {
  t = 10_000
  now (): number { return this.t }
  advance (ms: number): void { this.t += ms }
}

/** A route with a known cost (ms a request keeps an isolate busy). */
class Route {
  readonly name: string
  ms: number
  constructor (name: string, ms: number) {
    this.name = name
    this.ms = ms
  }
}

let seq = 0

class FakeJob implements Job<string> {
  readonly route: Route
  readonly seq = seq++
  readonly label: string
  bytes = 100
  cost = 0
  settled = false
  placedOn: string | null = null
  refused: IsopoolError | null = null
  retryAfter: number | undefined
  constructor (route: Route, label = route.name) {
    this.route = route
    this.label = label
  }

  expectedCost (): number { return this.route.ms }
  placed (p: string): void { this.placedOn = p }
  refuse (err: IsopoolError, retryAfter?: number): void {
    this.refused = err
    this.retryAfter = retryAfter
    this.settled = true
  }
}

class FakeIsolate implements Candidate<FakeJob, string> {
  readonly name: string
  work = 0
  inFlight = 0
  long = 0
  accepting = true
  /** How many more it takes before its ring is full. */
  room = Infinity
  readonly jobs: FakeJob[] = []
  constructor (name: string) { this.name = name }

  take (job: FakeJob): string | null {
    if (this.room <= 0) return null
    this.room--
    this.jobs.push(job)
    this.work += job.cost
    this.inFlight++
    if (job.cost >= LONG_MS) this.long++
    return this.name
  }

  /** The isolate answered `job`. */
  done (job: FakeJob): void {
    this.jobs.splice(this.jobs.indexOf(job), 1)
    this.work -= job.cost
    this.inFlight--
    if (job.cost >= LONG_MS) this.long--
  }
}

function setup (isolates: number, maxQueue = 100, maxQueueWait = 0, maxQueueBytes = 1 << 30): { d: Dispatcher<string, FakeJob>, clock: FakeClock, iso: FakeIsolate[] } {
  const clock = new FakeClock()
  const d = new Dispatcher<string, FakeJob>({ maxQueue, maxQueueWait, maxQueueBytes }, clock)
  const iso = Array.from({ length: isolates }, (_, i) => new FakeIsolate(`i${i}`))
  d.setCandidates(iso)
  return { d, clock, iso }
}

const light = new Route('light', 0.05)
const heavy = new Route('heavy', 5)

describe('placement', () => {
  it('puts a request on the isolate with the least expected work, then the fewest in flight', () => {
    const { d, iso } = setup(3)
    iso[0].work = 3
    iso[1].work = 0.5
    iso[2].work = 0.5
    iso[1].inFlight = 4
    iso[2].inFlight = 2
    const job = new FakeJob(light)
    d.submit(job)
    expect(job.placedOn).toBe('i2')
    expect(job.cost).toBe(0.05)
  })

  it('charges the cost the route has when the request is placed, not when it came', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    const route = new Route('learning', 0.05)
    const job = new FakeJob(route)
    d.submit(job)
    route.ms = 3 // learned while it waited
    iso[0].accepting = true
    d.pump()
    expect(job.cost).toBe(3)
  })

  it('skips isolates that do not accept, and tries the next when a ring is full', () => {
    const { d, iso } = setup(3)
    iso[0].accepting = false
    iso[1].room = 0
    const job = new FakeJob(light)
    d.submit(job)
    expect(job.placedOn).toBe('i2')
  })

  it('queues what no isolate can take, and places it in order once one can', () => {
    const { d, iso } = setup(1)
    iso[0].room = 0
    const jobs = [1, 2, 3].map(i => new FakeJob(light, `l${i}`))
    for (const j of jobs) d.submit(j)
    expect(d.waiting).toBe(3)
    iso[0].room = 2
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['l1', 'l2'])
    iso[0].room = 5
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['l1', 'l2', 'l3'])
    expect(d.waiting).toBe(0)
  })

  it('lets nothing pass the queue: a newcomer waits behind what waits', () => {
    const { d, iso } = setup(1)
    iso[0].room = 0
    const first = new FakeJob(light, 'first')
    d.submit(first)
    iso[0].room = 1 // room again, but the queue is not pumped yet
    const second = new FakeJob(light, 'second')
    d.submit(second)
    expect(second.placedOn).toBeNull()
    d.pump()
    expect(first.placedOn).toBe('i0')
  })

  it('refuses with 503 ISOPOOL_ERR_OVERLOADED once maxQueue requests wait', () => {
    const { d, iso } = setup(1, 2)
    iso[0].accepting = false
    const jobs = [1, 2, 3].map(i => new FakeJob(light, `l${i}`))
    for (const j of jobs) d.submit(j)
    expect(jobs.map(j => j.refused?.code ?? null)).toEqual([null, null, 'ISOPOOL_ERR_OVERLOADED'])
    expect(jobs[2].refused?.status).toBe(503)
  })

  it('drops a withdrawn request and skips a settled one', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    const [a, b, c] = ['a', 'b', 'c'].map(l => new FakeJob(light, l))
    for (const j of [a, b, c]) d.submit(j)
    d.withdraw(a)
    b.settled = true
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['c'])
  })
})

describe('long requests', () => {
  it(`go ${MAX_LONG} to an isolate when no light request came for ${LIGHT_WINDOW_MS} ms; the rest are held`, () => {
    const { d, iso } = setup(1)
    const jobs = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of jobs) d.submit(j)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h1', 'h2'])
    expect(d.waiting).toBe(1)
  })

  it(`go ${MAX_LONG_MIXED} to an isolate while light requests of other routes come, and ${MAX_LONG} again once they stop`, () => {
    const { d, clock, iso } = setup(1)
    d.submit(new FakeJob(light))
    iso[0].done(iso[0].jobs[0])
    clock.advance(LIGHT_WINDOW_MS - 1)
    const [h1, h2] = [1, 2].map(i => new FakeJob(heavy, `h${i}`))
    d.submit(h1)
    d.submit(h2)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h1'])
    clock.advance(2) // the light one is past the window now
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h1', 'h2'])
  })

  it('are passed by light requests while they are held: light ones wait behind one long job at most', () => {
    const { d, iso } = setup(1)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    const longs = [1, 2, 3, 4].map(i => new FakeJob(heavy, `long ${i}`))
    for (const j of longs) d.submit(j)
    const l = new FakeJob(light, 'light')
    d.submit(l)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['long 1', 'light'])
    // Each time the isolate finishes its long job, the next held one goes, in order.
    for (const next of ['long 2', 'long 3', 'long 4']) {
      iso[0].done(iso[0].jobs.find(j => j.route === heavy)!)
      d.pump()
      expect(iso[0].jobs.filter(j => j.route === heavy).map(j => j.label)).toEqual([next])
    }
  })

  it('are not passed by their own route: one that came light waits behind the held ones', () => {
    const { d, iso } = setup(1)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    const hover = new Route('hover', 2)
    const [a, b] = ['a', 'b'].map(l => new FakeJob(hover, l))
    d.submit(a)
    d.submit(b) // held: a is on the isolate
    hover.ms = 0.5 // the route now looks light
    const c = new FakeJob(hover, 'c')
    d.submit(c)
    expect(c.placedOn).toBeNull()
    iso[0].done(a)
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['b', 'c'])
  })

  it('ask whether light requests come of routes other than their own', () => {
    const { d, iso } = setup(1)
    // The route was light a moment ago (its own light request was the last placed), then long:
    // no other route's light request came, so two go to the isolate, as with none.
    const swing = new Route('swing', 0.05)
    d.submit(new FakeJob(swing, 'light self'))
    iso[0].done(iso[0].jobs[0])
    swing.ms = 5
    const jobs = [1, 2, 3].map(i => new FakeJob(swing, `s${i}`))
    for (const j of jobs) d.submit(j)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['s1', 's2'])
  })

  it('go to another isolate with room for a long one before they are held', () => {
    const { d, iso } = setup(2)
    const jobs = [1, 2, 3, 4].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of jobs) d.submit(j)
    expect(iso.map(i => i.long)).toEqual([2, 2])
  })
})

describe('moved requests', () => {
  it('go back in line by the order they were accepted, before what came after them', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    const early = new FakeJob(light, 'early')
    const late = [1, 2].map(i => new FakeJob(light, `late ${i}`))
    for (const j of late) d.submit(j)
    d.requeue(early) // accepted before both, lost its isolate before it started
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['early', 'late 1', 'late 2'])
  })

  it('are taken whatever the queue length: they were admitted once', () => {
    const { d, iso } = setup(1, 1)
    iso[0].accepting = false
    d.submit(new FakeJob(light, 'waiting'))
    const moved = new FakeJob(light, 'moved')
    d.requeue(moved)
    expect(moved.refused).toBeNull()
    expect(d.waiting).toBe(2)
  })

  it('are placed on the next pump, not while the caller still moves others', () => {
    const { d } = setup(1)
    const a = new FakeJob(light, 'a')
    d.requeue(a)
    expect(a.placedOn).toBeNull()
    d.pump()
    expect(a.placedOn).toBe('i0')
  })
})

describe('pump', () => {
  it('is re-entrant: a placement that frees room mid-pump places the rest in order', () => {
    const { d, iso } = setup(1)
    iso[0].room = 0
    const jobs = ['a', 'b', 'c'].map(l => new FakeJob(light, l))
    for (const j of jobs) d.submit(j)
    // Placing a frees room at once (as a request answered synchronously would) and pumps again.
    jobs[0].placed = (p) => {
      jobs[0].placedOn = p
      iso[0].room = 2
      d.pump()
    }
    iso[0].room = 1
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['a', 'b', 'c'])
    expect(d.waiting).toBe(0)
  })
})

describe('admission by expected wait', () => {
  const trivial = new Route('trivial', 0.05)
  const tenMs = new Route('ten', 10)

  it('takes a burst the isolates clear in time, however many requests it has', () => {
    const { d, iso } = setup(2, 1 << 20, 1000)
    for (const i of iso) i.room = 0 // rings full: every request of the burst waits here
    const burst = Array.from({ length: 10_000 }, (_, i) => new FakeJob(trivial, `b${i}`))
    for (const j of burst) d.submit(j)
    // 10,000 × 0.05 ms over 2 isolates: 250 ms of expected wait at the back.
    expect(burst.filter(j => j.refused !== null)).toEqual([])
    expect(d.waiting).toBe(10_000)
    expect(d.expectedWait(false)).toBeCloseTo(250, 5)
  })

  it('refuses at once, with a Retry-After of the wait, what would wait longer than maxQueueWait', () => {
    const { d, iso } = setup(2, 1 << 20, 1000)
    // 10 ms requests, held two to an isolate: what waits is (in flight + waiting) / 2 isolates.
    const jobs = Array.from({ length: 300 }, (_, i) => new FakeJob(tenMs, `t${i}`))
    for (const j of jobs) d.submit(j)
    const placed = jobs.filter(j => j.placedOn !== null)
    const refused = jobs.filter(j => j.refused !== null)
    expect(placed).toHaveLength(4) // MAX_LONG on each of the two
    // A new one waits for the work ahead of it: admitted while (40 + 10 k) / 2 ≤ 1000 ms with k
    // waiting already, so k = 0 … 196 are, 197 in all; the rest refused.
    expect(d.waiting).toBe(197)
    expect(refused).toHaveLength(300 - 4 - 197)
    for (const j of refused) {
      expect(j.refused!.code).toBe('ISOPOOL_ERR_QUEUE_WAIT')
      expect(j.refused!.status).toBe(503)
      expect(j.retryAfter).toBe(2) // 1,005 ms of expected wait
    }
    expect(refused[0].refused!.message).toBe('The request would wait about 1005 ms for an isolate, more than maxQueueWait (1000 ms)')
    expect(iso.map(i => i.inFlight)).toEqual([2, 2])
  })

  it('does not put a new request in a ring that has more than maxQueueWait of work ahead', () => {
    const { d, iso } = setup(2, 1 << 20, 1000)
    iso[0].work = 1500
    iso[1].work = 1200
    const j = new FakeJob(trivial)
    d.submit(j)
    expect(j.placedOn).toBeNull()
    expect(j.refused?.code).toBe('ISOPOOL_ERR_QUEUE_WAIT')
    expect(j.retryAfter).toBe(2)
    iso[1].work = 900
    const k = new FakeJob(trivial)
    d.submit(k)
    expect(k.placedOn).toBe('i1')
  })

  it('counts only the queue, not the held long requests, for a light request that passes them', () => {
    const { d, iso } = setup(1, 1 << 20, 1000)
    iso[0].accepting = true
    const heavy900 = new Route('h900', 900)
    const [a, b] = [new FakeJob(heavy900, 'a'), new FakeJob(heavy900, 'b')]
    d.submit(new FakeJob(trivial, 'warm'))
    iso[0].done(iso[0].jobs[0])
    d.submit(a) // on the isolate: 900 ms in flight
    d.submit(b) // held: (900 + 0) / 1 ≤ 1000
    expect(b.refused).toBeNull()
    expect(d.expectedWait(true)).toBe(1800)
    expect(d.expectedWait(false)).toBe(900)
    const l = new FakeJob(trivial, 'light')
    d.submit(l)
    expect(l.placedOn).toBe('i0')
  })

  it('sheds what has waited past maxQueueWait, keeps the rest in order, and drops the withdrawn', () => {
    const { d, clock, iso } = setup(1, 1 << 20, 1000)
    iso[0].accepting = false
    const early = new FakeJob(trivial, 'early')
    const gone = new FakeJob(trivial, 'gone')
    d.submit(early)
    d.submit(gone)
    clock.advance(600)
    const late = new FakeJob(trivial, 'late')
    d.submit(late)
    d.withdraw(gone)
    expect(d.waiting).toBe(2)
    clock.advance(500) // early has waited 1,100 ms, late 500
    d.expire()
    expect(early.refused?.code).toBe('ISOPOOL_ERR_QUEUE_EXPIRED')
    expect(early.refused?.message).toBe('The request waited 1100 ms for an isolate, more than maxQueueWait (1000 ms)')
    expect(late.refused).toBeNull()
    expect(gone.refused).toBeNull()
    expect(d.waiting).toBe(1)
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['late'])
  })

  it('keeps a held request\'s wait when it moves from the queue to the held list', () => {
    const { d, clock, iso } = setup(1, 1 << 20, 1000)
    iso[0].room = 0
    const h = new FakeJob(heavy, 'h')
    d.submit(new FakeJob(trivial, 'warm')) // queued: the ring is full
    d.submit(h)
    clock.advance(800)
    iso[0].room = 1
    iso[0].long = MAX_LONG // no room for a long one: h moves to the held list
    d.pump()
    clock.advance(300)
    d.expire()
    expect(h.refused?.code).toBe('ISOPOOL_ERR_QUEUE_EXPIRED')
  })

  it('says it is shedding for a second after it refused a request', () => {
    const { d, clock, iso } = setup(1, 1 << 20, 1000)
    expect(d.shedding).toBe(false)
    iso[0].work = 5000
    d.submit(new FakeJob(trivial))
    expect(d.shedding).toBe(true)
    clock.advance(SHEDDING_FOR_MS + 1)
    expect(d.shedding).toBe(false)
  })

  it('with maxQueueWait 0, admits by memory alone', () => {
    const { d, iso } = setup(1, 1 << 20, 0)
    iso[0].work = 1e9
    const j = new FakeJob(trivial)
    d.submit(j)
    expect(j.placedOn).toBe('i0')
  })
})

describe('the memory backstop', () => {
  it('refuses with 503 ISOPOOL_ERR_OVERLOADED (the server\'s Retry-After) past maxQueueBytes', () => {
    const { d, iso } = setup(1, 1 << 20, 0, 250)
    iso[0].accepting = false
    const jobs = [1, 2, 3].map(i => new FakeJob(light, `l${i}`)) // 100 bytes each
    for (const j of jobs) d.submit(j)
    expect(jobs.map(j => j.refused?.code ?? null)).toEqual([null, null, 'ISOPOOL_ERR_OVERLOADED'])
    expect(jobs[2].retryAfter).toBeUndefined()
    expect(d.bytesWaiting).toBe(200)
    d.withdraw(jobs[0])
    expect(d.bytesWaiting).toBe(100)
  })
})

describe('retryAfter', () => {
  it('is the wait in whole seconds, rounded up, from 1 to 60', () => {
    expect([0, 1, 1000, 1001, 2500, 59_001, 1e9].map(retryAfter)).toEqual([1, 1, 1, 2, 3, 60, 60])
  })
})
