// The placement option through real sockets: a policy of one's own decides where requests run,
// and the shipped ones serve (their rules: test/unit/placement.test.ts).
import { afterEach, describe, expect, it } from 'vitest'
import type { IsolateState, PlacementPolicy } from 'isopool'
import { start } from './helpers.ts'
import type { Running } from './helpers.ts'

const ROUTES: [string, string, string][] = [['GET', '/whoami', './faults.ts#whoami']]

let app: Running | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('the placement option', () => {
  it('runs every request where a policy of one\'s own says: the last isolate that may take it', async () => {
    const seen: IsolateState[] = []
    const last: PlacementPolicy = {
      name: 'last',
      pick (candidates, eligible) {
        seen.push(...candidates)
        for (let i = candidates.length - 1; i >= 0; i--) if (eligible(candidates[i])) return candidates[i]
        return null
      }
    }
    app = await start({ isolates: 2, placement: last }, ROUTES)
    const replies = await Promise.all(Array.from({ length: 12 }, () => app!.get('/whoami')))
    expect(new Set(replies.map(r => r.status))).toEqual(new Set([200]))
    expect(new Set(replies.map(r => r.json.thread)).size).toBe(1)
    // It saw the isolates' states as the interface names them.
    for (const s of seen) {
      expect(typeof s.work).toBe('number')
      expect(typeof s.inFlight).toBe('number')
      expect(typeof s.awake).toBe('boolean')
      expect(typeof s.lastActive).toBe('number')
    }
  })

  for (const placement of ['spread', 'warm'] as const) {
    it(`serves with placement: '${placement}'`, async () => {
      app = await start({ isolates: 2, placement }, ROUTES)
      const replies = await Promise.all(Array.from({ length: 12 }, () => app!.get('/whoami')))
      expect(new Set(replies.map(r => r.status))).toEqual(new Set([200]))
    })
  }

  it('refuses a policy it does not know, naming the option', async () => {
    await expect(start({ isolates: 1, placement: 'pack' as never }, ROUTES)).rejects.toMatchObject({
      code: 'ISOPOOL_ERR_INVALID_OPTION',
      message: expect.stringContaining('placement')
    })
  })
})
