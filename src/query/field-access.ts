/**
 * How the matcher reads attribute values: the seam between a compiled query and an event.
 *
 * A path (`requestParameters.instancesSet.items.instanceId`, no `@`) is split at dots once, at
 * compile time. Reading it:
 * - fans out over arrays at every level, nested arrays included: the path above yields every
 *   `instanceId` of every item, and an array at the end of the path yields its elements;
 * - at each object, tries the longest run of the remaining segments joined by dots first, so a key
 *   that itself contains dots (`{"a.b": 1}`) is found by `a.b`; only own properties count
 *   (`constructor`, `__proto__` are never inherited values); runs are at most 16 segments long;
 * - skips `null` (Datadog treats a null attribute as absent); `{}` and `""` are present values;
 * - never recurses on the event, so deeply nested arrays cannot overflow the stack.
 */
import type { JsonObject, JsonValue } from '../core/types.js';

/** Longest run of path segments tried as one dotted key. */
const MAX_DOTTED_SEGMENTS = 16;

export interface FieldAccessor {
  /** The path as compiled (without `@`). */
  readonly path: string;
  /** Every present value of the field, arrays fanned out, in document order; [] when missing. */
  values(obj: JsonObject): JsonValue[];
  /** True when `test` holds for some present value; stops at the first. Allocates nothing unless an array is crossed. */
  some(obj: JsonObject, test: (value: JsonValue) => boolean): boolean;
}

/** The key to try at segment `i`, longest first, and the segment index it leads to. */
interface Candidates {
  readonly keys: readonly string[];
  readonly ends: readonly number[];
}

export function compileFieldAccessor(path: string): FieldAccessor {
  const segments = path.split('.');
  const n = segments.length;
  const candidates: Candidates[] = [];
  for (let i = 0; i < n; i++) {
    const keys: string[] = [];
    const ends: number[] = [];
    for (let j = Math.min(n, i + MAX_DOTTED_SEGMENTS); j > i; j--) {
      keys.push(segments.slice(i, j).join('.'));
      ends.push(j);
    }
    candidates.push({ keys, ends });
  }

  /** Index into `candidates[segment]` of the longest key `obj` owns, or -1. */
  const findKey = (obj: JsonObject, segment: number): number => {
    const keys = candidates[segment]?.keys ?? [];
    for (let k = 0; k < keys.length; k++) if (Object.hasOwn(obj, keys[k] ?? '')) return k;
    return -1;
  };

  /** Depth-first walk with an explicit stack from `start` at `segment`; stops when `onLeaf` returns true. */
  const walk = (start: JsonValue, segment: number, onLeaf: (value: JsonValue) => boolean): boolean => {
    const values: JsonValue[] = [start];
    const segs: number[] = [segment];
    while (values.length > 0) {
      const value = values.pop() ?? null;
      const seg = segs.pop() ?? n;
      if (value === null) continue;
      if (Array.isArray(value)) {
        for (let k = value.length - 1; k >= 0; k--) {
          values.push(value[k] ?? null);
          segs.push(seg);
        }
        continue;
      }
      if (seg === n) {
        if (onLeaf(value)) return true;
        continue;
      }
      if (typeof value !== 'object') continue;
      const found = findKey(value, seg);
      if (found < 0) continue;
      const entry = candidates[seg];
      values.push(value[entry?.keys[found] ?? ''] ?? null);
      segs.push(entry?.ends[found] ?? n);
    }
    return false;
  };

  return {
    path,
    values(obj) {
      const out: JsonValue[] = [];
      walk(obj, 0, (value) => {
        out.push(value);
        return false;
      });
      return out;
    },
    some(obj, test) {
      // Fast path: follow object keys without allocating until an array (or the leaf) is reached.
      let value: JsonValue = obj;
      let seg = 0;
      for (;;) {
        if (value === null) return false;
        if (Array.isArray(value)) return walk(value, seg, test);
        if (seg === n) return test(value);
        if (typeof value !== 'object') return false;
        const found = findKey(value, seg);
        if (found < 0) return false;
        const entry = candidates[seg];
        value = value[entry?.keys[found] ?? ''] ?? null;
        seg = entry?.ends[found] ?? n;
      }
    },
  };
}

/** A reader for one path: every present value, arrays fanned out at every level; missing → []. */
export function compileFieldPath(path: string): (obj: JsonObject) => JsonValue[] {
  const accessor = compileFieldAccessor(path);
  return (obj) => accessor.values(obj);
}

/** Uncached convenience: `compileFieldPath(path)(obj)`. */
export function getFieldValues(obj: JsonObject, path: string): JsonValue[] {
  return compileFieldAccessor(path).values(obj);
}

/**
 * True when `test` holds for some scalar (string, number, boolean) anywhere in the value, at any
 * depth, keys excluded. Used by free-text search. Iterative: any nesting depth is safe.
 */
export function someScalar(root: JsonValue, test: (value: string | number | boolean) => boolean): boolean {
  const stack: JsonValue[] = [root];
  while (stack.length > 0) {
    const value = stack.pop() ?? null;
    if (value === null) continue;
    if (typeof value !== 'object') {
      if (test(value)) return true;
      continue;
    }
    if (Array.isArray(value)) {
      for (let k = value.length - 1; k >= 0; k--) stack.push(value[k] ?? null);
      continue;
    }
    const keys = Object.keys(value);
    for (let k = keys.length - 1; k >= 0; k--) stack.push(value[keys[k] ?? ''] ?? null);
  }
  return false;
}
