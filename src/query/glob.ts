/**
 * Wildcard patterns (`*` any run of characters, `?` exactly one UTF-16 code unit) matched without
 * regular expressions and without backtracking.
 *
 * A pattern is split at its stars into segments. The first segment must match at the start, the
 * last at the end, and every middle segment is found at its leftmost position after the previous
 * one. Leftmost-first is optimal for star-separated segments, so there is never a reason to go back:
 * the work is bounded by (subject length × longest segment), with no exponential blow-up whatever
 * the pattern (`*a*a*a*a*b` against a megabyte of `a` is one pass).
 */

export type GlobPart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'one' };

export type GlobPattern = readonly GlobPart[];

export type GlobMatcher = (subject: string) => boolean;

const STAR: GlobPart = { kind: 'star' };
const ONE: GlobPart = { kind: 'one' };

/** Merges adjacent literals, drops empty ones and collapses runs of stars. */
export function normaliseGlob(parts: GlobPattern): GlobPart[] {
  const out: GlobPart[] = [];
  for (const part of parts) {
    const last = out[out.length - 1];
    if (part.kind === 'literal') {
      if (part.text === '') continue;
      if (last?.kind === 'literal') out[out.length - 1] = { kind: 'literal', text: last.text + part.text };
      else out.push(part);
    } else if (part.kind === 'star') {
      if (last?.kind !== 'star') out.push(STAR);
    } else {
      out.push(ONE);
    }
  }
  return out;
}

/** A pattern from text where every `*` and `?` is a wildcard (no escapes). */
export function globFromText(text: string): GlobPart[] {
  const parts: GlobPart[] = [];
  let literalStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '*' || c === '?') {
      if (i > literalStart) parts.push({ kind: 'literal', text: text.slice(literalStart, i) });
      parts.push(c === '*' ? STAR : ONE);
      literalStart = i + 1;
    }
  }
  if (literalStart < text.length) parts.push({ kind: 'literal', text: text.slice(literalStart) });
  return normaliseGlob(parts);
}

/** A pattern that matches exactly `text`. */
export function globLiteral(text: string): GlobPart[] {
  return text === '' ? [] : [{ kind: 'literal', text }];
}

export function hasWildcard(parts: GlobPattern): boolean {
  return parts.some((p) => p.kind !== 'literal');
}

/** True when the pattern is one or more stars and nothing else (matches any value). */
export function isOnlyStars(parts: GlobPattern): boolean {
  return parts.length > 0 && parts.every((p) => p.kind === 'star');
}

/** The text the pattern matches exactly, or null when it has wildcards. */
export function literalOf(parts: GlobPattern): string | null {
  let text = '';
  for (const part of parts) {
    if (part.kind !== 'literal') return null;
    text += part.text;
  }
  return text;
}

/** The literal runs of the pattern, in order (each must appear in any matching subject). */
export function literalRuns(parts: GlobPattern): string[] {
  return normaliseGlob(parts).flatMap((p) => (p.kind === 'literal' ? [p.text] : []));
}

export function lowerGlob(parts: GlobPattern): GlobPart[] {
  return parts.map((p) => (p.kind === 'literal' ? { kind: 'literal', text: p.text.toLowerCase() } : p));
}

/** The pattern in query syntax, wildcards bare and special characters escaped. */
export function renderGlob(parts: GlobPattern, escapeLiteral: (text: string) => string): string {
  return parts.map((p) => (p.kind === 'literal' ? escapeLiteral(p.text) : p.kind === 'star' ? '*' : '?')).join('');
}

/** A star-free piece of a pattern: literal text where `?` positions are marked in `ones`. */
interface Segment {
  readonly length: number;
  /** The segment with every `?` position holding a placeholder. */
  readonly text: string;
  /** Positions (relative to the segment) that match any one code unit; empty for pure literals. */
  readonly ones: readonly number[];
  /** The longest literal run of the segment and its offset: what `indexOf` searches for. */
  readonly anchor: string;
  readonly anchorOffset: number;
}

function buildSegment(parts: readonly GlobPart[]): Segment {
  let text = '';
  const ones: number[] = [];
  let anchor = '';
  let anchorOffset = 0;
  for (const part of parts) {
    if (part.kind === 'literal') {
      if (part.text.length > anchor.length) {
        anchor = part.text;
        anchorOffset = text.length;
      }
      text += part.text;
    } else {
      ones.push(text.length);
      text += '?';
    }
  }
  return { length: text.length, text, ones, anchor, anchorOffset };
}

/** Does `segment` match `subject` starting at `at`? The caller guarantees it fits. */
function matchesAt(segment: Segment, subject: string, at: number): boolean {
  if (segment.ones.length === 0) return subject.startsWith(segment.text, at);
  let one = 0;
  const ones = segment.ones;
  for (let k = 0; k < segment.length; k++) {
    if (one < ones.length && ones[one] === k) {
      one++;
      continue;
    }
    if (subject.charCodeAt(at + k) !== segment.text.charCodeAt(k)) return false;
  }
  return true;
}

/** Leftmost `i` in [from, limit - length] where the segment matches, or -1. */
function findSegment(segment: Segment, subject: string, from: number, limit: number): number {
  const last = limit - segment.length;
  if (from > last) return -1;
  if (segment.anchor === '') return from; // only `?`s (or empty): any position fits
  let search = from + segment.anchorOffset;
  for (;;) {
    const hit = subject.indexOf(segment.anchor, search);
    if (hit < 0) return -1;
    const start = hit - segment.anchorOffset;
    if (start > last) return -1;
    if (matchesAt(segment, subject, start)) return start;
    search = hit + 1;
  }
}

/** Compiles a pattern to a matcher. Case-sensitive; lower-case both sides for insensitive matching. */
export function compileGlob(parts: GlobPattern): GlobMatcher {
  const normal = normaliseGlob(parts);
  const segments: Segment[] = [];
  let current: GlobPart[] = [];
  for (const part of normal) {
    if (part.kind === 'star') {
      segments.push(buildSegment(current));
      current = [];
    } else {
      current.push(part);
    }
  }
  segments.push(buildSegment(current));

  const only = segments[0];
  if (segments.length === 1 && only) {
    if (only.ones.length === 0) {
      const text = only.text;
      return (subject) => subject === text;
    }
    return (subject) => subject.length === only.length && matchesAt(only, subject, 0);
  }

  const first = segments[0];
  const lastSegment = segments[segments.length - 1];
  if (!first || !lastSegment) return () => false; // unreachable: a star gives two segments
  const middle = segments.slice(1, -1).filter((s) => s.length > 0);
  const minLength = first.length + lastSegment.length + middle.reduce((n, s) => n + s.length, 0);

  return (subject) => {
    if (subject.length < minLength) return false;
    if (!matchesAt(first, subject, 0)) return false;
    const limit = subject.length - lastSegment.length;
    if (!matchesAt(lastSegment, subject, limit)) return false;
    let position = first.length;
    for (const segment of middle) {
      const at = findSegment(segment, subject, position, limit);
      if (at < 0) return false;
      position = at + segment.length;
    }
    return true;
  };
}
