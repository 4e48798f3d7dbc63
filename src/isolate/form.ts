// Forms: application/x-www-form-urlencoded and multipart/form-data, parsed in the isolate by
// @fastify/busboy from the body bytes the isolate already holds (bounded by maxBodySize). Files
// stream through busboy with their limits: a file over `fileSize`, or more files, fields or parts
// than allowed, is a 413 naming the limit.

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
  /** Most files. */
  files?: number
  /** Most text fields. */
  fields?: number
  /** Largest text field value, in bytes. Default 1 MiB. */
  fieldSize?: number
}

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
    let bb
    try {
      bb = new Busboy({ headers: { 'content-type': contentType }, limits: { ...limits } })
    } catch (err) {
      reject(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error).message}` }))
      return
    }
    bb.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) return tooLarge(`field "${name}"`, limits.fieldSize)
      const prev = fields[name]
      fields[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
    })
    bb.on('file', (field, stream, filename, _encoding, mimeType) => {
      const chunks: Buffer[] = []
      let size = 0
      stream.on('data', (chunk: Buffer) => { chunks.push(chunk); size += chunk.byteLength })
      stream.on('limit', () => tooLarge(`file "${filename}"`, limits.fileSize))
      stream.on('end', () => {
        if (!stream.truncated) files.push({ field, filename, mimeType, size, data: Buffer.concat(chunks, size) })
      })
    })
    bb.on('filesLimit', () => tooLarge('number of files', limits.files))
    bb.on('fieldsLimit', () => tooLarge('number of fields', limits.fields))
    bb.on('partsLimit', () => tooLarge('number of parts', undefined))
    bb.on('error', (err: unknown) => fail(new IsopoolError('ISOPOOL_ERR_BAD_REQUEST', { reason: `malformed form: ${(err as Error)?.message ?? String(err)}` })))
    bb.on('finish', () => { if (!failed) resolve({ fields, files }) })
    bb.end(body)
  })
}
