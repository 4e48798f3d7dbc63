// A table of values by request id (a positive 31-bit integer), for the requests in flight on an
// isolate: open addressing with linear probing over two arrays that grow and never shrink.
//
//   keys   [ 0 | 17 | 18 | 0 | 3 | … ]     0: empty (ids start at 1)
//   values [ ∅ | p  | p  | ∅ | p | … ]     slot = id & mask, then the next ones
//
// Why not a Map: a Map whose keys come and go (a request placed, answered, forgotten) rehashes
// into a new backing table every few dozen operations, and V8 links each old table to its
// successor (for iterators that outlive a rehash). An old table promoted to the old generation
// keeps that link after it is dead, so the young table it points to — with the requests in it —
// survives the next scavenge, is promoted in its turn, and links to the next: every request
// ever held is promoted to the old generation until a mark-compact (nepotism). With the Map,
// `hello` under wrk promoted ~30 MB a second on the main thread, and a synthetic churn of a
// Map of 1.3 KB objects 1.8 GB in 3 M operations against 9 MB without it (--trace-gc-nvp).
// Arrays written in place keep no such links.
//
// Deletion shifts the entries after it back (no tombstones), so a lookup stops at the first
// empty slot; the table doubles at half full, so probes stay short.

const MIN_CAPACITY = 64

export class IdTable<V> {
  private keys: Int32Array
  private values: (V | undefined)[]
  private mask: number
  private count = 0

  constructor (capacity = MIN_CAPACITY) {
    let c = MIN_CAPACITY
    while (c < capacity) c <<= 1
    this.keys = new Int32Array(c)
    this.values = new Array<V | undefined>(c).fill(undefined)
    this.mask = c - 1
  }

  get size (): number { return this.count }

  get (id: number): V | undefined {
    const keys = this.keys
    const mask = this.mask
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const k = keys[i]
      if (k === id) return this.values[i]
      if (k === 0) return undefined
    }
  }

  /** Set the value of `id` (> 0). */
  set (id: number, value: V): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow()
    const keys = this.keys
    const mask = this.mask
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const k = keys[i]
      if (k === id) {
        this.values[i] = value
        return
      }
      if (k === 0) {
        keys[i] = id
        this.values[i] = value
        this.count++
        return
      }
    }
  }

  /** Remove `id`; true if it was there. */
  delete (id: number): boolean {
    const keys = this.keys
    const values = this.values
    const mask = this.mask
    let i = id & mask
    for (;; i = (i + 1) & mask) {
      const k = keys[i]
      if (k === id) break
      if (k === 0) return false
    }
    // Shift back every entry after the hole that would no longer be found past it (its home
    // slot lies cyclically at or before the hole), until an empty slot ends the run.
    let hole = i
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = keys[j] & mask
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]
        values[hole] = values[j]
        hole = j
      }
    }
    keys[hole] = 0
    values[hole] = undefined
    this.count--
    return true
  }

  /** The values, in no particular order (a copy: the table may change while they are used). */
  list (): V[] {
    const out: V[] = []
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) out.push(this.values[i] as V)
    return out
  }

  clear (): void {
    this.keys.fill(0)
    this.values.fill(undefined)
    this.count = 0
  }

  private grow (): void {
    const oldKeys = this.keys
    const oldValues = this.values
    const c = oldKeys.length * 2
    this.keys = new Int32Array(c)
    this.values = new Array<V | undefined>(c).fill(undefined)
    this.mask = c - 1
    this.count = 0
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== 0) this.set(oldKeys[i], oldValues[i] as V)
  }
}
