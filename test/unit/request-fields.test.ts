// Looking up a request's fields in its head text (src/main/request-fields.ts), and the request
// id's validity (src/main/request-id.ts).
import { describe, expect, it } from 'vitest'
import { fieldListReader, fieldReader, fieldRecord, fieldValue, fieldValues } from '../../src/main/request-fields.ts'
import { generatedId, validRequestId } from '../../src/main/request-id.ts'

const head = ['GET', '/x-request-id', 'Host', 'a', 'X-Request-Id', 'first', 'x-note', 'x-request-id', 'x-request-id', 'second', 'Accept', 'a/b', 'accept', 'c/d'].join('\0')

describe('fieldValue / fieldValues', () => {
  it('finds a field by name in any case, the first of several', () => {
    expect(fieldValue(head, 'x-request-id')).toBe('first')
    expect(fieldValue(head, 'host')).toBe('a')
    expect(fieldValue(head, 'missing')).toBeUndefined()
  })

  it('never takes the target or a value for a name', () => {
    expect(fieldValue(head, 'x-note')).toBe('x-request-id')
    expect(fieldValue(['GET', '/x', 'a', 'origin'].join('\0'), 'origin')).toBeUndefined()
    expect(fieldValue('GET\0/origin', 'origin')).toBeUndefined()
  })

  it('joins every line of a field with ", "', () => {
    expect(fieldValues(head, 'accept')).toBe('a/b, c/d')
    expect(fieldValues(head, 'x-request-id')).toBe('first, second')
    expect(fieldValues(head, 'nope')).toBeUndefined()
  })

  it('takes an empty value as a value', () => {
    expect(fieldValue(['GET', '/', 'origin', ''].join('\0'), 'origin')).toBe('')
  })
})

describe('fieldReader / fieldListReader', () => {
  it('read as the walkers do, for a name given in any case', () => {
    expect(fieldReader('X-Request-Id')(head)).toBe('first')
    expect(fieldReader('x-note')(head)).toBe('x-request-id')
    expect(fieldReader('host')(head)).toBe('a')
    expect(fieldListReader('accept')(head)).toBe('a/b, c/d')
  })

  it('find nothing where the name is absent, or only part of a name or of the target', () => {
    expect(fieldReader('origin')(head)).toBeUndefined()
    expect(fieldReader('request-id')(head)).toBeUndefined()
    expect(fieldReader('x-request-id')('GET\0/x\0x-request-idx\0v')).toBeUndefined()
    expect(fieldListReader('nope')(head)).toBeUndefined()
  })

  it('take a name with a token\'s punctuation and digits literally', () => {
    const text = ['GET', '/', '1.x+y', 'one', '1ax+y', 'two', 'a|b', 'three'].join('\0')
    expect(fieldReader('1.x+y')(text)).toBe('one')
    expect(fieldReader('1?x+y')(text)).toBeUndefined()
    expect(fieldReader('a|b')(text)).toBe('three')
    expect(fieldReader('b')(text)).toBeUndefined()
  })
})

describe('fieldRecord', () => {
  it('names in lower case, repeated fields as arrays', () => {
    const r = fieldRecord(head)
    expect(r.host).toBe('a')
    expect(r['x-request-id']).toEqual(['first', 'second'])
    expect(r.accept).toEqual(['a/b', 'c/d'])
  })

  it('leaves out the main thread\'s pseudo-fields', () => {
    expect(fieldRecord(['GET', '/', 'a', '1', ':ip', '1.2.3.4'].join('\0'))).toEqual({ a: '1' })
  })
})

describe('validRequestId', () => {
  it('takes 1 to 200 visible ASCII characters', () => {
    expect(validRequestId('a')).toBe(true)
    expect(validRequestId('!~' + 'x'.repeat(198))).toBe(true)
    for (const bad of ['', 'x'.repeat(201), 'a b', 'a\tb', 'é', 'a\u0000']) expect(validRequestId(bad), JSON.stringify(bad)).toBe(false)
  })
})

describe('generatedId', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

  it('makes version 4 UUIDs, all different, across the blocks one random UUID starts', () => {
    const ids = Array.from({ length: 2000 }, generatedId)
    for (const id of ids) expect(id).toMatch(UUID)
    expect(new Set(ids).size).toBe(ids.length)
    // Eight blocks or more: their 34-character starts differ, not only the count at the end.
    expect(new Set(ids.map(id => id.slice(0, 34))).size).toBeGreaterThanOrEqual(7)
    for (const id of ids) expect(validRequestId(id)).toBe(true)
  })
})
