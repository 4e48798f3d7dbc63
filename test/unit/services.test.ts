// The services' composite: which hooks run, in which order, and what a refusal stops.
import { describe, expect, it } from 'vitest'
import { Services } from '../../src/main/services.ts'
import type { RequestService } from '../../src/main/services.ts'
import type { Http1Request, Http1Response } from '../../src/main/http1.ts'
import type { RouteInfo } from '../../src/main/route-table.ts'

/** A request and response with just what Services touches. */
function pair (): { req: Http1Request, res: Http1Response, finish: () => void } {
  const req = { startedAt: 0 } as unknown as Http1Request
  let listener: { responseFinished (r: Http1Response): void } | null = null
  const res = {
    request: req,
    onFinish (l: { responseFinished (r: Http1Response): void }) { listener = l }
  } as unknown as Http1Response
  return { req, res, finish: () => listener?.responseFinished(res) }
}

describe('Services', () => {
  it('runs begin and admit hooks in order and stops at the first that answers', () => {
    const calls: string[] = []
    const svc = (name: string, answer = true): RequestService => ({
      begin: () => { calls.push(`${name}.begin`); return answer },
      admit: () => { calls.push(`${name}.admit`); return answer }
    })
    const s = new Services([svc('a'), svc('b', false), svc('c')])
    const { req, res } = pair()
    expect(s.begin(req, res)).toBe(false)
    expect(s.admit(req, res, {} as RouteInfo)).toBe(false)
    expect(calls).toEqual(['a.begin', 'b.begin', 'a.admit', 'b.admit'])
  })

  it('hears the end of requests only when a service listens for it', () => {
    const quiet = new Services([{ begin: () => true }])
    const a = pair()
    quiet.begin(a.req, a.res)
    expect(quiet.listens).toBe(false)
    a.finish()

    const seen: Http1Request[] = []
    const loud = new Services([{ finished: (req) => { seen.push(req) } }, { finished: () => { throw new Error('a broken service') } }, { finished: (req) => { seen.push(req) } }])
    const b = pair()
    expect(loud.listens).toBe(true)
    expect(loud.begin(b.req, b.res)).toBe(true)
    b.finish()
    expect(b.req.finishedAt).toBeGreaterThan(0)
    // One service that throws does not keep the next from hearing it.
    expect(seen).toEqual([b.req, b.req])
  })

  it('hears the HTTP layer\'s refusals only when a service asks, and past one that throws', () => {
    expect(new Services([{ finished: () => {} }]).refusals).toBeNull()
    const heard: string[] = []
    const s = new Services([{ refused: (r) => { heard.push(`a ${r.status}`) } }, { refused: () => { throw new Error('broken') } }, { refused: (r) => { heard.push(`b ${r.code}`) } }])
    const quiet = console.error
    console.error = () => {}
    try {
      s.refusals!({ method: 'GET', status: 400, bytes: 10, code: 'ISOPOOL_ERR_BAD_REQUEST', since: 0 })
    } finally {
      console.error = quiet
    }
    expect(heard).toEqual(['a 400', 'b ISOPOOL_ERR_BAD_REQUEST'])
  })

  it('is nothing at all without services', () => {
    const none = new Services([])
    expect([none.begins, none.admits]).toEqual([false, false])
    // A service with only a close() hook gives a request nothing to do either.
    const closing = new Services([{ close: () => {} }])
    expect([closing.begins, closing.admits]).toEqual([false, false])
    expect(new Services([{ admit: () => true }]).admits).toBe(true)
    expect(new Services([{ finished: () => {} }]).begins).toBe(true) // it times the request
  })
})
