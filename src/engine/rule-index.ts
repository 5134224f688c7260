/**
 * The rule index (Falco's event-type index): each rule is bucketed by the event names its queries
 * can match, so an event is only tested against the rules that can match its name, plus the
 * "unindexed" rules that run on every event.
 *
 * A query's names are `requiredValues(ast, 'evt.name') ∪ requiredValues(ast, 'eventName')`; when
 * both are unprovable (null) for ANY query of a rule, the rule is unindexed. An event is looked up
 * under every value of its `evt.name` and its `eventName`, so a query that constrains either field
 * is found through it: the index never hides a rule that could match.
 */
import type { CompiledRule } from '../rules/model.js';
import type { JsonObject, JsonValue } from '../core/types.js';
import { requiredValues } from '../query/analyse.js';
import { compileFieldPath } from '../query/field-access.js';
import type { CompiledQuery } from '../query/types.js';

/** The fields the index reads, as written after `@` in a query. */
export const INDEXED_FIELDS = ['evt.name', 'eventName'] as const;
const INDEXED_READERS = INDEXED_FIELDS.map((field) => compileFieldPath(field));

/**
 * The event names a query can match, or null when the analysis cannot prove a finite set (the
 * rule must then see every event). An analyser that throws counts as "not provable".
 */
export function queryEventNames(query: CompiledQuery): ReadonlySet<string> | null {
  const names = new Set<string>();
  let isProvable = false;
  for (const field of INDEXED_FIELDS) {
    let values: ReadonlySet<string> | null;
    try {
      values = requiredValues(query.ast, field);
    } catch {
      values = null;
    }
    if (values === null) continue;
    isProvable = true;
    for (const value of values) names.add(value);
  }
  return isProvable ? names : null;
}

/** The union of the event names of a rule's queries, or null when one query is not provable. */
export function ruleEventNames(queries: readonly CompiledQuery[]): ReadonlySet<string> | null {
  const names = new Set<string>();
  for (const query of queries) {
    const own = queryEventNames(query);
    if (own === null) return null;
    for (const name of own) names.add(name);
  }
  return names;
}

/** Names an event can be looked up under: every scalar value of its `evt.name` and `eventName`. */
export function eventNames(fields: JsonObject): string[] {
  const names: string[] = [];
  for (const read of INDEXED_READERS) {
    let values: readonly JsonValue[];
    try {
      values = read(fields);
    } catch {
      values = [];
    }
    for (const value of values) {
      const name = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
      if (name !== undefined && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

export interface RuleIndex<R> {
  /** The rules an event with these fields must be tested against, in the order the rules were given. */
  candidates(fields: JsonObject): readonly R[];
  /** Rules that could not be indexed and see every event. */
  readonly unindexed: readonly R[];
}

/**
 * Build the index over `rules` (already filtered to the enabled ones); `queriesOf` gives a rule's
 * compiled queries. Candidate lists are precomputed per name so the per-event path is one or two
 * Map lookups.
 */
export function buildRuleIndex<R>(rules: readonly R[], queriesOf: (rule: R) => readonly CompiledQuery[]): RuleIndex<R> {
  const unindexed: R[] = [];
  const positions = new Map<R, number>();
  const buckets = new Map<string, R[]>();
  rules.forEach((rule, position) => {
    positions.set(rule, position);
    const names = ruleEventNames(queriesOf(rule));
    if (names === null) {
      unindexed.push(rule);
      return;
    }
    for (const name of names) {
      const bucket = buckets.get(name);
      if (bucket) bucket.push(rule);
      else buckets.set(name, [rule]);
    }
  });
  const byPosition = (a: R, b: R): number => (positions.get(a) ?? 0) - (positions.get(b) ?? 0);
  // Each bucket already includes the unindexed rules, in rule order.
  const lists = new Map<string, readonly R[]>();
  for (const [name, bucket] of buckets) lists.set(name, [...bucket, ...unindexed].sort(byPosition));

  return {
    unindexed,
    candidates(fields: JsonObject): readonly R[] {
      const names = eventNames(fields);
      if (names.length === 0) return unindexed;
      if (names.length === 1) return lists.get(names[0] ?? '') ?? unindexed;
      const found = new Set<R>(unindexed);
      for (const name of names) for (const rule of lists.get(name) ?? []) found.add(rule);
      return [...found].sort(byPosition);
    },
  };
}

/** The rules an engine runs: the enabled ones, the first of each id; the others are counted as skipped. */
export function runnableRules(rules: readonly CompiledRule[], counters: { rulesSkippedAsDisabled: number; rulesSkippedAsDuplicateId: number }): CompiledRule[] {
  const runnable: CompiledRule[] = [];
  const ids = new Set<string>();
  for (const rule of rules) {
    if (!rule.isEnabled) {
      counters.rulesSkippedAsDisabled++;
    } else if (ids.has(rule.id)) {
      counters.rulesSkippedAsDuplicateId++;
    } else {
      ids.add(rule.id);
      runnable.push(rule);
    }
  }
  return runnable;
}

/**
 * Whether one of `queries` matches the fields. A query that throws counts as no match, after
 * `onError` (compiled queries do not throw; this keeps a bug in one from stopping a run).
 */
export function matchesAnyQuery(queries: readonly CompiledQuery[], fields: JsonObject, onError?: () => void): boolean {
  for (const query of queries) {
    try {
      if (query.matches(fields) === true) return true;
    } catch {
      onError?.();
    }
  }
  return false;
}
