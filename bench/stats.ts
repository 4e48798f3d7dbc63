// What the bench tools reduce their rounds with, once for all of them.

/** The median of the finite values of `xs` (the mean of the middle two for an even count); NaN
 * when there is none. */
export function median (xs: readonly number[]): number {
  const s = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
