// The Response middleware get from next() for an answer isopool made: a Response and Headers to
// every caller, checked against what Node's own Response and Headers do with the same input —
// case by case, and for Headers by seeded property tests over sequences of calls — so the two
// cannot drift apart.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { AnswerHeaders, AnswerResponse, takeAnswer } from '../../src/isolate/answer-response.ts'
import { CT_JSON, CT_NONE } from '../../src/shared/frame.ts'

const JSON_TYPE = 'application/json; charset=utf-8'
/** An answer as toResponse() makes them: JSON, one field of the handler's. */
const made = (body: string | Uint8Array | null = '{"a":1}', status = 200): AnswerResponse =>
  new AnswerResponse({ status, ct: body === null ? CT_NONE : CT_JSON, text: body === null ? '' : 'X-A\u00001', body, fields: null })
const real = (body: string | Uint8Array | null = '{"a":1}', status = 200): Response =>
  new Response(body as string | null, { status, headers: body === null ? [] : [['content-type', JSON_TYPE], ['x-a', '1']] })

describe('AnswerResponse', () => {
  it('is a Response with the status and headers it was made with', () => {
    const r = made('x', 201)
    const theirs = real('x', 201)
    expect(r).toBeInstanceOf(Response)
    expect(Object.prototype.toString.call(r)).toBe('[object Response]')
    for (const key of ['status', 'ok', 'statusText', 'type', 'url', 'redirected', 'bodyUsed'] as const) expect(r[key]).toBe(theirs[key])
    expect(r.headers).toBeInstanceOf(Headers)
    expect([...r.headers]).toEqual([...theirs.headers])
    expect(r.headers).toBe(r.headers)
    expect(made(null, 204).body).toBeNull()
    expect(made('x', 404).ok).toBe(false)
  })

  for (const method of ['text', 'json', 'arrayBuffer', 'bytes', 'blob'] as const) {
    it(`${method}() reads as a Response's would, once`, async () => {
      for (const data of ['{"a":1}', new TextEncoder().encode('{"a":1}')]) {
        const mine = made(data)
        const theirs = real(data)
        const a = await mine[method]()
        const b = await theirs[method]()
        if (a instanceof Blob) {
          expect(a.type).toBe((b as Blob).type)
          expect(await a.text()).toBe(await (b as Blob).text())
        } else {
          expect(a).toEqual(b)
        }
        expect(mine.bodyUsed).toBe(true)
        await expect(mine[method]()).rejects.toThrow(TypeError)
        await expect(theirs[method]()).rejects.toThrow(TypeError)
      }
    })
  }

  it('reads an empty body as empty', async () => {
    expect(await made(null, 204).text()).toBe('')
    expect((await made(null, 204).bytes()).byteLength).toBe(0)
  })

  it('gives the writer its answer once, with its fields only when they were touched', async () => {
    const r = made()
    expect(takeAnswer(r)).toEqual({ status: 200, ct: CT_JSON, text: 'X-A\u00001', body: '{"a":1}', fields: null })
    expect(takeAnswer(r)).toBeNull()
    expect(r.bodyUsed).toBe(true)
    const touched = made()
    touched.headers.set('x-b', '2')
    touched.headers.delete('x-a')
    expect(takeAnswer(touched)?.fields).toEqual(['content-type', JSON_TYPE, 'x-b', '2'])
    const read = made()
    await read.text()
    expect(takeAnswer(read)).toBeNull()
    const streamed = made()
    void streamed.body
    expect(takeAnswer(streamed)).toBeNull()
  })

  it('has a body stream when asked, through which every later use goes', async () => {
    const r = made()
    const body = r.body!
    expect(body).toBeInstanceOf(ReadableStream)
    expect(r.body).toBe(body)
    expect(await new Response(body).text()).toBe('{"a":1}')
    expect(r.bodyUsed).toBe(true)
    await expect(r.text()).rejects.toThrow(TypeError)
  })

  it('can be the init and body of a new Response, and its headers a Headers init', async () => {
    const r = made()
    r.headers.append('set-cookie', 'a=1')
    r.headers.append('set-cookie', 'b=2')
    const copy = new Response(r.body, r)
    expect(copy.status).toBe(200)
    expect(copy.headers.get('x-a')).toBe('1')
    expect(copy.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect(await copy.json()).toEqual({ a: 1 })
    expect([...new Headers(made().headers)]).toEqual([...real().headers])
  })

  it('clones into an independent Response with the headers as they are now', async () => {
    const r = made()
    r.headers.set('x-late', 'yes')
    const c = r.clone()
    expect(c).toBeInstanceOf(Response)
    expect(c.headers.get('x-late')).toBe('yes')
    c.headers.set('x-late', 'changed')
    expect(r.headers.get('x-late')).toBe('yes')
    expect(await c.text()).toBe('{"a":1}')
    expect(await r.text()).toBe('{"a":1}')
    expect(() => r.clone()).toThrow(TypeError)
    const streamed = made()
    void streamed.body
    expect(await streamed.clone().json()).toEqual({ a: 1 })
    expect(await streamed.json()).toEqual({ a: 1 })
  })

  it('reads a form as a Response does', async () => {
    const r = new AnswerResponse({ status: 200, ct: CT_NONE, text: 'content-type\u0000application/x-www-form-urlencoded', body: 'a=1&b=2', fields: null })
    const form = await r.formData()
    expect(form.get('a')).toBe('1')
    expect(form.get('b')).toBe('2')
  })
})

// ── AnswerHeaders against Headers ─────────────────────────────────────────────────────────────

type Op = { op: 'append' | 'set', name: string, value: string } | { op: 'delete' | 'get' | 'has', name: string }

const names = fc.constantFrom('x-a', 'X-A', 'x-b', 'set-cookie', 'Set-Cookie', 'content-type', 'vary', 'a b', '', 'x:y', 'ümlaut')
const values = fc.oneof(
  fc.constantFrom('1', ' padded\t', '', 'a, b', '\u0000', 'line\nbreak', 'caf\u00e9', '\u20ac', '\x01'),
  fc.string({ maxLength: 6 })
)
const ops = fc.array(fc.oneof(
  fc.record({ op: fc.constantFrom('append' as const, 'set' as const), name: names, value: values }),
  fc.record({ op: fc.constantFrom('delete' as const, 'get' as const, 'has' as const), name: names })
), { maxLength: 20 })

/** What one call does: its result, or that it threw a TypeError. */
function apply (h: Headers, o: Op): unknown {
  try {
    switch (o.op) {
      case 'append': return h.append(o.name, o.value)
      case 'set': return h.set(o.name, o.value)
      case 'delete': return h.delete(o.name)
      case 'get': return h.get(o.name)
      case 'has': return h.has(o.name)
    }
  } catch (err) {
    return err instanceof TypeError ? 'TypeError' : err
  }
}

/** Everything a caller can read of a Headers. */
function view (h: Headers): unknown {
  const each: [string, string][] = []
  h.forEach((v, n) => { each.push([n, v]) })
  return { entries: [...h], keys: [...h.keys()], values: [...h.values()], each, cookies: h.getSetCookie() }
}

describe('AnswerHeaders', () => {
  it('is a Headers', () => {
    const h = new AnswerHeaders([])
    expect(h).toBeInstanceOf(Headers)
    expect(Object.prototype.toString.call(h)).toBe('[object Headers]')
  })

  it('answers every sequence of calls as Headers does (seeded)', () => {
    fc.assert(fc.property(ops, (list) => {
      const mine = new AnswerHeaders([])
      const theirs = new Headers()
      for (const o of list) expect(apply(mine, o)).toEqual(apply(theirs, o))
      expect(view(mine)).toEqual(view(theirs))
    }), { seed: 16, numRuns: 2000 })
  })

  it('answers every sequence of calls as Headers does over an answer\'s own fields, listed only when needed (seeded)', () => {
    const own = fc.constantFrom<[string | undefined, string]>([JSON_TYPE, ''], [undefined, ''], [JSON_TYPE, 'X-A\u00001'], [undefined, 'content-type\u0000text/html\u0000Set-Cookie\u0000c=3'])
    fc.assert(fc.property(own, ops, ([type, text], list) => {
      const mine = new AnswerHeaders(null, type, text)
      const fields: [string, string][] = type === undefined ? [] : [['content-type', type]]
      const parts = text === '' ? [] : text.split('\u0000')
      for (let i = 0; i < parts.length; i += 2) fields.push([parts[i], parts[i + 1]])
      const theirs = new Headers(fields)
      for (const o of list) expect(apply(mine, o)).toEqual(apply(theirs, o))
      expect(view(mine)).toEqual(view(theirs))
    }), { seed: 16, numRuns: 2000 })
  })
})
