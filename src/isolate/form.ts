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

export function parseForm (contentType: string | undefined, body: Uint8Array, limits: FormLimits = {}): Promise<Form> {
  if (contentType === undefined || !FORM_TYPE.test(contentType)) {
    return Promise.reject(new IsopoolError('ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE', { type: contentType ?? '(none)', expected: 'multipart/form-data or application/x-www-form-urlencoded' }))
  }
  return new Promise((resolve, reject) => {
    const fields: Record<string, string | string[]> = Object.create(null)
    const files: FormFile[] = []
    let failed = false
    const fail = (err: unknown): void => {
      if (failed) return
      failed = true
      reject(err)
    }
    const tooLarge = (what: string, limit: number | undefined): void =>
      fail(new IsopoolError('ISOPOOL_ERR_FORM_LIMIT', { what, limit: limit ?? 'the limit' }))
    const bounds = { ...DEFAULT_FORM_LIMITS, ...limits }
    let count = 0
    let bb
    try {
      // The counts are checked here, one past the limit: busboy's urlencoded parser stops at its
      // fields limit without a word when the whole body comes in one write, as it does here. A
      // multipart part is a field or a file: as many parts as both limits allow together.
      bb = new Busboy({ headers: { 'content-type': contentType }, limits: { ...bounds, fields: bounds.fields + 1, files: bounds.files + 1, parts: bounds.fields + bounds.files + 2 } })
    } catch (err) {
      reject(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error).message}` }))
      return
    }
    bb.on('field', (name, value, nameTruncated, valueTruncated) => {
      if (++count > bounds.fields) return tooLarge('number of fields', bounds.fields)
      // A truncated name would be another field's name: refuse it, as a value too long is.
      if (nameTruncated) return tooLarge(`name of field "${name}…"`, bounds.fieldNameSize)
      if (valueTruncated) return tooLarge(`field "${name}"`, limits.fieldSize)
      const prev = fields[name]
      if (prev === undefined) fields[name] = value
      else if (Array.isArray(prev)) prev.push(value)
      else fields[name] = [prev, value]
    })
    let fileCount = 0
    bb.on('file', (field, stream, filename, _encoding, mimeType) => {
      if (++fileCount > bounds.files) {
        stream.resume()
        return tooLarge('number of files', bounds.files)
      }
      const chunks: Buffer[] = []
      let size = 0
      stream.on('data', (chunk: Buffer) => { chunks.push(chunk); size += chunk.byteLength })
      stream.on('limit', () => tooLarge(`file "${filename}"`, limits.fileSize))
      stream.on('end', () => {
        if (!stream.truncated) files.push({ field, filename, mimeType, size, data: Buffer.concat(chunks, size) })
      })
    })
    bb.on('filesLimit', () => tooLarge('number of files', bounds.files))
    bb.on('fieldsLimit', () => tooLarge('number of fields', bounds.fields))
    bb.on('partsLimit', () => tooLarge('number of parts', bounds.fields + bounds.files))
    bb.on('error', (err: unknown) => fail(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error)?.message ?? String(err)}` })))
    bb.on('finish', () => { if (!failed) resolve({ fields, files }) })
    bb.end(body)
  })
}
