// Writing the access log's held lines (logger.ts AccessLog.batch()) straight to the file
// descriptor of the SonicBoom pino writes through, rather than through SonicBoom's write().
//
// Why: SonicBoom 4 (string mode) spends on each write what is proportional to its size three
// times over — Buffer.byteLength() of the data and of its last held chunk, fs.write() encoding the
// string on the libuv pool, and, when that is done, Buffer.from() of the whole string again (a
// fresh buffer per write, for the GC) — ~1.4 µs of CPU a line (both threads) in batches of
// 16 KiB to /dev/null, where encoding into one reused buffer and writing it with fs.writeSync()
// costs ~0.2 µs (bench/micro/log-write.ts, Node 24.21, this 2-vCPU VM, medians of 5 processes:
// 1376 / 1397 ns against 211 / 182 ns; SonicBoom with sync: true 599 / 575 ns). At 30,000
// answers a second that is ~3.5 % of the main thread.
//
// When it may: only while it cannot change what reaches the file, or when.
//
//   - the descriptor is a regular file or a character device that is not a terminal (/dev/null):
//     a write to one never waits for a reader. A pipe or a socket (a log collector reading
//     stdout) may be full; SonicBoom's asynchronous write keeps the main thread out of that wait,
//     so those keep SonicBoom's path. Looked at once per descriptor (fstat).
//   - SonicBoom holds nothing and is writing nothing: whatever pino gave it before (an isolate's
//     record, a refusal, a line of the user's) is then already in the file, and this write goes
//     after it, complete when writeSync() returns. While it holds something, the lines go to it,
//     after what it holds.
//   - it is open and not closing or reopening, and it does no fsync per write (which its own
//     write() would do).
//
// A write that fails (a full disk, a descriptor closed under it) leaves the rest of the lines to
// SonicBoom, which reports its errors as it always does, and this writer is not used again.
//
// SonicBoom's fields read here (fd, _writing, _len, _writingBuf, _ending, _reopening, _fsync,
// destroyed) are its own, not its API: a stream without them all, as they are in sonic-boom 4,
// is never written around.

import { fstatSync, writeSync } from 'node:fs'
import { isatty } from 'node:tty'

/** The SonicBoom fields this reads (sonic-boom 4, string mode). */
interface SonicFields {
  fd: number
  _writing: boolean
  _len: number
  _writingBuf: string
  _ending: boolean
  _reopening: boolean
  _fsync: boolean
  destroyed: boolean
  write (s: string): unknown
}

/** The scratch buffer kept between writes: a batch of BATCH_CHARS (16 K) characters at 3 bytes
 * each at most, and some; a larger batch (a very long line) gets a buffer of its own. */
const KEPT_BYTES = 64 * 1024

export class FdWriter {
  private readonly stream: SonicFields
  /** The descriptor last looked at, and whether writes to it never wait. */
  private statFd = -1
  private statOk = false
  /** A write failed: SonicBoom writes everything from then on. */
  private broken = false
  private scratch: Buffer | null = null

  private constructor (stream: SonicFields) {
    this.stream = stream
  }

  /** A writer around `stream`, or null when it is not a SonicBoom of the shape this knows. */
  static around (stream: unknown): FdWriter | null {
    const s = stream as Partial<SonicFields> | null
    if (s === null || typeof s !== 'object') return null
    if (typeof s.fd !== 'number' || typeof s._writing !== 'boolean' || typeof s._len !== 'number' ||
      typeof s._writingBuf !== 'string' || typeof s._ending !== 'boolean' || typeof s._reopening !== 'boolean' ||
      typeof s._fsync !== 'boolean' || typeof s.destroyed !== 'boolean' || typeof s.write !== 'function') return null
    return new FdWriter(s as SonicFields)
  }

  /** Whether the last write went around the stream (for tests). */
  wroteAround = false

  /** Write `text` (whole lines) to the stream's descriptor now, or to the stream when this may not. */
  write (text: string): void {
    const s = this.stream
    if (this.broken || s._writing || s._len !== 0 || s._writingBuf.length !== 0 || s.fd < 0 ||
      s.destroyed || s._ending || s._reopening || s._fsync || !this.neverWaits(s.fd)) {
      this.wroteAround = false
      s.write(text)
      return
    }
    this.wroteAround = true
    // Room for every character at 3 bytes (UTF-16 code units never take more in UTF-8).
    const need = text.length * 3
    let buf = this.scratch
    if (buf === null || buf.length < need) {
      buf = Buffer.allocUnsafeSlow(Math.max(need, KEPT_BYTES))
      if (buf.length <= KEPT_BYTES) this.scratch = buf
    }
    const bytes = buf.write(text, 0, 'utf8')
    let done = 0
    try {
      while (done < bytes) done += writeSync(s.fd, buf, done, bytes - done)
    } catch {
      // What was written stays written; the rest goes to SonicBoom (from a byte where a write
      // stopped: a character cut there is lost to U+FFFD, as a partial write would cut it anyway).
      this.broken = true
      this.wroteAround = false
      s.write(done === 0 ? text : buf.toString('utf8', done, bytes))
    }
  }

  private neverWaits (fd: number): boolean {
    if (fd !== this.statFd) {
      this.statFd = fd
      try {
        const st = fstatSync(fd)
        this.statOk = st.isFile() || (st.isCharacterDevice() && !isatty(fd))
      } catch {
        this.statOk = false
      }
    }
    return this.statOk
  }
}
