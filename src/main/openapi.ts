// The OpenAPI 3.1 document, built once from the route table (the given routes and the route()
// declarations the isolates reported), and the Swagger UI page that loads it. Both are served by
// the main thread; Swagger UI's files come from the swagger-ui-dist package, never the network.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FileField, ManifestRoute } from '../shared/protocol.ts'

export interface DocRoute {
  method: string
  path: string
  module: string
  export: string
  manifest?: ManifestRoute
}

type Schema = { type?: string, properties?: Record<string, Schema>, required?: string[], description?: string }

/** `/users/:id/*` → `/users/{id}/{wildcard}` */
function openApiPath (path: string): string {
  return path.split('/').map(seg => seg === '*' ? '{wildcard}' : seg.startsWith(':') ? `{${seg.slice(1)}}` : seg).join('/')
}

function parameters (where: 'path' | 'query' | 'header' | 'cookie', schema: unknown): unknown[] {
  const s = schema as Schema | undefined
  if (s?.properties === undefined) return []
  return Object.entries(s.properties).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
    ...(prop.description === undefined ? {} : { description: prop.description })
  }))
}

export function buildOpenApi (routes: DocRoute[], info: { title: string, version: string }): object {
  const paths: Record<string, Record<string, unknown>> = {}
  // The auth helpers' schemes (jwt(), apiKey(), …), named as the routes that depend on them say.
  const securitySchemes: Record<string, unknown> = {}
  for (const r of routes) {
    if (r.method === 'HEAD' || r.method === 'OPTIONS') continue
    const m = r.manifest
    const s = m?.schemas ?? {}
    const params = r.path.split('/').filter(seg => seg.startsWith(':') || seg === '*').map(seg => seg === '*' ? 'wildcard' : seg.slice(1))
    const pathParams = s.params !== undefined
      ? parameters('path', s.params)
      : params.map(name => ({ name, in: 'path', required: true, schema: { type: 'string' } }))
    const responses: Record<string, unknown> = {}
    for (const [status, schema] of Object.entries(s.response ?? {})) {
      responses[status] = { description: `${status} response`, content: { 'application/json': { schema } } }
    }
    if (Object.keys(responses).length === 0) responses.default = { description: 'The handler\'s response' }
    if (s.params !== undefined || s.query !== undefined || s.headers !== undefined || s.cookies !== undefined || s.body !== undefined) {
      responses['422'] = { description: 'The request does not match the schema (ISOPOOL_ERR_VALIDATION)' }
    }
    const body = m === undefined ? undefined : requestBody(m)
    if (body !== undefined) responses['415'] = { description: 'The body\'s Content-Type is not one the route takes (ISOPOOL_ERR_UNSUPPORTED_MEDIA_TYPE)' }
    const operation: Record<string, unknown> = {
      operationId: r.export === 'default' ? `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z0-9]+/g, '_')}` : r.export,
      parameters: [...pathParams, ...parameters('query', s.query), ...parameters('header', s.headers), ...parameters('cookie', s.cookies)],
      responses
    }
    if (m?.summary !== undefined) operation.summary = m.summary
    if (m?.description !== undefined) operation.description = m.description
    if (m?.tags !== undefined) operation.tags = m.tags
    if (m?.security !== undefined) {
      // One requirement naming every scheme: each helper answers 401 unless its check passes.
      operation.security = [Object.fromEntries(Object.keys(m.security).map(name => [name, []]))]
      Object.assign(securitySchemes, m.security)
      responses['401'] = { description: 'Missing or invalid credentials (ISOPOOL_ERR_UNAUTHORIZED)' }
    }
    if (body !== undefined) operation.requestBody = body
    ;(paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation
  }
  return { openapi: '3.1.0', info, paths, ...(Object.keys(securitySchemes).length === 0 ? {} : { components: { securitySchemes } }) }
}

/**
 * The request body of a typed route, in each media type it takes: the body schema as JSON and
 * MessagePack; for a form route, its text fields urlencoded, and with its file fields
 * (`format: binary`, which Swagger UI offers a file picker for) as multipart/form-data.
 */
function requestBody (m: ManifestRoute): object | undefined {
  const schema = m.schemas.body as Schema | undefined
  const types = m.bodyTypes ?? (schema === undefined ? [] : ['application/json'])
  if (types.length === 0) return undefined
  const content: Record<string, { schema: unknown }> = {}
  for (const type of types) content[type] = { schema: type === 'multipart/form-data' ? withFiles(schema, m.fileFields) : schema ?? { type: 'object' } }
  return { required: true, content }
}

function withFiles (schema: Schema | undefined, files: Record<string, FileField> | undefined): unknown {
  if (files === undefined || Object.keys(files).length === 0) return schema ?? { type: 'object' }
  const properties: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(files)) {
    const file = { type: 'string', format: 'binary' }
    properties[name] = { ...(f.multiple === true ? { type: 'array', items: file } : file), ...(f.description === undefined ? {} : { description: f.description }) }
  }
  if (schema === undefined) return { type: 'object', properties }
  // An object schema gains the file fields beside its text fields; any other is joined by allOf.
  if (schema.type === 'object') return { ...schema, properties: { ...schema.properties, ...properties } }
  return { allOf: [schema, { type: 'object', properties }] }
}

/** Text for HTML content and attribute values. */
function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

/** Swagger UI's static files, read once, and a page titled `title` that points it at `specPath`. */
export function docsAssets (uiPath: string, specPath: string, title = 'API docs'): Map<string, { type: string, body: Buffer }> {
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
  const file = (name: string, type: string): { type: string, body: Buffer } => ({ type, body: readFileSync(join(dist, name)) })
  const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)}</title>
  <link rel="stylesheet" href="${uiPath}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${uiPath}/swagger-ui-bundle.js"></script>
  <script>window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specPath)}, dom_id: '#swagger-ui' })</script>
</body>
</html>
`
  return new Map([
    [uiPath, { type: 'text/html; charset=utf-8', body: Buffer.from(page) }],
    [`${uiPath}/swagger-ui.css`, file('swagger-ui.css', 'text/css; charset=utf-8')],
    [`${uiPath}/swagger-ui-bundle.js`, file('swagger-ui-bundle.js', 'text/javascript; charset=utf-8')]
  ])
}
