// Forms: application/x-www-form-urlencoded and multipart/form-data, parsed in the isolate by
// @fastify/busboy from the body bytes the isolate already holds (bounded by maxBodySize). Files
// stream through busboy with their limits: a file over `fileSize`, or more files, fields or parts
// than allowed, is a 413 naming the limit. Parsing is linear in the body: a field name repeated
// 40,000 times appends to one array (rebuilding it per repeat took 7.8 s of isolate CPU for a
// 120 KB body), and the counts are bounded by default.

import { Busboy } from '@fastify/busboy'
import { IsopoolError } from '../shared/errors.ts'

export interface FormFile {
  /** The form field the file came in. */
  field: string
  filename: string
  mimeType: string
  size: number
  data: Uint8Array
}

export interface Form {
  /** Text fields; a name given more than once maps to an array of its values in order. */
  fields: Record<string, string | string[]>
  files: FormFile[]
}

export interface FormLimits {
  /** Largest file, in bytes. Default: no limit beyond maxBodySize. */
  fileSize?: number
  /** Most files. Default 1 000. */
  files?: number
  /** Most text fields. Default 100 000. */
  fields?: number
  /** Largest text field value, in bytes. Default 1 MiB. */
  fieldSize?: number
  /** Longest field name, in bytes. Default 100. */
  fieldNameSize?: number
}

/** The limits a form gets where its route sets none. Whatever they are, maxBodySize bounds the
 * bytes and parsing is linear; these bound how many objects a body may turn into. */
export const DEFAULT_FORM_LIMITS = { files: 1_000, fields: 100_000, fieldNameSize: 100 } as const

export const FORM_TYPE = /^(multipart\/form-data|application\/x-www-form-urlencoded)\s*(;|$)/i

/** What both parsers (whole and streamed) share: the media type checked, busboy made, the limit
 * events and busboy's errors reported through `fail`, and each field and file counted. */
interface FormParser {
  bb: InstanceType<typeof Busboy>
  /** A field came: false when it breaks a limit (reported). */
  field (name: string, nameTruncated: boolean, valueTruncated: boolean): boolean
  /** A file came: false when it is one too many (reported, and its bytes dropped). */
  file (stream: NodeJS.ReadableStream): boolean
  tooLarge (what: string, limit: number | undefined): void
}

/** A FormParser for `contentType`, or the coded error that refuses the form outright. */
function formParser (contentType: string | undefined, limits: FormLimits, fail: (err: unknown) => void): FormParser | IsopoolError {
  if (contentType === undefined || !FORM_TYPE.test(contentType)) {
    return new IsopoolError('ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE', { type: contentType ?? '(none)', expected: 'multipart/form-data or application/x-www-form-urlencoded' })
  }
  const bounds = { ...DEFAULT_FORM_LIMITS, ...limits }
  const tooLarge = (what: string, limit: number | undefined): void =>
    fail(new IsopoolError('ISOPOOL_ERR_FORM_LIMIT', { what, limit: limit ?? 'the limit' }))
  let bb
  try {
    // The counts are checked here, one past the limit: busboy's urlencoded parser stops at its
    // fields limit without a word when the whole body comes in one write, as it does here. A
    // multipart part is a field or a file: as many parts as both limits allow together.
    bb = new Busboy({ headers: { 'content-type': contentType }, limits: { ...bounds, fields: bounds.fields + 1, files: bounds.files + 1, parts: bounds.fields + bounds.files + 2 } })
  } catch (err) {
    return new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error).message}` })
  }
  bb.on('filesLimit', () => tooLarge('number of files', bounds.files))
  bb.on('fieldsLimit', () => tooLarge('number of fields', bounds.fields))
  bb.on('partsLimit', () => tooLarge('number of parts', bounds.fields + bounds.files))
  bb.on('error', (err: unknown) => fail(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error)?.message ?? String(err)}` })))
  let fieldCount = 0
  let fileCount = 0
  return {
    bb,
    tooLarge,
    field (name, nameTruncated, valueTruncated) {
      if (++fieldCount > bounds.fields) tooLarge('number of fields', bounds.fields)
      // A truncated name would be another field's name: refuse it, as a value too long is.
      else if (nameTruncated) tooLarge(`name of field "${name}…"`, bounds.fieldNameSize)
      else if (valueTruncated) tooLarge(`field "${name}"`, limits.fieldSize)
      else return true
      return false
    },
    file (stream) {
      if (++fileCount <= bounds.files) return true
      stream.resume()
      tooLarge('number of files', bounds.files)
      return false
    }
  }
}

/** Add a text field: a name given more than once maps to an array of its values, appended to
 * (not rebuilt: see the top of this file). */
function addField (fields: Record<string, string | string[]>, name: string, value: string): void {
  const prev = fields[name]
  if (prev === undefined) fields[name] = value
  else if (Array.isArray(prev)) prev.push(value)
  else fields[name] = [prev, value]
}

export function parseForm (contentType: string | undefined, body: Uint8Array, limits: FormLimits = {}): Promise<Form> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string | string[]> = Object.create(null)
    const files: FormFile[] = []
    let failed = false
    const fail = (err: unknown): void => {
      if (failed) return
      failed = true
      reject(err)
    }
    const parser = formParser(contentType, limits, fail)
    if (parser instanceof IsopoolError) return fail(parser)
    const bb = parser.bb
    bb.on('field', (name, value, nameTruncated, valueTruncated) => {
      if (parser.field(name, nameTruncated, valueTruncated)) addField(fields, name, value)
    })
    bb.on('file', (field, stream, filename, _encoding, mimeType) => {
      if (!parser.file(stream)) return
      const chunks: Buffer[] = []
      let size = 0
      stream.on('data', (chunk: Buffer) => { chunks.push(chunk); size += chunk.byteLength })
      stream.on('limit', () => parser.tooLarge(`file "${filename}"`, limits.fileSize))
      stream.on('end', () => {
        if (!stream.truncated) files.push({ field, filename, mimeType, size, data: Buffer.concat(chunks, size) })
      })
    })
    bb.on('finish', () => { if (!failed) resolve({ fields, files }) })
    bb.end(body)
  })
}

// ── a streaming route's form ───────────────────────────────────────────────────────────────
//
// On a route whose body streams (its maxBodySize above the server's), the form is read part by
// part as the body arrives, with busboy's backpressure end to end: a file part not read holds
// busboy, which holds the body stream, whose credit holds the client. Text fields are strings
// as in a buffered form; files are streams, each read once, in the order the client sent them.

/** One part of a streamed form: a text field (`value`) or a file (`filename`, read as a stream). */
export interface FormPart extends AsyncIterable<Uint8Array> {
  /** The form field's name. */
  name: string
  /** A file's name as the client gave it; undefined for a text field. */
  filename: string | undefined
  /** A file's media type ('text/plain' for a text field). */
  type: string
  /** A text field's value; undefined for a file. */
  value: string | undefined
  /** A file's bytes as they arrive (the part itself iterates them too); empty for a text field.
   * A part left unread is skipped when the next one is asked for. */
  stream (): AsyncIterable<Uint8Array>
}

/** A streamed form: iterate it for its parts in order (or `files` for the files only); `fields`
 * holds the text fields read so far, and all of them once the iteration is over. */
export interface StreamedForm extends AsyncIterable<FormPart> {
  fields: Record<string, string | string[]>
  /** The file parts, the text fields between them going into `fields`. */
  files: AsyncIterable<FormPart>
}

type FileSource = NodeJS.ReadableStream & { truncated?: boolean, resume (): unknown, iterator (o: { destroyOnReturn: boolean }): AsyncIterableIterator<Buffer> }

class StreamedPart implements FormPart {
  readonly name: string
  readonly filename: string | undefined
  readonly type: string
  readonly value: string | undefined
  private readonly file: FileSource | null
  private read = false

  constructor (name: string, filename: string | undefined, type: string, value: string | undefined, file: FileSource | null) {
    this.name = name
    this.filename = filename
    this.type = type
    this.value = value
    this.file = file
  }

  stream (): AsyncIterable<Uint8Array> { return this }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    if (this.read || this.file === null) return (async function * () {})()
    this.read = true
    return chunksOf(this.file)
  }

  /** Drop what is left unread, so busboy goes on to the next part. */
  skip (): void {
    if (this.read || this.file === null) return
    this.read = true
    this.file.resume()
  }
}

async function * chunksOf (file: FileSource): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    // destroyOnReturn false: a loop broken out of leaves the file for skip-by-resume below,
    // rather than a destroyed stream busboy would still write to.
    for await (const chunk of file.iterator({ destroyOnReturn: false })) yield chunk
  } finally {
    file.resume()
  }
}

export function parseStreamedForm (contentType: string | undefined, body: AsyncIterable<Uint8Array>, limits: FormLimits = {}): Promise<StreamedForm> {
  const fields: Record<string, string | string[]> = Object.create(null)
  const parts: StreamedPart[] = []
  let failure: unknown = null
  let finished = false
  let wake: (() => void) | null = null
  const notify = (): void => {
    const w = wake
    wake = null
    w?.()
  }
  const fail = (err: unknown): void => {
    if (failure === null) failure = err
    notify()
  }
  const parser = formParser(contentType, limits, fail)
  if (parser instanceof IsopoolError) return Promise.reject(parser)
  /** The reader stopped (broke out of its loop): nothing more is parsed, the rest of the body is
   * drained (body-stream.ts). */
  let stopped = false
  const bb = parser.bb
  bb.on('field', (name, value, nameTruncated, valueTruncated) => {
    if (stopped || !parser.field(name, nameTruncated, valueTruncated)) return
    parts.push(new StreamedPart(name, undefined, 'text/plain', value, null))
    notify()
  })
  bb.on('file', (field, stream, filename, _encoding, mimeType) => {
    if (stopped) {
      stream.resume()
      return
    }
    if (!parser.file(stream)) return
    stream.on('limit', () => {
      parser.tooLarge(`file "${filename}"`, limits.fileSize)
      // Its reader gets the error too, not a file cut short.
      ;(stream as unknown as { destroy (e: unknown): void }).destroy(failure)
    })
    parts.push(new StreamedPart(field, filename, mimeType, undefined, stream as unknown as FileSource))
    notify()
  })
  bb.on('finish', () => {
    finished = true
    notify()
  })
  // The body into busboy, one chunk at a time: its write callback waits while a file part is
  // not being read (its backpressure).
  const pump = async (): Promise<void> => {
    try {
      for await (const chunk of body) {
        if (failure !== null || stopped) return
        await new Promise<void>(resolve => bb.write(chunk, () => resolve()))
      }
      bb.end()
    } catch (err) {
      fail(err)
    }
  }
  let started = false
  async function * iterate (filesOnly: boolean): AsyncGenerator<FormPart, void, undefined> {
    if (!started) {
      started = true
      void pump()
    }
    let last: StreamedPart | null = null
    try {
      while (true) {
        if (failure !== null) throw failure
        const part = parts.shift()
        if (part !== undefined) {
          last?.skip()
          last = part
          if (part.value !== undefined) {
            addField(fields, part.name, part.value)
            if (filesOnly) continue
          }
          yield part
          continue
        }
        if (finished) return
        // Waiting for the next part: one left unread would hold busboy for ever.
        last?.skip()
        await new Promise<void>(resolve => { wake = resolve })
      }
    } finally {
      if (!finished) {
        // Broken out of (or failed): busboy is let go, so the pump sees `stopped` and ends.
        stopped = true
        last?.skip()
        for (const part of parts.splice(0)) part.skip()
      }
    }
  }
  return Promise.resolve({
    fields,
    files: { [Symbol.asyncIterator]: () => iterate(true) },
    [Symbol.asyncIterator]: () => iterate(false)
  })
}
