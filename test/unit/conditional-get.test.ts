// Conditional and range requests of a file (src/main/conditional-get.ts): validators, the weak
// comparison of If-None-Match, dates, If-Range, and every form of a single byte range.
import { describe, expect, it } from 'vitest'
import { fileEtag, ifRangeHolds, noneMatch, notModifiedSince, parseRange } from '../../src/main/conditional-get.ts'

const MTIME = Date.UTC(2024, 4, 1, 12, 0, 0) + 789 // a time with milliseconds
const SECOND = new Date(MTIME).toUTCString() // what Last-Modified says: whole seconds

describe('fileEtag', () => {
  it('is weak, from the size and the whole milliseconds of mtime, in hex', () => {
    expect(fileEtag(20, 1000.7)).toBe('W/"14-3e8"')
    expect(fileEtag(21, 1000)).not.toBe(fileEtag(20, 1000))
    expect(fileEtag(20, 1001)).not.toBe(fileEtag(20, 1000))
  })
})

describe('noneMatch', () => {
  const tag = fileEtag(20, MTIME)
  it('matches the tag, weakly: with or without W/, anywhere in a list, or *', () => {
    expect(noneMatch(tag, tag)).toBe(true)
    expect(noneMatch(tag.slice(2), tag)).toBe(true)
    expect(noneMatch(`"a", W/"b",${tag}`, tag)).toBe(true)
    expect(noneMatch(' * ', tag)).toBe(true)
  })
  it('does not match another tag, a bare word or nothing', () => {
    expect(noneMatch('"a", W/"b"', tag)).toBe(false)
    expect(noneMatch(tag.slice(3, -1), tag)).toBe(false) // unquoted
    expect(noneMatch('', tag)).toBe(false)
    expect(noneMatch('*, "a"', tag)).toBe(false) // * is only * alone
  })
})

describe('notModifiedSince', () => {
  it('holds when the date is the file\'s second or later', () => {
    expect(notModifiedSince(SECOND, MTIME)).toBe(true)
    expect(notModifiedSince(new Date(MTIME + 5000).toUTCString(), MTIME)).toBe(true)
  })
  it('fails for an earlier date, and is no condition for an unreadable one', () => {
    expect(notModifiedSince(new Date(MTIME - 1000).toUTCString(), MTIME)).toBe(false)
    expect(notModifiedSince('yesterday', MTIME)).toBe(false)
  })
})

describe('ifRangeHolds', () => {
  it('holds for the file\'s exact Last-Modified', () => {
    expect(ifRangeHolds(SECOND, MTIME)).toBe(true)
    expect(ifRangeHolds(` ${SECOND} `, MTIME)).toBe(true)
  })
  it('fails for another date, any entity tag (ours are weak: no strong match), or junk', () => {
    expect(ifRangeHolds(new Date(MTIME + 1000).toUTCString(), MTIME)).toBe(false)
    expect(ifRangeHolds(new Date(MTIME - 1000).toUTCString(), MTIME)).toBe(false)
    expect(ifRangeHolds(fileEtag(20, MTIME), MTIME)).toBe(false)
    expect(ifRangeHolds('"strong"', MTIME)).toBe(false)
    expect(ifRangeHolds('junk', MTIME)).toBe(false)
  })
})

describe('parseRange', () => {
  it('reads first-last, first- and -suffix, clamped to the file', () => {
    expect(parseRange('bytes=0-9', 20)).toEqual({ kind: 'part', start: 0, end: 9 })
    expect(parseRange('bytes=10-', 20)).toEqual({ kind: 'part', start: 10, end: 19 })
    expect(parseRange('bytes=-5', 20)).toEqual({ kind: 'part', start: 15, end: 19 })
    expect(parseRange('bytes=-50', 20)).toEqual({ kind: 'part', start: 0, end: 19 })
    expect(parseRange('bytes=19-19', 20)).toEqual({ kind: 'part', start: 19, end: 19 })
    expect(parseRange('bytes=5-999999999999999999999', 20)).toEqual({ kind: 'part', start: 5, end: 19 })
    expect(parseRange('Bytes= 3-4 ', 20)).toEqual({ kind: 'part', start: 3, end: 4 })
  })
  it('is unsatisfiable past the end, for the last 0 bytes, and for any range of an empty file', () => {
    expect(parseRange('bytes=20-', 20)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRange('bytes=20-25', 20)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRange('bytes=-0', 20)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' })
  })
  it('is the whole file for several ranges, other units, bad syntax, or last before first', () => {
    for (const v of ['bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=a-b', 'bytes 0-1', 'bytes=5-2', 'bytes=1-2-3', '']) {
      expect(parseRange(v, 20), v).toEqual({ kind: 'whole' })
    }
  })
})
