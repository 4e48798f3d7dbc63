// A string kept to be joined into many others (a head's fields, an access line's parts) is best
// one flat piece: V8 makes a joined string a rope, and a rope is walked again by every string
// made of it each time that string is flattened for a write.

/** `s`, flattened now: reading a character of a rope flattens it in place, so every string made
 * of it later copies it as one piece. */
export function flat (s: string): string {
  // Kept in a variable so that no compiler drops the read as unused.
  flattened += s.charCodeAt(0)
  return s
}

/** Exported only so that the reads in flat() have a use. */
export let flattened = 0
