/**
 * The new value detection method (`detectionMethod: new_value`): which values of a query's `metrics`
 * fields a group has already shown, and whether an event brings one it has not. Pure and
 * deterministic: time is event time, and the history is plain JSON (`NewValueHistory`) that outlives
 * a scan when the caller saves it (`trailhound scan --state DIR`). docs/detection.md, "New value",
 * says the same for users.
 *
 * Per rule, in evaluation order (time, key), for an event of group G matching query q:
 * - The event's values of q are the combinations of its `metrics` fields' values, as text (see
 *   `compileValueKeys`: arrays fanned out, `null` and `""` missing). An event with no value for any
 *   of its queries changes nothing and raises nothing.
 * - Learning. `learningMethod: duration` (the default): the rule's learning period starts at the
 *   first event with a value the rule evaluates (kept in the history, so a later scan continues it) and lasts
 *   `learningDuration` days: an event at `t` learns when `t − start < learningDuration` days. With
 *   `learningDuration: 0` only the rule's very first event learns ("a signal for every new value
 *   after the first value is learned"). `learningMethod: threshold`: no period; the first
 *   `learningThreshold` events (0 or 1) of EACH GROUP learn. A learning event records its values and
 *   raises nothing.
 * - After learning, a value is NEW for G when G never showed it, or last showed it more than
 *   `forgetAfter` days before the event (exactly `forgetAfter` days: still known). Every value is
 *   then recorded with the event's time (the latest sighting counts).
 * - Forgetting. Values last seen more than `forgetAfter` days before both the watermark and the
 *   rule's latest event are dropped (`prune`): no later event could find them known.
 *
 * The history of a rule is kept with a fingerprint of what its values mean (group-by fields, query
 * names and their metrics); a rule whose fingerprint changed starts afresh. Histories of rules not
 * given (another rule set scanned with the same state) are kept unchanged.
 */
import { z } from 'zod';
import { stableHash } from '../core/hash.js';
import { fail, ok } from '../core/types.js';
import type { Diagnostic, JsonObject, Result } from '../core/types.js';
import type { CompiledRule, NewValueOptions } from '../rules/model.js';
import { compileValueKeys } from './aggregate.js';
import { groupKeyOf } from './group.js';

export const NEW_VALUE_HISTORY_VERSION = 1;
export const NEW_VALUE_HISTORY_ERROR = 'E_NEW_VALUE_HISTORY';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

/** One value a group showed: [query name, value text, last seen (epoch ms)]. */
export type NewValueSighting = readonly [string, string, number];

export interface NewValueGroupHistory {
  readonly groupValues: readonly string[];
  /**
   * Events of the group that had a value, counted only up to `learningThreshold` (what
   * `learningMethod: threshold` needs; always 0 with the duration method), so that the history does
   * not depend on when it was pruned.
   */
  readonly occurrences: number;
  readonly values: readonly NewValueSighting[];
}

export interface NewValueRuleHistory {
  readonly ruleId: string;
  /** What the rule's values mean; a different fingerprint means the history no longer applies. */
  readonly fingerprint: string;
  /** Time of the rule's first evaluated event: the start of its learning period. */
  readonly learningStartMs: number | null;
  /** Time of the rule's latest evaluated event. */
  readonly latestMs: number | null;
  readonly groups: readonly NewValueGroupHistory[];
}

/** Every new_value rule's history; plain JSON, in a stable order. */
export interface NewValueHistory {
  readonly version: typeof NEW_VALUE_HISTORY_VERSION;
  readonly rules: readonly NewValueRuleHistory[];
}

export function emptyNewValueHistory(): NewValueHistory {
  return { version: NEW_VALUE_HISTORY_VERSION, rules: [] };
}

const time = z.number().finite();
/** The zod schema of a `NewValueHistory` (also used inside engine snapshots, state.ts). */
export const newValueHistorySchema = z.object({
  version: z.literal(NEW_VALUE_HISTORY_VERSION),
  rules: z.array(
    z.object({
      ruleId: z.string(),
      fingerprint: z.string(),
      learningStartMs: time.nullable(),
      latestMs: time.nullable(),
      groups: z.array(
        z.object({
          groupValues: z.array(z.string()),
          occurrences: z.number().int().nonnegative(),
          values: z.array(z.tuple([z.string(), z.string(), time])),
        }),
      ),
    }),
  ),
});

/** Check a history that comes from outside the process (a state file) before using it. */
export function parseNewValueHistory(value: unknown): Result<NewValueHistory> {
  const parsed = newValueHistorySchema.safeParse(value);
  if (parsed.success) {
    const history: NewValueHistory = parsed.data;
    return ok(history);
  }
  const diagnostics: Diagnostic[] = parsed.error.issues.slice(0, 20).map((issue) => ({
    code: NEW_VALUE_HISTORY_ERROR,
    severity: 'error',
    message: issue.message,
    path: issue.path.map(String).join('.'),
    hint: 'The saved new-value history is damaged or from another version: delete it to start learning afresh.',
  }));
  return fail(diagnostics);
}

/** A new_value rule compiled for the tracker. */
export interface NewValueRule {
  readonly ruleId: string;
  readonly fingerprint: string;
  readonly options: NewValueOptions;
  /** By query position: the query's name and its value keys of an event. */
  readonly queries: readonly { readonly name: string; readonly keysOf: (fields: JsonObject) => string[] }[];
}

export const DEFAULT_NEW_VALUE_OPTIONS: NewValueOptions = { learningDuration: 0, forgetAfter: 28, learningMethod: 'duration', learningThreshold: 0 };

/** The rule's new-value runtime, or null when the rule does not use the new_value method. */
export function compileNewValueRule(rule: CompiledRule): NewValueRule | null {
  if (rule.options.detectionMethod !== 'new_value') return null;
  const fingerprint = stableHash(JSON.stringify([rule.groupByFields, rule.queries.map((q) => [q.name, q.metrics ?? []])]));
  return {
    ruleId: rule.id,
    fingerprint,
    options: rule.options.newValueOptions ?? DEFAULT_NEW_VALUE_OPTIONS,
    queries: rule.queries.map((q) => ({ name: q.name, keysOf: compileValueKeys(q.metrics ?? []) })),
  };
}

interface GroupState {
  readonly groupValues: readonly string[];
  occurrences: number;
  /** Per query name: value text → last seen. */
  readonly values: Map<string, Map<string, number>>;
}

interface RuleState {
  fingerprint: string;
  learningStartMs: number | null;
  latestMs: number | null;
  readonly groups: Map<string, GroupState>;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function ruleStateFrom(history: NewValueRuleHistory): RuleState {
  const groups = new Map<string, GroupState>();
  for (const g of history.groups) {
    const values = new Map<string, Map<string, number>>();
    for (const [query, key, lastSeen] of g.values) {
      let byKey = values.get(query);
      if (!byKey) values.set(query, (byKey = new Map<string, number>()));
      byKey.set(key, Math.max(byKey.get(key) ?? -Infinity, lastSeen));
    }
    groups.set(groupKeyOf(g.groupValues), { groupValues: [...g.groupValues], occurrences: g.occurrences, values });
  }
  return { fingerprint: history.fingerprint, learningStartMs: history.learningStartMs, latestMs: history.latestMs, groups };
}

function historyOf(ruleId: string, state: RuleState): NewValueRuleHistory {
  const groups = [...state.groups.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([, g]): NewValueGroupHistory => {
      const values: NewValueSighting[] = [];
      for (const [query, byKey] of g.values) for (const [key, lastSeen] of byKey) values.push([query, key, lastSeen]);
      values.sort((a, b) => compareText(a[0], b[0]) || compareText(a[1], b[1]));
      return { groupValues: [...g.groupValues], occurrences: g.occurrences, values };
    });
  return { ruleId, fingerprint: state.fingerprint, learningStartMs: state.learningStartMs, latestMs: state.latestMs, groups };
}

/** The values every new_value rule has seen, per group; see the module comment for the semantics. */
export class NewValueTracker {
  private readonly compiled: readonly NewValueRule[];
  private readonly rules = new Map<string, { readonly rule: NewValueRule; readonly state: RuleState }>();
  /** Histories of rules this tracker does not run: kept as they came. */
  private readonly others = new Map<string, NewValueRuleHistory>();
  /** Watermark of the last `prune` that did the work (it is cheap to skip, never wrong to run). */
  private prunedAt = -Infinity;

  constructor(rules: readonly NewValueRule[], history?: NewValueHistory) {
    this.compiled = rules;
    this.load(history ?? emptyNewValueHistory());
  }

  /** Replace everything learned by `history` (rules whose fingerprint changed start afresh). */
  load(history: NewValueHistory): void {
    this.rules.clear();
    this.others.clear();
    this.prunedAt = -Infinity;
    const saved = new Map(history.rules.map((r) => [r.ruleId, r]));
    for (const rule of this.compiled) {
      const previous = saved.get(rule.ruleId);
      const state = previous && previous.fingerprint === rule.fingerprint ? ruleStateFrom(previous) : { fingerprint: rule.fingerprint, learningStartMs: null, latestMs: null, groups: new Map<string, GroupState>() };
      this.rules.set(rule.ruleId, { rule, state });
    }
    for (const [id, r] of saved) if (!this.rules.has(id)) this.others.set(id, r);
  }

  /**
   * Record the event's values for `queries` (positions of the rule's queries it matched) in its
   * group, and return the positions whose value was new after learning (empty: nothing to signal).
   */
  observe(rule: NewValueRule, groupValues: readonly string[], fields: JsonObject, queries: readonly number[], timeMs: number): number[] {
    const entry = this.rules.get(rule.ruleId);
    if (!entry) return [];
    const { state } = entry;
    const { options } = rule;
    if (state.latestMs === null || timeMs > state.latestMs) state.latestMs = timeMs;

    const keysByQuery: { readonly q: number; readonly name: string; readonly keys: readonly string[] }[] = [];
    for (const q of queries) {
      const query = rule.queries[q];
      if (!query) continue;
      let keys: string[];
      try {
        keys = query.keysOf(fields);
      } catch {
        keys = [];
      }
      if (keys.length > 0) keysByQuery.push({ q, name: query.name, keys });
    }
    if (keysByQuery.length === 0) return [];
    const isFirstEvent = state.learningStartMs === null;
    if (state.learningStartMs === null) state.learningStartMs = timeMs;

    const groupKey = groupKeyOf(groupValues);
    let group = state.groups.get(groupKey);
    if (!group) state.groups.set(groupKey, (group = { groupValues: [...groupValues], occurrences: 0, values: new Map() }));

    const isLearning = options.learningMethod === 'threshold' ? group.occurrences < options.learningThreshold : isFirstEvent || timeMs - state.learningStartMs < options.learningDuration * DAY_MS;
    const forgetMs = options.forgetAfter * DAY_MS;
    const fresh: number[] = [];
    for (const { q, name, keys } of keysByQuery) {
      let byKey = group.values.get(name);
      if (!byKey) group.values.set(name, (byKey = new Map<string, number>()));
      let isNew = false;
      for (const key of keys) {
        const lastSeen = byKey.get(key);
        if (lastSeen === undefined || timeMs - lastSeen > forgetMs) isNew = true;
        if (lastSeen === undefined || timeMs > lastSeen) byKey.set(key, timeMs);
      }
      if (isNew && !isLearning) fresh.push(q);
    }
    if (options.learningMethod === 'threshold' && group.occurrences < options.learningThreshold) group.occurrences++;
    return fresh;
  }

  /**
   * Forget what no event after `watermarkMs` can find known: values last seen more than
   * `forgetAfter` days before both the watermark and the rule's latest event.
   */
  prune(watermarkMs: number): void {
    // Pruning at most once per hour of event time keeps a watcher's frequent steps cheap.
    if (this.rules.size === 0 || (watermarkMs !== Infinity && watermarkMs - this.prunedAt < PRUNE_EVERY_MS)) return;
    this.prunedAt = watermarkMs;
    for (const { rule, state } of this.rules.values()) {
      if (state.latestMs === null) continue;
      const limit = Math.min(watermarkMs, state.latestMs) - rule.options.forgetAfter * DAY_MS;
      for (const [groupKey, group] of state.groups) {
        for (const [query, byKey] of group.values) {
          for (const [key, lastSeen] of byKey) if (lastSeen < limit) byKey.delete(key);
          if (byKey.size === 0) group.values.delete(query);
        }
        // A group with nothing left is only worth keeping while its learning count matters.
        const isCountNeeded = rule.options.learningMethod === 'threshold' && rule.options.learningThreshold > 0;
        if (group.values.size === 0 && !isCountNeeded) state.groups.delete(groupKey);
      }
    }
  }

  /** The whole history (rules this tracker runs and the others it was given), in a stable order. */
  history(): NewValueHistory {
    const rules: NewValueRuleHistory[] = [...this.others.values()];
    for (const [id, { state }] of this.rules) rules.push(historyOf(id, state));
    rules.sort((a, b) => compareText(a.ruleId, b.ruleId));
    return { version: NEW_VALUE_HISTORY_VERSION, rules };
  }
}
