// The placement policies (src/main/placement.ts): one suite every policy must pass, as Hono runs
// one suite against each of its routers, then what each one does of its own. Plain states and a
// clock value: no dispatcher, no sockets, no threads.
import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../../src/main/options.ts'
import { PLACEMENT_POLICIES, spreadPolicy, WARM_MS, warmPolicy } from '../../src/main/placement.ts'
import type { IsolateState, PlacementPolicy } from '../../src/main/placement.ts'
import { LONG_MS } from '../../src/main/route-costs.ts'

interface State extends IsolateState {
  name: string
  eligible: boolean
}

/** An isolate's state: idle, awake, never active, eligible unless told. */
const at = (name: string, s: Partial<State> = {}): State =>
  ({ name, work: 0, inFlight: 0, awake: true, lastActive: 0, eligible: true, ...s })

const eligible = (c: State): boolean => c.eligible
const NOW = 1_000
const LIGHT = 0.02
const pick = (p: PlacementPolicy, cs: State[], cost = LIGHT, now = NOW): string | null => p.pick(cs, eligible, cost, now)?.name ?? null

for (const policy of Object.values(PLACEMENT_POLICIES)) {
  describe(`every placement policy: ${policy.name}`, () => {
    it('is named as the placement option names it', () => {
      expect(PLACEMENT_POLICIES[policy.name]).toBe(policy)
    })

    it('gives null when there is no candidate, or none is eligible', () => {
      expect(pick(policy, [])).toBeNull()
      expect(pick(policy, [at('a', { eligible: false }), at('b', { eligible: false })])).toBeNull()
    })

    it('never picks one that is not eligible, light or long, awake or not', () => {
      const cs = [at('a', { eligible: false, awake: true, lastActive: NOW }), at('b', { awake: false, work: 3 }), at('c', { eligible: false })]
      for (const cost of [LIGHT, LONG_MS, 5]) expect(pick(policy, cs, cost)).toBe('b')
    })

    it('gives a long request to the isolate with the least expected work, then the fewest in flight', () => {
      const cs = [at('a', { work: 3, lastActive: NOW }), at('b', { work: 0.5, inFlight: 4 }), at('c', { work: 0.5, inFlight: 2, awake: false })]
      expect(pick(policy, cs, 5)).toBe('c')
    })

    it('spreads light work when every isolate is asleep: the least work, the first of equals', () => {
      const cs = [at('a', { awake: false, work: 0.2, inFlight: 1 }), at('b', { awake: false }), at('c', { awake: false })]
      expect(pick(policy, cs)).toBe('b')
    })

    it('sends light work away from an isolate whose work is past what a light request should wait behind', () => {
      const cs = [at('a', { work: 4, inFlight: 2, lastActive: NOW }), at('b', { awake: false })]
      expect(pick(policy, cs)).toBe('b')
    })

    it('picks the same for the same states (no hidden state between calls)', () => {
      const cs = [at('a', { work: 0.1, inFlight: 1, lastActive: NOW - 1 }), at('b', { awake: false }), at('c', { work: 0.2, lastActive: NOW })]
      const first = pick(policy, cs)
      for (let i = 0; i < 3; i++) expect(pick(policy, cs)).toBe(first)
    })

    it('asks eligible() only about its candidates', () => {
      const cs = [at('a'), at('b', { awake: false })]
      const asked = new Set<State>()
      policy.pick(cs, (c) => { asked.add(c); return true }, LIGHT, NOW)
      for (const c of asked) expect(cs).toContain(c)
    })
  })
}

describe('spread', () => {
  it('gives a light request to the least work even when that isolate sleeps and another is awake', () => {
    const cs = [at('awake', { work: 0.1, inFlight: 1, lastActive: NOW }), at('asleep', { awake: false })]
    expect(pick(spreadPolicy, cs)).toBe('asleep')
  })
})

describe('warm', () => {
  it('gives a light request to an awake isolate with a little work rather than wake an idle one', () => {
    const cs = [at('asleep', { awake: false }), at('awake', { work: 0.1, inFlight: 3, lastActive: NOW })]
    expect(pick(warmPolicy, cs)).toBe('awake')
  })

  it('packs onto the most recently active of the awake ones, then the least work', () => {
    const cs = [at('older', { lastActive: NOW - 5 }), at('recent', { work: 0.2, lastActive: NOW - 1 }), at('asleep', { awake: false, lastActive: NOW })]
    expect(pick(warmPolicy, cs)).toBe('recent')
    const tie = [at('more', { work: 0.2, lastActive: NOW }), at('less', { work: 0.1, lastActive: NOW })]
    expect(pick(warmPolicy, tie)).toBe('less')
  })

  it(`spreads once the awake isolate's work with the new request would pass WARM_MS (${WARM_MS} ms)`, () => {
    const under = [at('awake', { work: WARM_MS - LIGHT, lastActive: NOW }), at('asleep', { awake: false })]
    expect(pick(warmPolicy, under)).toBe('awake')
    const over = [at('awake', { work: WARM_MS - LIGHT / 2, lastActive: NOW }), at('asleep', { awake: false })]
    expect(pick(warmPolicy, over)).toBe('asleep')
  })

  it('passes over an awake isolate that is not eligible (full, stopping) for another awake one', () => {
    const cs = [at('full', { lastActive: NOW, eligible: false }), at('asleep', { awake: false }), at('next', { work: 0.1, lastActive: NOW - 2 })]
    expect(pick(warmPolicy, cs)).toBe('next')
  })

  it('spreads long requests, awake or not', () => {
    const cs = [at('awake', { work: 0.1, inFlight: 1, lastActive: NOW }), at('asleep', { awake: false })]
    expect(pick(warmPolicy, cs, LONG_MS)).toBe('asleep')
  })
})

describe('the placement option', () => {
  it('takes a policy by name, a policy object, or nothing (the default), and refuses anything else, coded', () => {
    expect(resolveOptions({ placement: 'warm' }).placement).toBe(warmPolicy)
    expect(resolveOptions({ placement: 'spread' }).placement).toBe(spreadPolicy)
    expect(Object.values(PLACEMENT_POLICIES)).toContain(resolveOptions({}).placement)
    const own: PlacementPolicy = { name: 'first', pick: (cs, ok) => cs.find(c => ok(c)) ?? null }
    expect(resolveOptions({ placement: own }).placement).toBe(own)
    for (const bad of ['pack', '', 42, null, { name: 'no pick' }]) {
      expect(() => resolveOptions({ placement: bad as never })).toThrow(expect.objectContaining({ code: 'ISOPOOL_ERR_INVALID_OPTION' }))
    }
  })
})
