// The frames that cross the rings, and their codec. Both sides import this file; nothing else
// knows an offset.
//
// Every frame starts on an 8-byte boundary with a 16-byte header (little-endian):
//
//   0        4      5       6        8            12           16
//   ┌────────┬──────┬───────┬────────┬────────────┬────────────┬──────────── payload ──┐
//   │ length │ kind │ flags │  aux   │ request id │    arg     │ …                     │
//   │  u32   │  u8  │  u8   │  u16   │    u32     │    u32     │                       │
//   └────────┴──────┴───────┴────────┴────────────┴────────────┴───────────────────────┘
//   length counts header + payload, before the ring pads it to a multiple of 8.
//
// Kinds and payloads:
//
//   REQ_HEAD  main → isolate   arg = route index, aux = the request's slot in the claim table
//                              (src/shared/claims.ts): the isolate claims it there before it runs it
//             ┌ textLen u32 ┬ bodyLen u32 ┬ text (latin1) ─────────────┬ body bytes … ┐
//             text = method \0 url \0 rawHeaders joined by \0 (name \0 value \0 …)
//             bodyLen = the whole body's length, or UNKNOWN_LENGTH when it is streamed
//   RES_HEAD  isolate → main   arg = status (low 16 bits) | how long the handler kept the isolate
//                              busy (high 16 bits, resArg), aux = content-type code (CT_*)
//             ┌ textLen u32 ┬ bodyLen u32 ┬ text (latin1) ─────────────┬ body bytes … ┐
//             text = extra header names and values joined by \0
//   BODY      both ways        payload = body bytes that follow the HEAD of the same id
//   ABORT     main → isolate   the request is given up (its client left, its time ran out, the
//                              server shuts down): drop a partial body, abort `req.signal`,
//                              cancel a response stream. The isolate still ends its answer.
//             isolate → main   a streamed response failed midway: cut the connection
//   CREDIT    main → isolate   arg = bytes of a streamed response written to the socket
//             isolate → main   arg = bytes of a streamed request body the handler took
//
// A streamed response (RES_HEAD with bodyLen UNKNOWN_LENGTH and no END) is flow-controlled by
// credit: the isolate may have at most STREAM_WINDOW bytes of it not yet acknowledged, and
// awaits credit before it pulls the next chunk from the handler's stream. The main thread
// acknowledges BODY frames once their bytes are in the socket and the socket needs no drain
// (else on 'drain'), lazily: once half the window is unacknowledged, in one CREDIT per stream
// per turn (src/main/stream-credit.ts), so a slow client stops the producer with bounded memory
// on both sides:
//
//   isolate                          main thread                         client
//   pull chunk ──BODY(n)──▶ response ring ──▶ socket.write ─────────────▶ reads
//      ▲  unacked += n                          │ drained (or not full)
//      └── unacked -= n ◀──CREDIT(n)── request ring
//   unacked ≥ STREAM_WINDOW: the pull loop waits
//
// A streamed request body (a route whose maxBodySize is above the server's) is flow-controlled
// the same way in the other direction: the main thread may have at most STREAM_WINDOW bytes of it
// sent and not yet taken by the handler (req.stream()); past that it stops reading the socket,
// so a client uploading faster than the handler reads is held back by TCP.
//
// WebSocket connections (src/main/websockets.ts, src/isolate/websocket.ts) are pinned to one
// isolate; their frames carry the connection's id where a request's frames carry the request's
// (the two never meet: a connection's frames have kinds of their own). A message larger than
// what fits now goes as several frames of its kind, the last with END, sent and read in order.
//
//   WS_OPEN     main → isolate   a HEAD frame: arg = WebSocket route index, text = the upgrade
//                                request's head text (as REQ_HEAD's, with its pseudo-fields)
//   WS_MESSAGE  both ways        arg = 1 for binary, 0 for text; payload = message bytes
//                                (main → isolate: from the client; isolate → main: ws.send)
//   WS_CLOSE    both ways        arg = close code; payload = the reason (UTF-8). main → isolate:
//                                the connection is closed (close() runs); isolate → main:
//                                ws.close(), the main thread closes it and answers WS_CLOSE
//   WS_DRAIN    main → isolate   arg = 1: the client is slow, more than WS_HIGH_WATER bytes wait
//                                for it (ws.send returns false); arg = 0: below WS_LOW_WATER
//                                again, drain() runs
//   WS_TOPIC    isolate → main   arg = 1 subscribe, 0 unsubscribe; payload = the topic (UTF-8)
//   WS_PUBLISH  isolate → main   id = 0, arg = (topic bytes << 1) | binary; payload = the topic
//                                (UTF-8), then the message: it crosses once, the main thread
//                                sends it to every subscriber on every isolate
//
// flags.END marks the last frame of a message: a HEAD with END carries the whole body inline.
// Strings are latin1 because that is how the HTTP layer reads the request line and headers: one
// byte per character, so the byte length is the string length and no UTF-8 pass is needed.

import { IsopoolError } from './errors.ts'
import type { RingConsumer, RingProducer } from './ring.ts'

export const KIND_REQ_HEAD = 1
export const KIND_RES_HEAD = 2
export const KIND_BODY = 3
export const KIND_ABORT = 4
export const KIND_CREDIT = 5
export const KIND_WS_OPEN = 6
export const KIND_WS_MESSAGE = 7
export const KIND_WS_CLOSE = 8
export const KIND_WS_DRAIN = 9
export const KIND_WS_TOPIC = 10
export const KIND_WS_PUBLISH = 11
/** Bytes waiting for a WebSocket client past which it is slow (WS_DRAIN above), and below which
 * it has caught up again. */
export const WS_HIGH_WATER = 1024 * 1024
export const WS_LOW_WATER = 256 * 1024
/** Bytes of a WebSocket topic, at most: one fits any frame. */
export const WS_MAX_TOPIC = 1024
/** Bytes of a streamed response the isolate may have unacknowledged (see CREDIT above). */
export const STREAM_WINDOW = 256 * 1024

export const FLAG_END = 1

export const FRAME_HEADER = 16
/** HEAD frames carry textLen and bodyLen after the header. */
export const HEAD_PREFIX = FRAME_HEADER + 8
export const UNKNOWN_LENGTH = 0xffffffff

/** Content types the isolate names by code so the main thread need not parse a header. */
export const CT_NONE = 0
export const CT_JSON = 1
export const CT_TEXT = 2
export const CT_OCTET = 3
export const CT_MSGPACK = 4
export const CONTENT_TYPES: readonly (string | undefined)[] = [
  undefined,
  'application/json; charset=utf-8',
  'text/plain; charset=utf-8',
  'application/octet-stream',
  'application/msgpack'
]

/** A decoded HEAD frame. Body bytes, if any, are `data[bodyStart, bodyEnd)` until release. */
export interface HeadFrame {
  id: number
  flags: number
  aux: number
  arg: number
  text: string
  bodyLen: number
  bodyStart: number
  bodyEnd: number
}

/**
 * Write a HEAD frame with as much of `body` (from `bodyOffset`) as fits now. Returns the number
 * of body bytes written, or -1 when not even the header and text fit (nothing is written).
 * The frame carries END when `final` and the whole rest of the body fit. `whole`: when the
 * whole frame can fit in the ring at all, write it whole or not at all (-1) — the consumer then
 * gets the message in one piece, never a head whose body is still to come.
 */
export function writeHead (
  ring: RingProducer, kind: number, id: number, arg: number, aux: number, text: string,
  bodyLen: number, body: Uint8Array | null, bodyOffset: number, final: boolean, whole = false
): number {
  const fixed = HEAD_PREFIX + text.length
  const rest = body === null ? 0 : body.byteLength - bodyOffset
  const pos = ring.reserve(whole && fixed + rest <= ring.maxFrame ? fixed + rest : fixed, fixed + rest)
  if (pos < 0) return -1
  const n = Math.min(rest, ring.reserved - fixed)
  const len = fixed + n
  writeHeadPrefix(ring, pos, len, kind, final && n === rest ? FLAG_END : 0, aux, id, arg, text, bodyLen)
  if (n > 0) copyIn(ring.data, pos + fixed, body!, bodyOffset, bodyOffset + n)
  ring.commit(len)
  return n
}

/**
 * Write the start of a HEAD frame at `pos`, a reservation of at least `len` bytes: the frame
 * header, textLen, bodyLen and the text. The body bytes go at `pos + HEAD_PREFIX + text.length`;
 * the caller writes them and commits.
 */
export function writeHeadPrefix (
  ring: RingProducer, pos: number, len: number, kind: number, flags: number, aux: number, id: number, arg: number,
  text: string, bodyLen: number
): void {
  writeFrameHeader(ring, pos, len, kind, flags, aux, id, arg)
  const w = (pos + FRAME_HEADER) >>> 2
  ring.u32[w] = text.length
  ring.u32[w + 1] = bodyLen
  if (text.length > 0) ring.data.write(text, pos + HEAD_PREFIX, text.length, 'latin1')
}

/**
 * Write a whole message as one HEAD frame with END: `text`, then the body gathered from `parts`
 * (`bodyLen` bytes in all), each copied once into the ring. Returns where the frame starts in
 * `ring.data`, or -1 when it does not fit now (nothing is written); the caller checked that it
 * fits `maxFrame`.
 */
export function writeWholeHead (
  ring: RingProducer, kind: number, id: number, arg: number, aux: number, text: string,
  parts: readonly Uint8Array[], bodyLen: number
): number {
  const len = HEAD_PREFIX + text.length + bodyLen
  const pos = ring.reserve(len, len)
  if (pos < 0) return -1
  writeHeadPrefix(ring, pos, len, kind, FLAG_END, aux, id, arg, text, bodyLen)
  let at = pos + HEAD_PREFIX + text.length
  for (const part of parts) {
    copyIn(ring.data, at, part, 0, part.byteLength)
    at += part.byteLength
  }
  ring.commit(len)
  return pos
}

/**
 * Write a BODY (or ABORT, or CREDIT with `arg`) frame with as much of `body` from `offset` as fits now; at least one
 * byte unless the body is empty. Returns the bytes written, or -1 when nothing could be written.
 */
export function writeBody (
  ring: RingProducer, kind: number, id: number, body: Uint8Array | null, offset: number, final: boolean, arg = 0
): number {
  const rest = body === null ? 0 : body.byteLength - offset
  const pos = ring.reserve(FRAME_HEADER + (rest > 0 ? 1 : 0), FRAME_HEADER + rest)
  if (pos < 0) return -1
  const n = Math.min(rest, ring.reserved - FRAME_HEADER)
  writeFrameHeader(ring, pos, FRAME_HEADER + n, kind, final && n === rest ? FLAG_END : 0, 0, id, arg)
  if (n > 0) copyIn(ring.data, pos + FRAME_HEADER, body!, offset, offset + n)
  ring.commit(FRAME_HEADER + n)
  return n
}

/**
 * Write `body` from `offset` as frames of `kind` (each with `arg`, the last with END) while they
 * fit: a message larger than what fits now goes in several. Returns the offset reached
 * (`body.byteLength` once all of it is in the ring; an empty body is one empty frame), or -1
 * when not even one frame could be written.
 */
export function writeFrames (ring: RingProducer, kind: number, id: number, body: Uint8Array | null, offset: number, arg: number): number {
  const len = body === null ? 0 : body.byteLength
  let at = offset
  do {
    const n = writeBody(ring, kind, id, body, at, true, arg)
    if (n < 0) return at === offset ? -1 : at
    at += n
  } while (at < len)
  return at
}

// Copying bytes into and out of shared memory. TypedArray#set and #slice treat a
// SharedArrayBuffer as racy and copy it with relaxed atomics, about 5x slower than memcpy for a
// 64 KiB body (bench/micro/copy.ts measures it); Buffer#fill with a same-length source and
// Buffer#copy out of shared memory run node's plain memcpy. Below ~1 KiB the call overhead
// of those wins back, so small copies keep using set().
const NATIVE_COPY_MIN = 1024

/** Copy `src[start, end)` into the ring's data at `at`. */
export function copyIn (data: Buffer, at: number, src: Uint8Array, start: number, end: number): void {
  if (end - start < NATIVE_COPY_MIN) data.set(src.subarray(start, end), at)
  else data.fill(src.subarray(start, end), at, at + end - start)
}

/** Copy `data[start, end)` out of the ring into `target` at `at`. */
export function copyOutInto (data: Buffer, start: number, end: number, target: Uint8Array, at: number): void {
  if (end - start < NATIVE_COPY_MIN) target.set(data.subarray(start, end), at)
  else data.copy(target, at, start, end)
}

/** A new Buffer with a copy of `data[start, end)`; `standalone` gives it its own ArrayBuffer
 * (for a value handed to user code) instead of a slice of node's shared pool. */
export function copyOut (data: Buffer, start: number, end: number, standalone = false): Buffer {
  const out = standalone ? Buffer.allocUnsafeSlow(end - start) : Buffer.allocUnsafe(end - start)
  copyOutInto(data, start, end, out, 0)
  return out
}

/** Write the 16-byte header at `pos` (8-byte aligned, so every field is an aligned word). */
export function writeFrameHeader (ring: RingProducer, pos: number, len: number, kind: number, flags: number, aux: number, id: number, arg: number): void {
  const w = pos >>> 2
  ring.u32[w] = len
  ring.data[pos + 4] = kind
  ring.data[pos + 5] = flags
  ring.u16[(pos + 6) >>> 1] = aux
  ring.u32[w + 2] = id
  ring.u32[w + 3] = arg
}

// ── reading ────────────────────────────────────────────────────────────────────────────────

// RES_HEAD's arg: the status and what the request cost the isolate (src/main/route-costs.ts),
// the cost in 16 bits, in two scales:
//
//   bit 15 = 0   bits 0–14: µs, 0 – 32,767          (exact where placement tells routes apart)
//   bit 15 = 1   bits 0–14: ms, 32 – 32,767          (whole ms: a long job's length to within 3 %)
//
// One scale of µs alone stopped at 65.5 ms: a 500 ms job was learned as 65 ms, so a held one was
// overdue after a quarter of a second instead of 2 s (route-costs.ts, heldFor), and the expected
// wait of requests behind such jobs, which admission sheds by, came out a seventh of the truth.
const MS_SCALE = 0x8000
const MAX_SCALED = 0x7fff

/** The arg of a RES_HEAD: `status`, and `busyMicros` in the scale that holds it. */
export const resArg = (status: number, busyMicros: number): number => {
  const busy = busyMicros < MS_SCALE ? busyMicros : MS_SCALE | Math.min(Math.round(busyMicros / 1000), MAX_SCALED)
  return (status | (busy << 16)) >>> 0
}
export const resStatus = (arg: number): number => arg & 0xffff
/** The busy time a RES_HEAD's arg carries, in µs (whole ms above 32,767 µs). */
export const resBusyMicros = (arg: number): number => {
  const busy = arg >>> 16
  return (busy & MS_SCALE) === 0 ? busy : (busy & MAX_SCALED) * 1000
}

export const frameKind = (ring: RingConsumer, pos: number): number => ring.data[pos + 4]
export const frameFlags = (ring: RingConsumer, pos: number): number => ring.data[pos + 5]
export const frameId = (ring: RingConsumer, pos: number): number => ring.u32[(pos >>> 2) + 2]
export const frameArg = (ring: RingConsumer, pos: number): number => ring.u32[(pos >>> 2) + 3]

/** Head texts this long or shorter are compared with the last one decoded before decoding. */
const TEXT_CACHE_MAX = 64
/** The last short head text decoded on this thread, and its bytes. A server's answers repeat
 * their fields (a middleware's header on every answer, an error's): a byte comparison then
 * stands in for Buffer#toString, a call into C++ and a new string (~0.2 µs a frame), and the
 * same string lets the head's writer reuse its field list (fieldList). */
const cachedBytes = new Uint8Array(TEXT_CACHE_MAX)
let cachedLen = -1
let cachedText = ''

function headText (data: Buffer, start: number, len: number): string {
  if (len > TEXT_CACHE_MAX) return data.toString('latin1', start, start + len)
  if (len === cachedLen) {
    let i = 0
    while (i < len && data[start + i] === cachedBytes[i]) i++
    if (i === len) return cachedText
  }
  cachedText = data.toString('latin1', start, start + len)
  for (let i = 0; i < len; i++) cachedBytes[i] = data[start + i]
  cachedLen = len
  return cachedText
}

/** Decode the HEAD frame at `pos` (whose length peek() checked against the ring). */
export function readHead (ring: RingConsumer, pos: number): HeadFrame {
  const len = ring.frameLength
  if (len < HEAD_PREFIX) throw invalid(`HEAD frame of ${len} bytes is shorter than its ${HEAD_PREFIX}-byte prefix`)
  const u32 = ring.u32
  const w = pos >>> 2
  const textLen = u32[w + 4]
  if (textLen > len - HEAD_PREFIX) throw invalid(`text of ${textLen} bytes overruns a ${len}-byte frame`)
  const bodyStart = pos + HEAD_PREFIX + textLen
  return {
    id: u32[w + 2],
    flags: ring.data[pos + 5],
    aux: ring.u16[(pos + 6) >>> 1],
    arg: u32[w + 3],
    text: textLen === 0 ? '' : headText(ring.data, pos + HEAD_PREFIX, textLen),
    bodyLen: u32[w + 5],
    bodyStart,
    bodyEnd: pos + len
  }
}

/** The body bytes of the BODY frame at `pos`, as a view into the ring valid until release. */
export function bodyView (ring: RingConsumer, pos: number): Uint8Array {
  const len = ring.frameLength
  if (len < FRAME_HEADER) throw invalid(`BODY frame of ${len} bytes is shorter than its header`)
  return ring.data.subarray(pos + FRAME_HEADER, pos + len)
}

function invalid (reason: string): IsopoolError {
  return new IsopoolError('ISOPOOL_ERR_FRAME_INVALID', { reason })
}
