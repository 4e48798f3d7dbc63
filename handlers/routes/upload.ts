// A multipart upload: a title field and up to 5 files of at most 1 MiB each.
import { createHash } from 'node:crypto'
import { Type } from 'typebox'
import { route } from 'isopool/handler'

export const upload = route({
  method: 'POST',
  path: '/upload',
  summary: 'Upload files (multipart/form-data)',
  tags: ['files'],
  body: Type.Object({ title: Type.String({ minLength: 1 }) }),
  form: { fileSize: 1024 * 1024, files: 5 },
  // For the API document: the docs page offers a file picker for it.
  fileFields: { files: { multiple: true, description: 'Up to 5 files of at most 1 MiB each' } }
}, async (req) => {
  const { files } = await req.form()
  return {
    title: req.body.title,
    files: files.map(f => ({ name: f.filename, type: f.mimeType, size: f.size, sha256: createHash('sha256').update(f.data).digest('hex') }))
  }
})
