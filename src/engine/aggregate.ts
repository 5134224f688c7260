/**
 * Query aggregations other than `count`: what one event contributes to a query's aggregate, and the
 * running aggregate of a group's window. Pure and deterministic (docs/detection.md, "Aggregations").
 *
 * - `cardinality`: the number of distinct values of the query's `distinctFields` among the window's
 *   events that match the query. An event contributes every value it holds (arrays fanned out); with
 *   several fields, every combination of their values counts as one value. Values are compared as
 *   text, as group-by values are (`"1"` and `1` are one value); a missing field, `null` and `""`
 *   contribute nothing.
 * - `sum` / `max`: the sum / the largest of the numbers found at the query's `metrics` fields among
 *   the window's events that match the query. Only JSON numbers between −(2^53−1) and 2^53−1 are
 *   used: a string (even `"42"`), a boolean, an object or a huge number is ignored. With no number in
 *   the window the aggregate is 0, as a count of nothing is.
 *
 * Sums are exact until the final rounding (partial sums without rounding error, then one correctly
 * rounded result), so a window's sum does not depend on the order in which events were added and
 * removed: restored and stepped engines give the same numbers as one pass.
 *
 * An event contributes at most MAX_VALUES_PER_EVENT values (the first found) per query, so a record
 * with a huge attacker-made array costs a bounded amount.
 */
import type { JsonObject, JsonValue } from '../core/types.js';
import { compileFieldPath } from '../query/field-access.js';
import type { RuleQuery } from '../rules/model.js';
import { groupByPath } from './group.js';

/** Values (or value combinations) one event contributes to one query, at most. */
export const MAX_VALUES_PER_EVENT = 1000;

/** The aggregations kept per window (count is the engine's own; new_value has its own history). */
export type WindowAggregation = 'cardinality' | 'sum' | 'max';

/**
 * What one event contributes to one query's aggregate: its distinct value keys (cardinality), its
 * sum or its largest number (sum, max), or null (nothing: a count query, or no usable value).
 */
export type AggregateInput = readonly string[] | number | null;

export interface QueryAggregator {
  readonly aggregation: WindowAggregation;
  /** The event's contribution. Never throws. */
  extract(fields: JsonObject): AggregateInput;
}

/** Text of one value, as group-by values are written; undefined for null and "" (missing). */
export function valueKey(value: JsonValue): string | undefined {
  if (value === null) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  return JSON.stringify(value);
}

function readSafely(read: (fields: JsonObject) => JsonValue[], fields: JsonObject): JsonValue[] {
  try {
    return read(fields);
  } catch {
    return [];
  }
}

/**
 * Compile once: the distinct keys of an event's values of `fields` (written as in the rule, `@a.b`
 * or `a.b`). One field: each value's text. Several: each combination of the fields' values, as a
 * JSON array of their texts; none when any field is missing. At most MAX_VALUES_PER_EVENT keys.
 */
export function compileValueKeys(fields: readonly string[]): (event: JsonObject) => string[] {
  const readers = fields.map((field) => compileFieldPath(groupByPath(field)));
  const keysOf = (event: JsonObject, read: (fields: JsonObject) => JsonValue[]): string[] => {
    const keys = new Set<string>();
    for (const value of readSafely(read, event)) {
      const key = valueKey(value);
      if (key === undefined) continue;
      keys.add(key);
      if (keys.size >= MAX_VALUES_PER_EVENT) break;
    }
    return [...keys];
  };
  const [only] = readers;
  if (readers.length === 1 && only) return (event) => keysOf(event, only);
  return (event) => {
    let combos: string[][] = [[]];
    for (const read of readers) {
      const keys = keysOf(event, read);
      if (keys.length === 0) return [];
      const next: string[][] = [];
      outer: for (const combo of combos) {
        for (const key of keys) {
          next.push([...combo, key]);
          if (next.length >= MAX_VALUES_PER_EVENT) break outer;
        }
      }
      combos = next;
    }
    return readers.length === 0 ? [] : [...new Set(combos.map((combo) => JSON.stringify(combo)))];
  };
}

/** A number `sum` and `max` use: a finite JSON number within the safe-integer magnitude. */
export function isUsableMetric(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER;
}

/** Compile once: the usable numbers of an event's `fields` (arrays fanned out), at most MAX_VALUES_PER_EVENT. */
export function compileMetricValues(fields: readonly string[]): (event: JsonObject) => number[] {
  const readers = fields.map((field) => compileFieldPath(groupByPath(field)));
  return (event) => {
    const numbers: number[] = [];
    for (const read of readers) {
      for (const value of readSafely(read, event)) {
        if (!isUsableMetric(value)) continue;
        numbers.push(value);
        if (numbers.length >= MAX_VALUES_PER_EVENT) return numbers;
      }
    }
    return numbers;
  };
}

/**
 * An exact running sum of doubles: non-overlapping partial sums that carry no rounding error, so
 * adding then removing a value leaves exactly the sum before, and `value()` is the exact sum
 * correctly rounded, whatever the order of the additions.
 */
export class ExactSum {
  /** Non-overlapping partials in increasing magnitude; their exact total is the sum. */
  private partials: number[] = [];

  add(value: number): void {
    let x = value;
    const p = this.partials;
    let kept = 0;
    for (const partial of p) {
      let y = partial;
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) p[kept++] = lo;
      x = hi;
    }
    p.length = kept;
    if (x !== 0 || kept === 0) p.push(x);
  }

  remove(value: number): void {
    this.add(-value);
  }

  /** The exact sum, rounded once to the nearest double (ties to even); 0 when empty. */
  value(): number {
    const p = this.partials;
    let n = p.length;
    if (n === 0) return 0;
    let hi = p[--n] ?? 0;
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = p[--n] ?? 0;
      hi = x + y;
      lo = y - (hi - x);
      if (lo !== 0) break;
    }
    // Round half to even correctly when the rest of the partials push past the halfway point.
    const next = n > 0 ? (p[n - 1] ?? 0) : 0;
    if (n > 0 && ((lo < 0 && next < 0) || (lo > 0 && next > 0))) {
      const y = lo * 2;
      const x = hi + y;
      if (y === x - hi) hi = x;
    }
    return hi === 0 ? 0 : hi;
  }
}

/** A multiset of numbers with its largest element: a max-heap with lazy removal, compacted as it goes. */
class MaxMultiset {
  private heap: number[] = [];
  private readonly removed = new Map<number, number>();
  private removedCount = 0;

  add(value: number): void {
    const heap = this.heap;
    heap.push(value);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const v = heap[i] ?? 0;
      const pv = heap[parent] ?? 0;
      if (pv >= v) break;
      heap[i] = pv;
      heap[parent] = v;
      i = parent;
    }
  }

  remove(value: number): void {
    this.removed.set(value, (this.removed.get(value) ?? 0) + 1);
    this.removedCount++;
    if (this.removedCount > 64 && this.removedCount * 2 > this.heap.length) this.compact();
  }

  /** The largest element, or 0 when empty. */
  value(): number {
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0] ?? 0;
      const pending = this.removed.get(top) ?? 0;
      if (pending === 0) return top === 0 ? 0 : top;
      if (pending === 1) this.removed.delete(top);
      else this.removed.set(top, pending - 1);
      this.removedCount--;
      this.popTop();
    }
    return 0;
  }

  private popTop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && (heap[left] ?? 0) > (heap[largest] ?? 0)) largest = left;
      if (right < heap.length && (heap[right] ?? 0) > (heap[largest] ?? 0)) largest = right;
      if (largest === i) return;
      const v = heap[i] ?? 0;
      heap[i] = heap[largest] ?? 0;
      heap[largest] = v;
      i = largest;
    }
  }

  private compact(): void {
    const live: number[] = [];
    for (const v of this.heap) {
      const pending = this.removed.get(v) ?? 0;
      if (pending > 0) {
        if (pending === 1) this.removed.delete(v);
        else this.removed.set(v, pending - 1);
      } else {
        live.push(v);
      }
    }
    this.removed.clear();
    this.removedCount = 0;
    this.heap = [];
    for (const v of live) this.add(v);
  }
}

interface AggregateState {
  add(input: AggregateInput): void;
  remove(input: AggregateInput): void;
  value(): number;
}

class CardinalityState implements AggregateState {
  private readonly counts = new Map<string, number>();

  add(input: AggregateInput): void {
    if (!Array.isArray(input)) return;
    for (const key of input as readonly string[]) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  remove(input: AggregateInput): void {
    if (!Array.isArray(input)) return;
    for (const key of input as readonly string[]) {
      const n = this.counts.get(key) ?? 0;
      if (n <= 1) this.counts.delete(key);
      else this.counts.set(key, n - 1);
    }
  }

  value(): number {
    return this.counts.size;
  }
}

class SumState implements AggregateState {
  private readonly sum = new ExactSum();

  add(input: AggregateInput): void {
    if (typeof input === 'number') this.sum.add(input);
  }

  remove(input: AggregateInput): void {
    if (typeof input === 'number') this.sum.remove(input);
  }

  value(): number {
    return this.sum.value();
  }
}

class MaxState implements AggregateState {
  private readonly values = new MaxMultiset();

  add(input: AggregateInput): void {
    if (typeof input === 'number') this.values.add(input);
  }

  remove(input: AggregateInput): void {
    if (typeof input === 'number') this.values.remove(input);
  }

  value(): number {
    return this.values.value();
  }
}

function newState(aggregation: WindowAggregation): AggregateState {
  if (aggregation === 'cardinality') return new CardinalityState();
  if (aggregation === 'sum') return new SumState();
  return new MaxState();
}

/** One query's aggregator, or null when the query counts events (count, new_value). */
export function compileQueryAggregator(query: RuleQuery): QueryAggregator | null {
  const aggregation = query.aggregation;
  if (aggregation === 'cardinality') {
    const keysOf = compileValueKeys(query.distinctFields);
    return { aggregation, extract: (fields) => keysOf(fields) };
  }
  if (aggregation === 'sum' || aggregation === 'max') {
    const numbersOf = compileMetricValues(query.metrics ?? []);
    const reduce =
      aggregation === 'sum'
        ? (numbers: readonly number[]): number => {
            const sum = new ExactSum();
            for (const n of numbers) sum.add(n);
            return sum.value();
          }
        : (numbers: readonly number[]): number => numbers.reduce((a, b) => (b > a ? b : a));
    return {
      aggregation,
      extract: (fields) => {
        const numbers = numbersOf(fields);
        return numbers.length === 0 ? null : reduce(numbers);
      },
    };
  }
  return null;
}

/** The aggregators of a rule's queries by position, or null when every query counts (nothing to keep). */
export function compileRuleAggregators(queries: readonly RuleQuery[]): readonly (QueryAggregator | null)[] | null {
  const aggregators = queries.map(compileQueryAggregator);
  return aggregators.some((a) => a !== null) ? aggregators : null;
}

/** What the event contributes to each matched query, by query position (null elsewhere). Never throws. */
export function extractInputs(aggregators: readonly (QueryAggregator | null)[], fields: JsonObject, queries: readonly number[]): AggregateInput[] {
  const inputs: AggregateInput[] = aggregators.map(() => null);
  for (const q of queries) {
    const aggregator = aggregators[q];
    if (!aggregator) continue;
    try {
      inputs[q] = aggregator.extract(fields);
    } catch {
      inputs[q] = null;
    }
  }
  return inputs;
}

/** The running aggregates of one group's window, one per query position (count positions hold nothing). */
export class WindowAggregates {
  private readonly states: readonly (AggregateState | null)[];

  constructor(aggregators: readonly (QueryAggregator | null)[]) {
    this.states = aggregators.map((a) => (a ? newState(a.aggregation) : null));
  }

  add(inputs: readonly AggregateInput[] | null): void {
    if (!inputs) return;
    this.states.forEach((state, q) => state?.add(inputs[q] ?? null));
  }

  remove(inputs: readonly AggregateInput[] | null): void {
    if (!inputs) return;
    this.states.forEach((state, q) => state?.remove(inputs[q] ?? null));
  }

  /** Per query position: the aggregate, or `counts[q]` for a count query. What case conditions compare. */
  valuesOver(counts: readonly number[]): number[] {
    return counts.map((count, q) => this.states[q]?.value() ?? count);
  }
}

/** The values over a set of window entries, computed afresh (the engine's path for late events). */
export function aggregateEntries(aggregators: readonly (QueryAggregator | null)[], entries: Iterable<readonly AggregateInput[] | null>, counts: readonly number[]): number[] {
  const window = new WindowAggregates(aggregators);
  for (const inputs of entries) window.add(inputs);
  return window.valuesOver(counts);
}

/** Inputs as plain JSON keyed by query name (only non-null ones), for engine snapshots. */
export function inputsToState(queryNames: readonly string[], inputs: readonly AggregateInput[] | null): Record<string, string[] | number> | undefined {
  if (!inputs) return undefined;
  const out: Record<string, string[] | number> = {};
  let isEmpty = true;
  inputs.forEach((input, q) => {
    const name = queryNames[q];
    if (input === null || name === undefined) return;
    // defineProperty semantics: a query named `__proto__` stays a plain key.
    Object.defineProperty(out, name, { value: typeof input === 'number' ? input : [...input], enumerable: true, writable: true, configurable: true });
    isEmpty = false;
  });
  return isEmpty ? undefined : out;
}

/** Inputs back from a snapshot, by the rule's query positions; values of the wrong shape are dropped. */
export function inputsFromState(queryPositions: ReadonlyMap<string, number>, queryCount: number, state: Readonly<Record<string, unknown>> | undefined): AggregateInput[] | null {
  if (!state) return null;
  const inputs: AggregateInput[] = Array.from({ length: queryCount }, () => null);
  for (const [name, value] of Object.entries(state)) {
    const q = queryPositions.get(name);
    if (q === undefined) continue;
    if (isUsableMetric(value)) inputs[q] = value;
    else if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) inputs[q] = value;
  }
  return inputs;
}
