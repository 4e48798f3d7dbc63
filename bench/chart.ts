// The SVG chart of bench/run.ts: one panel per scenario, requests/s against pool size. isopool is
// drawn as a line over its pool sizes; every peer is a dashed horizontal reference line at its
// median requests/s, labelled with its name (cluster-2, fastify-piscina-2 carry their size), and
// so is every target of the services run (isopool-1:cors), in its family's services colour.
// Plain SVG text, no dependencies.

export interface ChartPoint {
  scenario: string
  target: string
  family: string
  size: number | null
  rps: number
  /** No clean round: drawn, but marked "ERR". */
  err: boolean
}

const COLORS: Record<string, string> = {
  isopool: '#d62728',
  'node-http': '#7f7f7f',
  fastify: '#1f77b4',
  'fastify-piscina': '#2ca02c',
  cluster: '#9467bd',
  // The services run's targets (isopool-1:cors, fastify:all): reference lines, like the peers.
  'isopool+services': '#ff7f0e',
  'fastify+services': '#17becf'
}

const PANEL_W = 460
const PANEL_H = 280
const M = { left: 62, right: 150, top: 34, bottom: 40 }

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function niceMax (v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function k (n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0)
}

function panel (points: ChartPoint[], scenario: string, x0: number, y0: number): string {
  const out: string[] = []
  const w = PANEL_W - M.left - M.right
  const h = PANEL_H - M.top - M.bottom
  const valid = points.filter(p => Number.isFinite(p.rps))
  const iso = valid.filter(p => p.family === 'isopool' && p.size !== null).sort((a, b) => a.size! - b.size!)
  const peers = valid.filter(p => p.family !== 'isopool').sort((a, b) => b.rps - a.rps)
  const sizes = [...new Set(iso.map(p => p.size!))]
  if (sizes.length === 0) sizes.push(1)
  const ymax = niceMax(Math.max(1, ...valid.map(p => p.rps)) * 1.08)
  const X = (size: number): number => sizes.length === 1 ? w / 2 : (sizes.indexOf(size) / (sizes.length - 1)) * w
  const Y = (v: number): number => Math.round((h - (v / ymax) * h) * 10) / 10
  out.push(`<g transform="translate(${x0 + M.left},${y0 + M.top})">`)
  out.push(`<text x="${w / 2}" y="-14" text-anchor="middle" font-weight="bold">${esc(scenario)}</text>`)
  // grid and y axis
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4
    out.push(`<line x1="0" x2="${w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="-6" y="${Y(v) + 4}" text-anchor="end" fill="#555">${k(v)}</text>`)
  }
  out.push(`<line x1="0" x2="0" y1="0" y2="${h}" stroke="#333"/><line x1="0" x2="${w}" y1="${h}" y2="${h}" stroke="#333"/>`)
  for (const s of sizes) {
    out.push(`<text x="${X(s)}" y="${h + 16}" text-anchor="middle" fill="#555">${s}</text>`)
  }
  out.push(`<text x="${w / 2}" y="${h + 32}" text-anchor="middle" fill="#555">isolates (pool size)</text>`)
  out.push(`<text transform="translate(-48,${h / 2}) rotate(-90)" text-anchor="middle" fill="#555">req/s</text>`)
  // peers: reference lines, labels pushed apart so they stay readable
  let lastLabelY = -Infinity
  for (const p of peers) {
    const color = COLORS[p.family] ?? '#000'
    const y = Y(p.rps)
    out.push(`<line x1="0" x2="${w}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>`)
    const ly = Math.max(y + 4, lastLabelY + 12)
    lastLabelY = ly
    out.push(`<text x="${w + 6}" y="${ly}" fill="${color}">${esc(p.target)} ${k(p.rps)}${p.err ? ' ERR' : ''}</text>`)
  }
  // isopool: the line over pool sizes
  if (iso.length > 0) {
    const color = COLORS.isopool
    if (iso.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${iso.map(p => `${X(p.size!)},${Y(p.rps)}`).join(' ')}"/>`)
    for (const p of iso) {
      out.push(`<circle cx="${X(p.size!)}" cy="${Y(p.rps)}" r="4" fill="${color}"/>`)
      out.push(`<text x="${X(p.size!)}" y="${Y(p.rps) - 8}" text-anchor="middle" fill="${color}" font-weight="bold">${k(p.rps)}${p.err ? ' ERR' : ''}</text>`)
    }
  }
  out.push('</g>')
  return out.join('\n')
}

/** The whole chart: panels two per row, a title and a legend. */
export function chartSvg (points: ChartPoint[], scenarios: string[], title: string): string {
  const cols = Math.min(2, scenarios.length)
  const rows = Math.ceil(scenarios.length / cols)
  const width = cols * PANEL_W
  const height = rows * PANEL_H + 56
  const body = scenarios.map((s, i) => panel(points.filter(p => p.scenario === s), s, (i % cols) * PANEL_W, 40 + Math.floor(i / cols) * PANEL_H))
  const legend = Object.entries(COLORS).map(([family, color], i) =>
    `<g transform="translate(${12 + i * 130},${height - 10})"><line x1="0" x2="22" y1="-4" y2="-4" stroke="${color}" stroke-width="2.5"${family === 'isopool' ? '' : ' stroke-dasharray="6 4"'}/><text x="28" y="0">${family}</text></g>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" font-size="13" font-weight="bold">${esc(title)}</text>
${body.join('\n')}
${legend.join('\n')}
</svg>
`
}
