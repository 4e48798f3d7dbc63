// The dispatcher's rules, without sockets, threads or sleeps: fake isolates (candidates that
// record what they take), fake requests, and a clock the test moves.
import { describe, expect, it } from 'vitest'
import { Dispatcher, retryAfter, SHEDDING_FOR_MS } from '../../src/main/dispatch.ts'
import type { Candidate, Clock, Job } from '../../src/main/dispatch.ts'
import { warmPolicy } from '../../src/main/placement.ts'
import type { PlacementPolicy } from '../../src/main/placement.ts'
import { HELD_FOR_MS, HELD_STRETCH, heldFor, LIGHT_WINDOW_MS, LONG_MS, MAX_LONG, MAX_LONG_MIXED } from '../../src/main/route-costs.ts'
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
  awake = true
  lastActive = 0
  /** How many more it takes before its ring is full. */
  room = Infinity
  readonly jobs: FakeJob[] = []
  constructor (name: string) { this.name = name }

  /** The `now` each take() was given. */
  readonly takenAt: number[] = []
  take (job: FakeJob, now: number): string | null {
    if (this.room <= 0) return null
    this.takenAt.push(now)
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

  it("gives the isolate the time of the placement: the caller's for a new request, the clock's for one that waited", () => {
    const { d, clock, iso } = setup(1)
    d.submit(new FakeJob(light), clock.t - 3) // read by the server for this request
    d.submit(new FakeJob(light))
    iso[0].accepting = false
    d.submit(new FakeJob(light), clock.t - 3)
    clock.advance(7)
    iso[0].accepting = true
    d.pump()
    expect(iso[0].takenAt).toEqual([9_997, 10_000, 10_007])
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

  it('wait held when no isolate takes anything now (stalled, full), so light ones that come after pass them', () => {
    const { d, iso } = setup(1)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    // The isolate takes nothing (stalled behind a job): the long one waits, held, and so does a
    // light one that comes after it, queued.
    iso[0].accepting = false
    const long = new FakeJob(heavy, 'long')
    d.submit(long)
    expect(d.heldCount).toBe(1)
    const l = new FakeJob(light, 'light')
    d.submit(l)
    expect([d.waiting, d.heldCount]).toEqual([2, 1])
    // Free again: the light one goes first, the long one behind it.
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['light', 'long'])
    // And the same when the queue is not empty as the long one comes: it is held, not queued.
    iso[0].done(l)
    iso[0].done(long)
    iso[0].accepting = false
    const [l1, h, l2] = [new FakeJob(light, 'l1'), new FakeJob(heavy, 'h'), new FakeJob(light, 'l2')]
    for (const j of [l1, h, l2]) d.submit(j)
    expect(d.heldCount).toBe(1)
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['l1', 'l2', 'h'])
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

describe('placement, every tie', () => {
  it('takes the first isolate with the least work when it is first, and of equal work the one with fewer in flight', () => {
    const { d, iso } = setup(3)
    iso[0].work = 0.5
    iso[1].work = 2
    iso[2].work = 2
    const a = new FakeJob(light)
    d.submit(a)
    expect(a.placedOn).toBe('i0')
    for (const i of iso) i.work = 1
    iso[0].inFlight = 3
    iso[1].inFlight = 1
    iso[2].inFlight = 2
    const b = new FakeJob(light)
    d.submit(b)
    expect(b.placedOn).toBe('i1')
  })

  it('prefers less work over fewer in flight, and keeps the isolates\' order when all is equal', () => {
    const { d, iso } = setup(3)
    iso[0].work = 1
    iso[0].inFlight = 5
    iso[1].work = 3
    iso[2].work = 3
    const a = new FakeJob(light)
    d.submit(a)
    expect(a.placedOn).toBe('i0')
    for (const i of iso) { i.work = 2; i.inFlight = 2 }
    const b = new FakeJob(light)
    d.submit(b)
    expect(b.placedOn).toBe('i0')
  })

  it('places what waited as soon as it is given isolates', () => {
    const clock = new FakeClock()
    const d = new Dispatcher<string, FakeJob>({ maxQueue: 10, maxQueueWait: 0, maxQueueBytes: 1 << 20 }, clock)
    const j = new FakeJob(light)
    d.submit(j)
    expect(d.waiting).toBe(1)
    const iso = new FakeIsolate('late')
    d.setCandidates([iso])
    expect(j.placedOn).toBe('late')
    expect(d.waiting).toBe(0)
  })
})

describe('long requests, at their boundaries', () => {
  it(`count a route of exactly LONG_MS (${LONG_MS} ms) as long`, () => {
    const { d, iso } = setup(1)
    const edge = new Route('edge', LONG_MS)
    const jobs = [1, 2, 3].map(i => new FakeJob(edge, `e${i}`))
    for (const j of jobs) d.submit(j)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['e1', 'e2'])
    expect(iso[0].long).toBe(MAX_LONG)
  })

  it('do not count as the light requests that make long ones go one to an isolate', () => {
    const { d, iso } = setup(1)
    const other = new Route('other heavy', 5)
    d.submit(new FakeJob(heavy, 'h'))
    const o = new FakeJob(other, 'o')
    d.submit(o)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h', 'o'])
  })

  it(`treat a light request exactly ${LIGHT_WINDOW_MS} ms old as gone`, () => {
    const { d, clock, iso } = setup(1)
    d.submit(new FakeJob(light))
    iso[0].done(iso[0].jobs[0])
    clock.advance(LIGHT_WINDOW_MS)
    d.submit(new FakeJob(heavy, 'h1'))
    d.submit(new FakeJob(heavy, 'h2'))
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h1', 'h2'])
  })

  it('ask about other routes\' light requests by the last other route, not the route\'s own latest', () => {
    const { d, clock, iso } = setup(1)
    const a = new Route('a', 0.05)
    const b = new Route('b', 0.05)
    d.submit(new FakeJob(a)) // another route's light request, long ago
    clock.advance(LIGHT_WINDOW_MS * 2)
    d.submit(new FakeJob(b))
    d.submit(new FakeJob(b)) // b's own, twice
    for (const j of [...iso[0].jobs]) iso[0].done(j)
    b.ms = 5
    const jobs = [1, 2].map(i => new FakeJob(b, `b${i}`))
    for (const j of jobs) d.submit(j)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['b1', 'b2'])
  })

  it('queue behind held ones when long, even of another route and with a place free before the pump', () => {
    const { d, iso } = setup(1)
    const h = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3 is held
    iso[0].done(h[0]) // a place for a long one, not pumped yet
    const edge = new Route('edge', LONG_MS)
    const e = new FakeJob(edge, 'edge')
    d.submit(e)
    expect(e.placedOn).toBeNull()
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h2', 'h3'])
    expect(d.waiting).toBe(1)
  })

  it('move from the queue to the held list when only long places are full, and the light behind go', () => {
    const { d, iso } = setup(1)
    iso[0].room = 0
    const h = new FakeJob(heavy, 'h')
    const l = new FakeJob(light, 'l')
    d.submit(h)
    d.submit(l)
    iso[0].room = 5
    iso[0].long = MAX_LONG
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['l'])
    expect(d.waiting).toBe(1)
    expect(d.expectedWait(true) - d.expectedWait(false)).toBeCloseTo(heavy.ms, 9)
    // Held now, it keeps later requests of its own route behind it.
    heavy.ms = 0.5
    try {
      const again = new FakeJob(heavy, 'again')
      d.submit(again)
      expect(again.placedOn).toBeNull()
      const other = new FakeJob(light, 'other')
      d.submit(other)
      expect(other.placedOn).toBe('i0')
    } finally {
      heavy.ms = 5
    }
  })

  it('keep a route\'s later requests behind its held ones until the last of them is placed', () => {
    const { d, iso } = setup(1)
    const r = new Route('r', 5)
    const s = new Route('s', 5)
    const x = [1, 2].map(i => new FakeJob(heavy, `x${i}`))
    for (const j of x) d.submit(j) // the isolate's two long places taken
    const [r1, r2] = [1, 2].map(i => new FakeJob(r, `r${i}`))
    const s1 = new FakeJob(s, 's1')
    for (const j of [r1, r2, s1]) d.submit(j) // all held
    iso[0].done(x[0])
    d.pump() // r1 goes, r2 is still held
    expect(iso[0].jobs.map(j => j.label)).toEqual(['x2', 'r1'])
    r.ms = 0.5
    const rl = new FakeJob(r, 'r light')
    d.submit(rl)
    expect(rl.placedOn).toBeNull()
    expect(d.waiting).toBe(3)
  })

  it('let a route\'s requests go again once none of it is held', () => {
    const { d, iso } = setup(1)
    const r = new Route('r', 5)
    const s = new Route('s', 5)
    const x = [1, 2].map(i => new FakeJob(heavy, `x${i}`))
    for (const j of x) d.submit(j)
    const [r1, r2] = [1, 2].map(i => new FakeJob(r, `r${i}`))
    const s1 = new FakeJob(s, 's1')
    for (const j of [r1, r2, s1]) d.submit(j)
    for (const j of x) iso[0].done(j)
    d.pump() // r1 and r2 go, s1 is still held
    expect(iso[0].jobs.map(j => j.label)).toEqual(['r1', 'r2'])
    r.ms = 0.5
    const rl = new FakeJob(r, 'r light')
    d.submit(rl)
    expect(rl.placedOn).toBe('i0')
    expect(d.waiting).toBe(1)
  })
})

describe('the pump', () => {
  it('places a held request that is no longer needed nowhere, and counts it out', () => {
    const { d, iso } = setup(1)
    const h = [1, 2, 3, 4].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3 and h4 held
    d.withdraw(h[2])
    h[3].settled = true
    for (const j of [h[0], h[1]]) iso[0].done(j)
    d.pump()
    expect(iso[0].jobs).toEqual([])
    expect(d.waiting).toBe(0)
  })

  it('places what was admitted once however much work the isolates have now', () => {
    const { d, iso } = setup(1, 100, 1000)
    iso[0].room = 0
    const q = new FakeJob(light, 'queued')
    d.submit(q)
    iso[0].room = 5
    iso[0].work = 5000
    d.pump()
    expect(q.placedOn).toBe('i0')
    const { d: d2, iso: iso2 } = setup(1, 100, 1000)
    const h = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d2.submit(j) // h3 held
    iso2[0].done(h[0])
    iso2[0].work = 5000
    d2.pump()
    expect(h[2].placedOn).toBe('i0')
    expect(d2.waiting).toBe(0)
  })
})

describe('moved requests, in the middle of the line', () => {
  it('go between what came before and after them, and count as queued work', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    const a = new FakeJob(light, 'a')
    const mid = new FakeJob(heavy, 'mid')
    const b = new FakeJob(light, 'b')
    d.submit(a)
    d.submit(b)
    d.requeue(mid)
    expect(d.expectedWait(false)).toBeCloseTo(2 * light.ms + heavy.ms, 9)
    iso[0].accepting = true
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['a', 'mid', 'b'])
  })
})

describe('the counts', () => {
  it('count held requests against maxQueue too', () => {
    const { d, iso } = setup(1, 2)
    const h = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3 held
    iso[0].room = 0
    const q = new FakeJob(light, 'queued')
    d.submit(q)
    expect(q.refused).toBeNull()
    const over = new FakeJob(light, 'over')
    d.submit(over)
    expect(over.refused?.code).toBe('ISOPOOL_ERR_OVERLOADED')
  })

  it('admit up to exactly maxQueueBytes', () => {
    const { d, iso } = setup(1, 100, 0, 200)
    iso[0].accepting = false
    const jobs = [1, 2, 3].map(i => new FakeJob(light, `l${i}`))
    for (const j of jobs) d.submit(j)
    expect(jobs.map(j => j.refused?.code ?? null)).toEqual([null, null, 'ISOPOOL_ERR_OVERLOADED'])
    expect(d.bytesWaiting).toBe(200)
  })

  it('take a request\'s work out when it leaves', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    const jobs = [new Route('a', 0.25), new Route('b', 0.5), new Route('c', 2)].map(r => new FakeJob(r))
    for (const j of jobs) d.submit(j)
    iso[0].accepting = true
    iso[0].room = 1
    d.pump()
    expect(iso[0].work).toBe(0.25)
    // In flight, and waiting: c, a long one, waits held, which a light request does not wait for.
    expect(d.expectedWait(true)).toBe(0.25 + 0.5 + 2)
    expect(d.expectedWait(false)).toBe(0.25 + 0.5)
  })

  it('leave no rounding over once none waits', () => {
    const { d, iso } = setup(1)
    iso[0].accepting = false
    for (const r of [new Route('a', 0.1), new Route('b', 0.2)]) d.submit(new FakeJob(r))
    expect(0.1 + 0.2 - 0.1 - 0.2).not.toBe(0) // what adding and taking out leaves in floating point
    iso[0].accepting = true
    d.pump()
    iso[0].work = 0
    expect(d.expectedWait(false)).toBe(0)
    expect(d.expectedWait(true)).toBe(0)
    expect(d.bytesWaiting).toBe(0)
  })

  it('take a held request\'s work out when it is placed, while others still wait', () => {
    const { d, iso } = setup(1)
    const h = [1, 2, 3, 4].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3, h4 held
    expect(d.expectedWait(true) - d.expectedWait(false)).toBeCloseTo(2 * heavy.ms, 9)
    iso[0].done(h[0])
    d.pump()
    expect(d.waiting).toBe(1)
    expect(d.expectedWait(true) - d.expectedWait(false)).toBeCloseTo(heavy.ms, 9)
  })
})

describe('taking every waiting request out', () => {
  it('gives the waiting ones, oldest first, queued before held, and leaves nothing counted', () => {
    const { d, iso } = setup(1)
    const h = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3 held
    iso[0].room = 0
    const [q1, q2] = [1, 2].map(i => new FakeJob(light, `q${i}`))
    d.submit(q1)
    d.submit(q2)
    d.withdraw(q1)
    expect(d.takeAll().map(j => j.label)).toEqual(['q2', 'h3'])
    expect([d.waiting, d.bytesWaiting, d.expectedWait(true)]).toEqual([0, 0, iso[0].work])
    // Nothing is held any more: a request of the held route goes straight to the isolate.
    iso[0].room = 5
    iso[0].long = 0
    const next = new FakeJob(heavy, 'next')
    d.submit(next)
    expect(next.placedOn).toBe('i0')
    expect(d.takeAll()).toEqual([])
  })

  it('forgets them: one withdrawn afterwards changes no count, and their routes hold nothing back', () => {
    const { d } = setup(1)
    const h = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of h) d.submit(j) // h3 held
    const taken = d.takeAll()
    expect(taken.map(j => j.label)).toEqual(['h3'])
    d.withdraw(h[2]) // its client leaves while it is being answered
    expect([d.waiting, d.bytesWaiting]).toEqual([0, 0])
    // Another route's long request is held now; heavy's light ones do not wait behind it.
    const other = new Route('other', 5)
    const o = new FakeJob(other, 'o')
    d.submit(o)
    expect(o.placedOn).toBeNull()
    heavy.ms = 0.5
    try {
      const l = new FakeJob(heavy, 'heavy, light now')
      d.submit(l)
      expect(l.placedOn).toBe('i0')
    } finally {
      heavy.ms = 5
    }
    expect(d.waiting).toBe(1)
  })
})

describe('looking at every waiting request', () => {
  it('visits each waiting one, queued then held, and counts the held ones by their routes again', () => {
    const { d, iso } = setup(1)
    const a = new Route('a', 5)
    const moved = new Route('moved', 5)
    const x = [1, 2].map(i => new FakeJob(heavy, `x${i}`))
    for (const j of x) d.submit(j) // the isolate's long places taken
    const held = [new FakeJob(a, 'a1'), new FakeJob(a, 'a2'), new FakeJob(heavy, 'gone')]
    for (const j of held) d.submit(j)
    d.withdraw(held[2])
    iso[0].room = 0
    const q = new FakeJob(light, 'q')
    d.submit(q)
    const seen: string[] = []
    d.forEachWaiting(job => {
      seen.push(job.label)
      if (job.route === a && job.label === 'a2') (job as { route: Route }).route = moved // rerouted by a reload
    })
    expect(seen).toEqual(['q', 'a1', 'a2'])
    // a has one held request left, `moved` has one now; a light request of a waits, of heavy not.
    iso[0].room = 5
    d.pump() // q goes; the held ones stay
    expect(iso[0].jobs.map(j => j.label)).toEqual(['x1', 'x2', 'q'])
    a.ms = 0.5
    heavy.ms = 0.5
    try {
      const la = new FakeJob(a, 'a light')
      d.submit(la)
      expect(la.placedOn).toBeNull()
      const lh = new FakeJob(heavy, 'heavy light')
      d.submit(lh)
      expect(lh.placedOn).toBe('i0')
      moved.ms = 0.5
      const lm = new FakeJob(moved, 'moved light')
      d.submit(lm)
      expect(lm.placedOn).toBeNull()
    } finally {
      heavy.ms = 5
    }
  })
})

describe('looking at every waiting request, twice', () => {
  it('counts the held ones afresh each time, not on top of what it counted before', () => {
    const { d, iso } = setup(1)
    const a = new Route('a', 5)
    const s = new Route('s', 5)
    const x = [1, 2].map(i => new FakeJob(heavy, `x${i}`))
    for (const j of x) d.submit(j)
    for (const j of [new FakeJob(a, 'a1'), new FakeJob(a, 'a2'), new FakeJob(s, 's1')]) d.submit(j)
    let visits = 0
    d.forEachWaiting(() => { visits++ })
    d.forEachWaiting(() => { visits++ })
    expect(visits).toBe(6)
    for (const j of x) iso[0].done(j)
    d.pump() // a1 and a2 go, s1 is still held
    a.ms = 0.5
    const la = new FakeJob(a, 'a light')
    d.submit(la)
    expect(la.placedOn).toBe('i0')
  })
})

describe('a re-entrant pump', () => {
  it('gets a pass of its own after the one it interrupted, even one that found no room', () => {
    const { d, iso } = setup(1)
    iso[0].room = 0
    const j = new FakeJob(light, 'j')
    d.submit(j)
    // The isolate's ring is full when the pump tries it, and it reports room at once.
    const take = iso[0].take.bind(iso[0])
    let reported = false
    iso[0].take = (job: FakeJob, now: number) => {
      const p = take(job, now)
      if (p === null && !reported) {
        reported = true
        iso[0].room = 1
        d.pump()
      }
      return p
    }
    d.pump()
    expect(j.placedOn).toBe('i0')
    expect(d.waiting).toBe(0)
  })
})

describe('expiry, at its boundaries', () => {
  it('keeps what has waited exactly maxQueueWait, and sheds it a moment later', () => {
    const { d, clock, iso } = setup(1, 100, 1000)
    iso[0].accepting = false
    const j = new FakeJob(light)
    d.submit(j)
    clock.advance(1000)
    d.expire()
    expect(j.refused).toBeNull()
    clock.advance(0.5)
    d.expire()
    expect(j.refused?.code).toBe('ISOPOOL_ERR_QUEUE_EXPIRED')
  })

  it('sheds nothing by time with maxQueueWait 0', () => {
    const { d, clock, iso } = setup(1, 100, 0)
    iso[0].accepting = false
    const j = new FakeJob(light)
    d.submit(j)
    clock.advance(3_600_000)
    d.expire()
    expect(j.refused).toBeNull()
    expect(d.waiting).toBe(1)
  })

  it('does not answer a request that was settled meanwhile', () => {
    const { d, clock, iso } = setup(1, 100, 1000)
    iso[0].accepting = false
    const j = new FakeJob(light)
    d.submit(j)
    j.settled = true
    clock.advance(2000)
    d.expire()
    expect(j.refused).toBeNull()
    expect(d.waiting).toBe(0)
  })

  it('gives each shed request the Retry-After of the list it waited in', () => {
    const { d, clock, iso } = setup(1, 100, 3000)
    const big = new Route('big', 900)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    iso[0].room = 1
    d.submit(new FakeJob(big, 'on the isolate')) // 900 ms in flight, its one long place taken
    const held = [1, 2, 3].map(i => new FakeJob(big, `held ${i}`)) // waits of 900, 1800, 2700 ms
    for (const j of held) d.submit(j)
    const q = new FakeJob(light, 'queued') // the ring is full: queued, 900 ms ahead of it
    d.submit(q)
    expect([...held, q].map(j => j.refused)).toEqual([null, null, null, null])
    clock.advance(3001)
    d.expire()
    // The queued one waits for what is in flight, not for the held long ones it passes.
    expect(q.retryAfter).toBe(1)
    // The first held one waits for what is in flight and the two held behind it.
    expect(held[0].retryAfter).toBe(3)
    expect(held.map(j => j.refused?.code)).toEqual(Array(3).fill('ISOPOOL_ERR_QUEUE_EXPIRED'))
  })
})

describe('admission, at its boundaries', () => {
  it('puts a new request on an isolate with exactly maxQueueWait of work', () => {
    const { d, iso } = setup(1, 100, 1000)
    iso[0].work = 1000
    const j = new FakeJob(light)
    d.submit(j)
    expect(j.placedOn).toBe('i0')
  })

  it('names the least work of the isolates that accept as the wait of a request it refuses', () => {
    const { d, iso } = setup(3, 100, 1000)
    iso[0].accepting = false
    iso[0].work = 1100
    iso[1].work = 1200
    iso[2].work = 2500
    const j = new FakeJob(light)
    d.submit(j)
    expect(j.refused?.message).toBe('The request would wait about 1200 ms for an isolate, more than maxQueueWait (1000 ms)')
    expect(j.retryAfter).toBe(2)
  })

  it('counts as shedding for SHEDDING_FOR_MS, not a moment longer', () => {
    const { d, clock, iso } = setup(1, 100, 1000)
    iso[0].work = 5000
    d.submit(new FakeJob(light))
    clock.advance(SHEDDING_FOR_MS - 1)
    expect(d.shedding).toBe(true)
    clock.advance(1)
    expect(d.shedding).toBe(false)
  })
})

describe('the placement policy', () => {
  it('is spread unless given: a light request goes to the least work, asleep or not', () => {
    const { d, iso } = setup(2)
    iso[0].work = 0.1
    iso[0].inFlight = 1
    iso[1].awake = false
    const job = new FakeJob(light)
    d.submit(job)
    expect(d.placement.name).toBe('spread')
    expect(job.placedOn).toBe('i1')
  })

  it('is the one given: warm keeps a light request on the awake isolate', () => {
    const clock = new FakeClock()
    const d = new Dispatcher<string, FakeJob>({ maxQueue: 100, maxQueueWait: 0, maxQueueBytes: 1 << 30, placement: warmPolicy }, clock)
    const iso = [new FakeIsolate('i0'), new FakeIsolate('i1')]
    iso[0].work = 0.1
    iso[0].inFlight = 1
    iso[0].lastActive = clock.now()
    iso[1].awake = false
    d.setCandidates(iso)
    const job = new FakeJob(light)
    d.submit(job)
    expect(job.placedOn).toBe('i0')
  })

  it('is asked only about isolates that may take the request, and a ring found full is asked about no more', () => {
    const asked: string[][] = []
    const record: PlacementPolicy = {
      name: 'record',
      pick (cs, eligible) {
        const ok = cs.filter(c => eligible(c))
        asked.push(ok.map(c => (c as unknown as FakeIsolate).name))
        return ok[0] ?? null
      }
    }
    const d = new Dispatcher<string, FakeJob>({ maxQueue: 100, maxQueueWait: 0, maxQueueBytes: 1 << 30, placement: record }, new FakeClock())
    const iso = [new FakeIsolate('i0'), new FakeIsolate('i1'), new FakeIsolate('i2')]
    iso[0].room = 0
    iso[2].accepting = false
    d.setCandidates(iso)
    const job = new FakeJob(light)
    d.submit(job)
    expect(asked).toEqual([['i0', 'i1'], ['i1']])
    expect(job.placedOn).toBe('i1')
  })
})

describe(`long requests' fair share: held at most ${HELD_STRETCH}× their cost, ${HELD_FOR_MS} ms at least, while light ones pass`, () => {
  /** One isolate running a long request with light traffic about, and `n` more held. */
  function busy (n: number): { d: Dispatcher<string, FakeJob>, clock: FakeClock, iso: FakeIsolate[], held: FakeJob[] } {
    const { d, clock, iso } = setup(1)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    d.submit(new FakeJob(heavy, 'running'))
    const held = Array.from({ length: n }, (_, i) => new FakeJob(heavy, `held ${i + 1}`))
    for (const j of held) d.submit(j)
    expect(d.heldCount).toBe(n)
    return { d, clock, iso, held }
  }

  it('light ones pass a held one younger than that', () => {
    const { d, clock, iso } = busy(1)
    clock.advance(HELD_FOR_MS - 1)
    const l = new FakeJob(light, 'light')
    d.submit(l)
    expect(l.placedOn).toBe('i0')
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'light'])
  })

  it('an overdue one goes to the isolate as its second long one, before the light ones that come after', () => {
    const { d, clock, iso, held } = busy(2)
    clock.advance(HELD_FOR_MS)
    d.submit(new FakeJob(light, 'light'))
    // The first held one is overdue: it takes the place a second long one may have, ahead of
    // the light one. The next is overdue too but finds no place: it holds up no light one.
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'held 1', 'light'])
    expect(held[1].placedOn).toBeNull()
    iso[0].done(iso[0].jobs[0])
    d.pump()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['held 1', 'light', 'held 2'])
  })

  it('one overdue that no isolate may take (each has MAX_LONG long ones) lets light ones pass', () => {
    const { d, clock, iso } = setup(1)
    const jobs = [1, 2, 3].map(i => new FakeJob(heavy, `h${i}`))
    for (const j of jobs) d.submit(j) // no light ones about: two go, one is held
    d.submit(new FakeJob(light, 'light'))
    clock.advance(HELD_FOR_MS)
    d.submit(new FakeJob(light, 'late light'))
    expect(iso[0].jobs.map(j => j.label)).toEqual(['h1', 'h2', 'light', 'late light'])
    expect(jobs[2].placedOn).toBeNull()
  })

  it('light ones pass again once no held one is overdue', () => {
    const { d, clock, held } = busy(1)
    clock.advance(HELD_FOR_MS)
    d.pump()
    expect(held[0].placedOn).toBe('i0')
    const late = new FakeJob(heavy, 'late')
    d.submit(late) // held: two long ones are on the isolate
    expect(d.heldCount).toBe(1)
    const l = new FakeJob(light, 'light')
    d.submit(l)
    expect(l.placedOn).toBe('i0')
    expect(late.placedOn).toBeNull()
  })

  it('bounds the wait of a held one behind a long job that does not end, light ones coming all along', () => {
    const { d, clock, iso, held } = busy(1)
    const since = clock.now()
    let placedAfter = -1
    // A light request every ms, answered at once; the running long job never ends.
    for (let t = 1; t <= 200 && placedAfter < 0; t++) {
      clock.advance(1)
      d.submit(new FakeJob(light))
      for (const j of iso[0].jobs.filter(j => j.route === light)) iso[0].done(j)
      if (held[0].placedOn !== null) placedAfter = clock.now() - since
    }
    expect(placedAfter).toBe(HELD_FOR_MS)
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'held 1'])
  })

  it('holds a costlier one longer, in proportion to its cost', () => {
    expect(heldFor(heavy.ms)).toBe(HELD_FOR_MS)
    const { d, clock, iso } = setup(1)
    d.submit(new FakeJob(light, 'warm'))
    iso[0].done(iso[0].jobs[0])
    const slow = new Route('slow', 50)
    d.submit(new FakeJob(slow, 'running'))
    const held = new FakeJob(slow, 'held')
    d.submit(held)
    clock.advance(HELD_STRETCH * 50 - 1)
    d.submit(new FakeJob(light, 'passes'))
    expect(held.placedOn).toBeNull()
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'passes'])
    clock.advance(1)
    const l = new FakeJob(light, 'behind')
    d.submit(l)
    // Overdue now: it goes first, the light one after it.
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'passes', 'held', 'behind'])
  })

  it('a withdrawn overdue one holds up no one', () => {
    const { d, clock, iso, held } = busy(1)
    d.withdraw(held[0])
    clock.advance(HELD_FOR_MS)
    const l = new FakeJob(light, 'light')
    d.submit(l)
    expect(l.placedOn).toBe('i0')
    expect(iso[0].jobs.map(j => j.label)).toEqual(['running', 'light'])
    expect(d.waiting).toBe(0)
  })
})
