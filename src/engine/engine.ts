/**
 * The detection engine for threshold rules. Pure and deterministic: nothing from `node:`, time comes
 * only from events, and the state is plain data (`snapshot()` / `restoreEngine()`).
 *
 * Semantics (Datadog's threshold method; docs/detection.md says the same for users):
 *
 * - Ingest. An event is tested only against the rules the index gives for its `evt.name` /
 *   `eventName` (plus the unindexed rules), and against each query of those rules. An event that
 *   matches no query of any rule costs that and nothing more: it is neither buffered nor remembered.
 *   A matching event whose `eventId` was already ingested is dropped as a duplicate; only matching
 *   events are remembered for this, so the dedup memory grows with the number of MATCHED events
 *   (events without `eventId` are never deduplicated).
 * - Groups. Per rule, an event belongs to the group given by its `groupByFields` values (see
 *   group.ts: first value, stringified; missing → ignored for the rule, or `N/A` when
 *   `hasOptionalGroupByFields`). A rule without group-by fields has one group.
 * - Order. `advanceTo(w)` evaluates every buffered event with `time <= w` in the total order
 *   (time, key, arrival); arrival only separates events with equal time AND equal key, which are
 *   identical records. So the same events in any arrival order give the same signals.
 * - Window. When event e is evaluated for a group, its window is every evaluated event of the group
 *   (e included) with `time >= e.time - evaluationWindow·1000` (inclusive). An event matching several
 *   queries of the rule counts once in each. Cases are tried in order; the first whose condition
 *   holds wins. A cardinality / sum / max query gives its aggregate over the same events instead
 *   of a count (aggregate.ts). A new_value rule lets into its groups only the events that bring a
 *   value new to the group after learning (new-value.ts); the rest only feed its history.
 * - Lifecycle. Before that, an open signal S of the group is closed when
 *   `e.time - S.lastSeen > keepAlive·1000` or `e.time - S.firstSeen > maxSignalDuration·1000` (at
 *   exactly the limit S is still open). If a case holds and S is open, S is updated: every event in
 *   the window joins it (a set), lastSeen moves to e, the severity rises if the case's is higher
 *   (never falls; the case name changes only with it), `updates` grows by one. If a case holds and
 *   no signal is open, a signal is created from every event in the window. A match after a close
 *   opens a new signal.
 * - Signal. id = stableHash(ruleId, canonical group, key of the creating event); firstSeen/lastSeen
 *   are the earliest/latest event in the signal; eventIds are in evaluation order; host is the
 *   `host` of the latest signal event that has one; title and message are rendered against the
 *   signal's latest event, after every change (lazily: once per `advanceTo` that changed it, which
 *   gives the same texts as rendering on each update). A template that throws gives a fallback text (the
 *   rule name for the title, the error for the message) and is counted in `stats.renderErrors`.
 * - Watermark. After evaluating, `advanceTo(w)` closes the signals that any later event would
 *   close and drops window entries no later event can see (`time <= w - window`). Every later event
 *   is after w, so this changes no result; it is what keeps memory bounded: the state holds the
 *   window contents, the open signals (event ids, plus the latest event's fields for rendering),
 *   the buffered events, the dedup memory and the retained signals.
 * - Changes. `advanceTo` returns one change per signal it touched, in order of first touch:
 *   `created` when the signal was created by this call, else `updated`, each with the signal as it
 *   is at the end of the call. Closing changes nothing in a signal and is not reported.
 * - Late events (ingested with `time <=` a watermark already reached) are still evaluated, at the
 *   next `advanceTo`, against what the group still holds: their window also holds the later events
 *   already evaluated, a signal they update keeps its later latest event, a signal they create is
 *   rendered against them (later events' fields are not kept). They are counted in
 *   `stats.lateEvents`. Determinism is only promised for events that arrive before the watermark
 *   passes them.
 */
import { stableHash } from '../core/hash.js';
import { TrailhoundError } from '../core/errors.js';
import { severityRank } from '../core/types.js';
import type { JsonObject, Severity, Signal, SignalActor, TrailEvent } from '../core/types.js';
import type { CompiledQuery } from '../query/types.js';
import type { CompiledRule, CompiledTemplate, RuleCase, TemplateContext } from '../rules/model.js';
import { compileGroupBy, groupKeyOf, groupRecord } from './group.js';
import { buildRuleIndex, runnableRules } from './rule-index.js';
import { SignalSlots, compileSignalGrouping, shareOpenSignal, signalGroupValues } from './signal-group.js';
import type { SignalGrouping } from './signal-group.js';
import { compileEnvironmentResolver, isNonProductionEnvironment, lowerSeverity } from '../rules/environment.js';
import type { EnvironmentResolver } from '../rules/environment.js';
import { compileFanOutHost, compileGroupsOf } from './fan-out.js';
import { SequenceTracker, actorKey, actorOf, addActors, addStepRefs, compileSequencePlan, completionMembers, firstHoldingSequenceCase, sequenceCaseCounts } from './sequence.js';
import type { SequenceCompletion, SequenceEntry, SequencePlan } from './sequence.js';
import { WindowAggregates, aggregateEntries, compileRuleAggregators, extractInputs, inputsFromState, inputsToState } from './aggregate.js';
import type { AggregateInput, QueryAggregator } from './aggregate.js';
import { NewValueTracker, compileNewValueRule } from './new-value.js';
import { ProjectionCache, pathsReadBy } from './projection.js';
import type { NewValueHistory, NewValueRule } from './new-value.js';
import type { RuleIndex } from './rule-index.js';
import { ENGINE_STATE_VERSION } from './types.js';
import type {
  DetectionEngine,
  EngineOptions,
  EngineState,
  EngineStats,
  EventOrderState,
  GroupState,
  OpenSignalState,
  PendingEventState,
  SignalChange,
  WindowEntryState,
} from './types.js';

/** The largest |epoch ms| a Date can hold: anything beyond cannot be written as ISO 8601. */
const MAX_TIME_MS = 8.64e15;

/** Compact a window's array once this many entries at its head were dropped. */
const COMPACT_AFTER = 1024;

interface RuleRuntime {
  readonly rule: CompiledRule;
  readonly queryNames: readonly string[];
  readonly queryPositions: ReadonlyMap<string, number>;
  readonly groupValuesOf: (fields: JsonObject) => string[] | undefined;
  readonly windowMs: number;
  readonly keepAliveMs: number;
  readonly maxDurationMs: number;
  /** groupSignalsBy (signal-group.ts): groups sharing these values share one open signal; null: one signal per group. */
  readonly signalGrouping: SignalGrouping | null;
  /** Datadog's decreaseCriticalityBasedOnEnv: a case holding on a non-production event is one severity lower. */
  readonly lowersOutsideProduction: boolean;
  /** Aggregators by query position (cardinality, sum, max: aggregate.ts), or null when every query counts. */
  readonly aggregators: readonly (QueryAggregator | null)[] | null;
  /** The new_value method's runtime (new-value.ts), or null for other methods. */
  readonly newValue: NewValueRule | null;
  /** Every group an event belongs to: one, or several with `hasGroupByFanOut` (fan-out.ts). */
  readonly groupsOf: (fields: JsonObject) => string[][] | undefined;
  /** The event's host as seen from one group (fan-out.ts: a fanned-out instance is its own host). */
  readonly hostFor: (fields: JsonObject, groupValues: readonly string[]) => string | null;
  /** The sequence_detection method's plan (sequence.ts), or null for other methods. */
  readonly sequence: SequencePlan | null;
  /** Its position among the engine's rules (for the projection cache). */
  readonly position: number;
}

interface Order {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
}

interface PendingMatch {
  readonly runtime: RuleRuntime;
  /** Positions of the matched queries in the rule. */
  readonly queries: readonly number[];
  readonly groupValues: readonly string[];
}

interface PendingEvent extends Order {
  readonly eventId: string | null;
  readonly fields: JsonObject;
  readonly matches: readonly PendingMatch[];
}

interface WindowEntry extends Order {
  readonly ref: string;
  readonly queries: readonly number[];
  readonly host: string | null;
  signalId: string | null;
  /** What the event adds to each query's aggregate (aggregate.ts), or null when the rule only counts. */
  readonly inputs: readonly AggregateInput[] | null;
}

/** A signal's mutable working copy; `Signal` objects are materialised from it (and cached). */
interface SignalRecord {
  readonly id: string;
  readonly ruleId: string;
  readonly ruleName: string;
  severity: Severity;
  caseName: string;
  title: string;
  message: string;
  readonly group: Readonly<Record<string, string>>;
  host: string | null;
  firstSeenMs: number;
  lastSeenMs: number;
  readonly queryNames: readonly string[];
  readonly queryCounts: number[];
  readonly eventIds: string[];
  readonly tags: readonly string[];
  updates: number;
  /**
   * Set when the signal changed: title and message are rendered once, when the signal is next
   * materialised (at the latest at the end of the `advanceTo` that changed it), against the
   * signal as it is then. Rendering on every update would give the same texts, slower.
   */
  toRender: { readonly runtime: RuleRuntime; readonly fields: JsonObject } | null;
  cached: Signal | null;
  /** Sequence rules: per step name, the ids of the events that made it up (`Signal.steps`). */
  steps?: Map<string, Set<string>>;
  /** Sequence rules: the distinct callers of the signal's events (`Signal.actors`), by actorKey. */
  actors?: Map<string, SignalActor>;
}

/** A window entry of a sequence group: the caller is kept for `Signal.actors`. */
type SequenceWindowEntry = WindowEntry & SequenceEntry;

interface OpenSignal {
  readonly record: SignalRecord;
  latest: Order & { readonly fields: JsonObject };
  hostFrom: Order | null;
}

interface Group {
  readonly runtime: RuleRuntime;
  readonly groupValues: readonly string[];
  /** Evaluated entries in evaluation order; the live window is `entries[head…]`. */
  entries: WindowEntry[];
  head: number;
  /** Per query position: entries in `entries[head…]` that matched it. */
  readonly counts: number[];
  open: OpenSignal | null;
  /** Running aggregates of the live window for cardinality / sum / max queries, or null. */
  readonly aggregates: WindowAggregates | null;
  /** Sequence rules: the group's step state (sequence.ts); absent until the group's first event. */
  sequence?: SequenceTracker<SequenceWindowEntry>;
  /**
   * A late event was inserted into the window: the members of the open signal may no longer be a
   * prefix of it, so updates scan the whole window. Cleared when the window empties.
   */
  hasLateEntries: boolean;
}

interface Counters {
  eventsIngested: number;
  eventsMatched: number;
  readonly matchedByRule: Map<string, number>;
  readonly missingGroupByRule: Map<string, number>;
  duplicates: number;
  invalidEvents: number;
  lateEvents: number;
  evaluations: number;
  signalsCreated: number;
  signalsUpdated: number;
  signalsClosed: number;
  renderErrors: number;
  evaluationErrors: number;
  rulesSkippedAsDisabled: number;
  rulesSkippedAsDuplicateId: number;
}

function compareOrder(a: Order, b: Order): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.seq - b.seq;
}

function orderOf(o: Order): EventOrderState {
  return { seq: o.seq, time: o.time, key: o.key };
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The event's `host` attribute (derived by the normaliser), when it is a non-empty string. */
function hostOf(fields: JsonObject): string | null {
  const host = Object.hasOwn(fields, 'host') ? fields.host : undefined;
  return typeof host === 'string' && host.length > 0 ? host : null;
}

/** `RuleRuntime.hostFor`: the event's host, adjusted per group for fan-out rules (fan-out.ts). */
function hostForRule(rule: CompiledRule): (fields: JsonObject, groupValues: readonly string[]) => string | null {
  if (rule.hasGroupByFanOut !== true) return (fields) => hostOf(fields);
  const adjust = compileFanOutHost(rule);
  return (fields, groupValues) => adjust(fields, hostOf(fields), groupValues);
}

/** A short text for anything thrown, without trusting its `toString`. */
function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'unknown error';
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function prepareRules(rules: readonly CompiledRule[], counters: Counters): RuleRuntime[] {
  const runtimes: RuleRuntime[] = [];
  for (const rule of runnableRules(rules, counters)) {
    const queryNames = rule.queries.map((q) => q.name);
    runtimes.push({
      rule,
      queryNames,
      queryPositions: new Map(queryNames.map((name, i) => [name, i])),
      groupValuesOf: compileGroupBy(rule.groupByFields, rule.hasOptionalGroupByFields),
      windowMs: rule.options.evaluationWindow * 1000,
      keepAliveMs: rule.options.keepAlive * 1000,
      maxDurationMs: rule.options.maxSignalDuration * 1000,
      signalGrouping: compileSignalGrouping(rule.groupByFields, rule.groupSignalsBy),
      lowersOutsideProduction: rule.options.decreaseCriticalityBasedOnEnv === true,
      aggregators: compileRuleAggregators(rule.queries),
      newValue: compileNewValueRule(rule),
      groupsOf: compileGroupsOf(rule),
      hostFor: hostForRule(rule),
      sequence: compileSequencePlan(rule),
      position: runtimes.length,
    });
  }
  return runtimes;
}

function emptyCounters(): Counters {
  return {
    eventsIngested: 0,
    eventsMatched: 0,
    matchedByRule: new Map(),
    missingGroupByRule: new Map(),
    duplicates: 0,
    invalidEvents: 0,
    lateEvents: 0,
    evaluations: 0,
    signalsCreated: 0,
    signalsUpdated: 0,
    signalsClosed: 0,
    renderErrors: 0,
    evaluationErrors: 0,
    rulesSkippedAsDisabled: 0,
    rulesSkippedAsDuplicateId: 0,
  };
}

/** The threshold engine. One instance per rule set; see the module comment for the semantics. */
class ThresholdEngine implements DetectionEngine {
  readonly unindexedRules: readonly string[];

  private readonly runtimes: ReadonlyMap<string, RuleRuntime>;
  private readonly index: RuleIndex<RuleRuntime>;
  private readonly retainClosedSignals: boolean;
  private readonly counters: Counters;
  /** Values seen by new_value rules (new-value.ts). */
  private readonly newValues: NewValueTracker;

  private watermark = -Infinity;
  private nextSeq = 0;
  private readonly seenEventIds = new Set<string>();
  private pending: PendingEvent[] = [];
  /** Per rule, its groups by group key. */
  private readonly groups = new Map<RuleRuntime, Map<string, Group>>();
  /** Retained signals in creation order. */
  private readonly records = new Map<string, SignalRecord>();
  /** Signals touched by the current `advanceTo`, in order of first touch. */
  private changes = new Map<string, { kind: SignalChange['kind']; record: SignalRecord }>();
  /** Open signals shared by the groups of a rule with groupSignalsBy (signal-group.ts). */
  private readonly slots = new SignalSlots<RuleRuntime, OpenSignal>();
  /** The environment of an event, for decreaseCriticalityBasedOnEnv (rules/environment.ts). */
  private readonly environmentOf: EnvironmentResolver;
  /** EngineOptions.isDeduplicating and acceptsGroup (the live engine's per-group engines set them). */
  private readonly isDeduplicating: boolean;
  private readonly acceptsGroup: ((ruleId: string, groupValues: readonly string[]) => boolean) | null;
  /** What matched events keep of their fields (projection.ts); null: everything. */
  private readonly projections: ProjectionCache | null;

  constructor(rules: readonly CompiledRule[], options: EngineOptions | undefined) {
    this.counters = emptyCounters();
    const runtimes = prepareRules(rules, this.counters);
    this.runtimes = new Map(runtimes.map((r) => [r.rule.id, r]));
    this.index = buildRuleIndex(runtimes, (r) => r.rule.queries.map((q) => q.query));
    this.unindexedRules = this.index.unindexed.map((r) => r.rule.id);
    this.retainClosedSignals = options?.retainClosedSignals ?? true;
    this.environmentOf = options?.environmentOf ?? compileEnvironmentResolver();
    this.isDeduplicating = options?.isDeduplicating ?? true;
    this.acceptsGroup = options?.acceptsGroup ?? null;
    this.projections = options?.isProjectingFields === false ? null : new ProjectionCache(runtimes.map((r) => pathsReadBy(r.rule)));
    this.newValues = new NewValueTracker(
      runtimes.flatMap((r) => (r.newValue ? [r.newValue] : [])),
      options?.newValueHistory,
    );
  }

  // ----- ingest ------------------------------------------------------------------------------

  ingest(event: TrailEvent, onlyRules?: ReadonlySet<string>): void {
    this.counters.eventsIngested++;
    const { time, fields, key } = event as { time: unknown; fields: unknown; key: unknown };
    if (typeof time !== 'number' || !Number.isFinite(time) || Math.abs(time) > MAX_TIME_MS || !isPlainObject(fields) || typeof key !== 'string') {
      this.counters.invalidEvents++;
      return;
    }
    const candidates = this.index.candidates(fields);
    if (candidates.length === 0) return;

    let matched: { runtime: RuleRuntime; queries: number[] }[] | undefined;
    for (const runtime of candidates) {
      if (onlyRules !== undefined && !onlyRules.has(runtime.rule.id)) continue;
      const ruleQueries = runtime.rule.queries;
      let queries: number[] | undefined;
      for (let i = 0; i < ruleQueries.length; i++) {
        const q = ruleQueries[i];
        if (q && this.safeMatches(q.query, fields)) (queries ??= []).push(i);
      }
      if (queries) (matched ??= []).push({ runtime, queries });
    }
    if (!matched) return;

    const rawId: unknown = event.eventId;
    const eventId = typeof rawId === 'string' && rawId.length > 0 ? rawId : null;
    if (eventId !== null && this.isDeduplicating) {
      if (this.seenEventIds.has(eventId)) {
        this.counters.duplicates++;
        return;
      }
      this.seenEventIds.add(eventId);
    }
    this.counters.eventsMatched++;

    const matches: PendingMatch[] = [];
    for (const { runtime, queries } of matched) {
      const id = runtime.rule.id;
      bump(this.counters.matchedByRule, id);
      const groups = runtime.groupsOf(fields);
      if (groups === undefined) bump(this.counters.missingGroupByRule, id);
      else for (const groupValues of groups) if (this.acceptsGroup === null || this.acceptsGroup(id, groupValues)) matches.push({ runtime, queries, groupValues });
    }
    if (matches.length === 0) return;
    if (time <= this.watermark) this.counters.lateEvents++;
    this.pending.push({ seq: this.nextSeq++, time, key, eventId, fields: this.projections === null ? fields : this.projections.project(fields, positionsOf(matches)), matches });
  }

  private safeMatches(query: CompiledQuery, fields: JsonObject): boolean {
    try {
      return query.matches(fields) === true;
    } catch {
      this.counters.evaluationErrors++;
      return false;
    }
  }

  // ----- evaluation --------------------------------------------------------------------------

  advanceTo(watermarkMs: number): SignalChange[] {
    if (typeof watermarkMs !== 'number' || Number.isNaN(watermarkMs)) return [];
    const ready: PendingEvent[] = [];
    const rest: PendingEvent[] = [];
    for (const p of this.pending) (p.time <= watermarkMs ? ready : rest).push(p);
    this.pending = rest;
    ready.sort(compareOrder);
    for (const event of ready) {
      for (const match of event.matches) {
        this.counters.evaluations++;
        this.evaluate(event, match);
      }
    }
    if (watermarkMs > this.watermark) this.watermark = watermarkMs;
    this.sweep(watermarkMs);
    return this.takeChanges();
  }

  finish(): SignalChange[] {
    const changes = this.advanceTo(Infinity);
    for (const groups of this.groups.values()) for (const group of groups.values()) if (group.open) this.close(group);
    this.groups.clear();
    this.slots.clear();
    return changes;
  }

  private groupFor(runtime: RuleRuntime, groupValues: readonly string[]): Group {
    // Within one rule every group has the same number of values: one value is its own key.
    const mapKey = groupValues.length === 1 ? (groupValues[0] ?? '') : groupKeyOf(groupValues);
    let groups = this.groups.get(runtime);
    if (!groups) {
      groups = new Map();
      this.groups.set(runtime, groups);
    }
    let group = groups.get(mapKey);
    if (!group) {
      group = { runtime, groupValues, entries: [], head: 0, counts: runtime.queryNames.map(() => 0), open: null, aggregates: runtime.aggregators ? new WindowAggregates(runtime.aggregators) : null, hasLateEntries: false };
      if (runtime.signalGrouping) shareOpenSignal(group, this.slots.slotFor(runtime, signalGroupValues(runtime.signalGrouping, groupValues)));
      groups.set(mapKey, group);
    }
    return group;
  }

  private evaluate(event: PendingEvent, match: PendingMatch): void {
    if (match.runtime.sequence) {
      this.evaluateSequence(event, match, match.runtime.sequence);
      return;
    }
    let queries = match.queries;
    if (match.runtime.newValue) {
      // A new_value rule keeps only the events that bring a value new to their group (new-value.ts).
      queries = this.newValues.observe(match.runtime.newValue, match.groupValues, event.fields, match.queries, event.time);
      if (queries.length === 0) return;
    }
    const group = this.groupFor(match.runtime, match.groupValues);
    const { windowMs, keepAliveMs, maxDurationMs } = match.runtime;
    const open = group.open;
    if (open && (event.time - open.record.lastSeenMs > keepAliveMs || event.time - open.record.firstSeenMs > maxDurationMs)) this.close(group);

    const entry: WindowEntry = {
      seq: event.seq,
      time: event.time,
      key: event.key,
      ref: event.eventId ?? event.key,
      queries,
      host: match.runtime.hostFor(event.fields, match.groupValues),
      signalId: null,
      inputs: match.runtime.aggregators ? extractInputs(match.runtime.aggregators, event.fields, queries) : null,
    };
    const start = event.time - windowMs;
    const last = group.entries.length > group.head ? group.entries[group.entries.length - 1] : undefined;
    const isInOrder = last === undefined || compareOrder(last, entry) < 0;

    let from: number;
    let counts: readonly number[];
    if (isInOrder) {
      this.dropWhile(group, (e) => e.time < start);
      group.entries.push(entry);
      for (const q of entry.queries) group.counts[q] = (group.counts[q] ?? 0) + 1;
      group.aggregates?.add(entry.inputs);
      from = group.head;
      counts = group.aggregates ? group.aggregates.valuesOver(group.counts) : group.counts;
    } else {
      // A late event: insert it in order; its window also holds the later events already evaluated.
      from = this.insertSorted(group, entry);
      group.hasLateEntries = true;
      for (const q of entry.queries) group.counts[q] = (group.counts[q] ?? 0) + 1;
      group.aggregates?.add(entry.inputs);
      while (from > group.head && (group.entries[from - 1]?.time ?? -Infinity) >= start) from--;
      const own = match.runtime.queryNames.map(() => 0);
      for (let i = from; i < group.entries.length; i++) for (const q of group.entries[i]?.queries ?? []) own[q] = (own[q] ?? 0) + 1;
      const aggregators = match.runtime.aggregators;
      counts = aggregators ? aggregateEntries(aggregators, group.entries.slice(from).map((e) => e.inputs), own) : own;
    }
    const to = group.entries.length - 1;

    const holding = this.firstHoldingCase(match.runtime, counts);
    if (!holding) return;
    const chosen = this.effectiveCase(match.runtime, holding, event.fields);
    if (group.open) this.update(group, chosen, event, from, to, isInOrder && !group.hasLateEntries);
    else this.create(group, chosen, event, from, to);
  }

  private firstHoldingCase(runtime: RuleRuntime, counts: readonly number[]): RuleCase | undefined {
    const record = Object.fromEntries(runtime.queryNames.map((name, i) => [name, counts[i] ?? 0]));
    for (const c of runtime.rule.cases) {
      try {
        if (c.condition.holds(record) === true) return c;
      } catch {
        this.counters.evaluationErrors++;
      }
    }
    return undefined;
  }

  /** Index where `entry` was inserted among `entries[head…]`, keeping evaluation order. */
  private insertSorted(group: Group, entry: WindowEntry): number {
    let lo = group.head;
    let hi = group.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = group.entries[mid];
      if (other && compareOrder(other, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    group.entries.splice(lo, 0, entry);
    return lo;
  }

  private dropWhile(group: Group, shouldDrop: (entry: WindowEntry) => boolean): void {
    const { entries } = group;
    while (group.head < entries.length) {
      const first = entries[group.head];
      if (!first || !shouldDrop(first)) break;
      for (const q of first.queries) group.counts[q] = (group.counts[q] ?? 0) - 1;
      group.aggregates?.remove(first.inputs);
      group.head++;
    }
    if (group.head === entries.length) {
      group.entries = [];
      group.head = 0;
      group.hasLateEntries = false;
    } else if (group.head >= COMPACT_AFTER && group.head * 2 >= entries.length) {
      group.entries = entries.slice(group.head);
      group.head = 0;
    }
  }

  // ----- sequence rules (the step logic is in sequence.ts) ---------------------------------------

  /**
   * Evaluate one event of a sequence group. The signal lifecycle is the threshold one: the open
   * signal closes first on keepAlive / maxSignalDuration; when the event completes the chain and a
   * case holds, the chain's events raise a signal or join the open one.
   */
  private evaluateSequence(event: PendingEvent, match: PendingMatch, plan: SequencePlan): void {
    const group = this.groupFor(match.runtime, match.groupValues);
    const { keepAliveMs, maxDurationMs } = match.runtime;
    const before = group.open;
    if (before && (event.time - before.record.lastSeenMs > keepAliveMs || event.time - before.record.firstSeenMs > maxDurationMs)) this.close(group);
    group.sequence ??= new SequenceTracker<SequenceWindowEntry>(plan);
    const actor = actorOf(event.fields);
    const entry: SequenceWindowEntry = {
      seq: event.seq,
      time: event.time,
      key: event.key,
      ref: event.eventId ?? event.key,
      queries: match.queries,
      host: match.runtime.hostFor(event.fields, match.groupValues),
      signalId: null,
      inputs: null,
      arn: actor.arn,
      sessionName: actor.sessionName,
    };
    const onError = (): void => {
      this.counters.evaluationErrors++;
    };
    const completion = group.sequence.evaluate(entry, onError);
    if (!completion) return;
    const chosen = firstHoldingSequenceCase(match.runtime.rule.cases, sequenceCaseCounts(plan, completion), onError);
    if (chosen) this.raiseSequence(group, this.effectiveCase(match.runtime, chosen, event.fields), event, plan, completion);
  }

  private raiseSequence(group: Group, chosen: RuleCase, event: PendingEvent, plan: SequencePlan, completion: SequenceCompletion<SequenceWindowEntry>): void {
    const members = completionMembers(completion);
    let open = group.open;
    if (open) {
      const { record } = open;
      for (const member of members) if (member.signalId !== record.id) this.join(open, member);
      this.confirm(group, open, chosen, event);
    } else {
      open = this.openSignal(group, chosen, event, members);
    }
    addStepRefs((open.record.steps ??= new Map()), plan, completion);
    addActors((open.record.actors ??= new Map()), members);
    this.markChanged(group.runtime, open);
  }

  private join(open: OpenSignal, entry: WindowEntry): void {
    const { record } = open;
    entry.signalId = record.id;
    record.eventIds.push(entry.ref);
    for (const q of entry.queries) record.queryCounts[q] = (record.queryCounts[q] ?? 0) + 1;
    if (entry.time < record.firstSeenMs) record.firstSeenMs = entry.time;
    if (entry.time > record.lastSeenMs) record.lastSeenMs = entry.time;
    if (entry.host !== null && (open.hostFrom === null || compareOrder(entry, open.hostFrom) > 0)) {
      record.host = entry.host;
      open.hostFrom = orderOf(entry);
    }
  }

  /** The case as it applies to this event: one severity lower outside production when the rule says so. */
  private effectiveCase(runtime: RuleRuntime, holding: RuleCase, fields: JsonObject): RuleCase {
    if (!runtime.lowersOutsideProduction) return holding;
    let environment: string | undefined;
    try {
      environment = this.environmentOf(fields);
    } catch {
      this.counters.evaluationErrors++;
      return holding;
    }
    return isNonProductionEnvironment(environment) ? { ...holding, status: lowerSeverity(holding.status) } : holding;
  }

  private create(group: Group, chosen: RuleCase, event: PendingEvent, from: number, to: number): void {
    const members: WindowEntry[] = [];
    for (let i = from; i <= to; i++) {
      const entry = group.entries[i];
      if (entry) members.push(entry);
    }
    this.openSignal(group, chosen, event, members);
  }

  /** A new signal for the group, created by `event`, made of `members`; it becomes the group's open signal. */
  private openSignal(group: Group, chosen: RuleCase, event: PendingEvent, members: Iterable<WindowEntry>): OpenSignal {
    const { rule, signalGrouping } = group.runtime;
    // With groupSignalsBy, the signal belongs to the signal group (signal-group.ts), not to the group that fired.
    const signalValues = signalGrouping ? signalGroupValues(signalGrouping, group.groupValues) : group.groupValues;
    let id = stableHash(JSON.stringify([rule.id, groupKeyOf(signalValues), event.key]));
    // Only identical records (same key, no eventId) could collide; keep ids unique regardless.
    for (let n = 1; this.records.has(id); n++) id = stableHash(JSON.stringify([rule.id, groupKeyOf(signalValues), event.key, n]));
    const record: SignalRecord = {
      id,
      ruleId: rule.id,
      ruleName: rule.name,
      severity: chosen.status,
      caseName: chosen.name,
      title: '',
      message: '',
      group: groupRecord(signalGrouping ? signalGrouping.fields : rule.groupByFields, signalValues),
      host: null,
      firstSeenMs: event.time,
      lastSeenMs: event.time,
      queryNames: group.runtime.queryNames,
      queryCounts: group.runtime.queryNames.map(() => 0),
      eventIds: [],
      tags: [...rule.tags],
      updates: 0,
      toRender: null,
      cached: null,
    };
    const open: OpenSignal = { record, latest: { seq: event.seq, time: event.time, key: event.key, fields: event.fields }, hostFrom: null };
    for (const member of members) this.join(open, member);
    group.open = open;
    this.records.set(id, record);
    this.markChanged(group.runtime, open);
    this.counters.signalsCreated++;
    this.changes.set(id, { kind: 'created', record });
    return open;
  }

  /** `event` holds a case again for the open signal: it becomes the latest event and may raise the severity. */
  private confirm(group: Group, open: OpenSignal, chosen: RuleCase, event: PendingEvent): void {
    const { record } = open;
    if (compareOrder(event, open.latest) > 0) open.latest = { seq: event.seq, time: event.time, key: event.key, fields: event.fields };
    if (severityRank(chosen.status) > severityRank(record.severity)) {
      record.severity = chosen.status;
      record.caseName = chosen.name;
    }
    record.updates++;
    this.markChanged(group.runtime, open);
    this.counters.signalsUpdated++;
    if (!this.changes.has(record.id)) this.changes.set(record.id, { kind: 'updated', record });
  }

  private update(group: Group, chosen: RuleCase, event: PendingEvent, from: number, to: number, isMembersPrefix: boolean): void {
    const open = group.open;
    if (!open) return;
    const { record } = open;
    const joiners: WindowEntry[] = [];
    if (isMembersPrefix) {
      // In order, the members of the open signal are a prefix of the window: the newcomers are the
      // entries after the last member.
      for (let i = to; i >= from; i--) {
        const entry = group.entries[i];
        if (!entry || entry.signalId === record.id) break;
        joiners.push(entry);
      }
      joiners.reverse();
    } else {
      for (let i = from; i <= to; i++) {
        const entry = group.entries[i];
        if (entry && entry.signalId !== record.id) joiners.push(entry);
      }
    }
    for (const entry of joiners) this.join(open, entry);
    this.confirm(group, open, chosen, event);
  }

  private close(group: Group): void {
    const open = group.open;
    if (!open) return;
    group.open = null;
    this.counters.signalsClosed++;
    if (!this.retainClosedSignals) this.records.delete(open.record.id);
  }

  /** Close what any later event would close and drop what no later event can see. */
  private sweep(watermarkMs: number): void {
    for (const [runtime, groups] of this.groups) {
      const { windowMs, keepAliveMs, maxDurationMs } = runtime;
      const limit = watermarkMs - windowMs;
      for (const [mapKey, group] of groups) {
        const open = group.open;
        if (open && (watermarkMs - open.record.lastSeenMs > keepAliveMs || watermarkMs - open.record.firstSeenMs > maxDurationMs)) this.close(group);
        this.dropWhile(group, (e) => e.time <= limit);
        group.sequence?.sweep(watermarkMs);
        if (!group.open && group.entries.length === group.head && (group.sequence?.isEmpty ?? true)) groups.delete(mapKey);
      }
      const grouping = runtime.signalGrouping;
      if (grouping) this.slots.retain(runtime, [...groups.values()].map((g) => signalGroupValues(grouping, g.groupValues)));
      if (groups.size === 0) this.groups.delete(runtime);
    }
    this.newValues.prune(watermarkMs);
  }

  private markChanged(runtime: RuleRuntime, open: OpenSignal): void {
    open.record.toRender = { runtime, fields: open.latest.fields };
    open.record.cached = null;
  }

  private render(record: SignalRecord, runtime: RuleRuntime, fields: JsonObject): void {
    const context: TemplateContext = {
      event: fields,
      ruleName: runtime.rule.name,
      caseName: record.caseName,
      eventsMatched: record.eventIds.length,
      firstSeen: isoOf(record.firstSeenMs),
      lastSeen: isoOf(record.lastSeenMs),
      host: record.host,
      eventsMatchedPerQuery: Object.fromEntries(record.queryNames.map((name, i) => [name, record.queryCounts[i] ?? 0])),
      group: record.group,
    };
    record.title = this.renderSafely(runtime.rule.title, context, () => runtime.rule.name);
    record.message = this.renderSafely(runtime.rule.message, context, (error) => `(the rule's message could not be rendered: ${error})`);
  }

  /** The signal as plain data (cached until it changes); renders its texts first if it changed. */
  private materialise(record: SignalRecord): Signal {
    if (record.toRender) {
      this.render(record, record.toRender.runtime, record.toRender.fields);
      record.toRender = null;
      record.cached = null;
    }
    record.cached ??= {
      id: record.id,
      ruleId: record.ruleId,
      ruleName: record.ruleName,
      severity: record.severity,
      caseName: record.caseName,
      title: record.title,
      message: record.message,
      group: { ...record.group },
      host: record.host,
      firstSeen: isoOf(record.firstSeenMs),
      lastSeen: isoOf(record.lastSeenMs),
      eventCount: record.eventIds.length,
      queryCounts: Object.fromEntries(record.queryNames.map((name, i) => [name, record.queryCounts[i] ?? 0])),
      eventIds: [...record.eventIds],
      tags: [...record.tags],
      updates: record.updates,
      ...(record.steps ? { steps: Object.fromEntries([...record.steps].map(([name, refs]) => [name, [...refs]])) } : {}),
      ...(record.actors ? { actors: [...record.actors.values()].map((a) => ({ ...a })) } : {}),
    };
    return record.cached;
  }

  private renderSafely(template: CompiledTemplate, context: TemplateContext, fallback: (error: string) => string): string {
    try {
      const text: unknown = template.render(context);
      if (typeof text === 'string') return text;
      this.counters.renderErrors++;
      return fallback(`render returned ${typeof text}`);
    } catch (error) {
      this.counters.renderErrors++;
      return fallback(describeError(error));
    }
  }

  private takeChanges(): SignalChange[] {
    const changes = [...this.changes.values()].map(({ kind, record }) => ({ kind, signal: this.materialise(record) }));
    this.changes = new Map();
    return changes;
  }

  // ----- reading -----------------------------------------------------------------------------

  newValueHistory(): NewValueHistory {
    return this.newValues.history();
  }

  signals(): Signal[] {
    const records = [...this.records.values()];
    records.sort((a, b) => a.firstSeenMs - b.firstSeenMs || compareText(a.ruleId, b.ruleId) || compareText(a.id, b.id));
    return records.map((r) => this.materialise(r));
  }

  get stats(): EngineStats {
    const c = this.counters;
    return {
      eventsIngested: c.eventsIngested,
      eventsMatched: c.eventsMatched,
      matchedByRule: Object.fromEntries(c.matchedByRule),
      missingGroupByRule: Object.fromEntries(c.missingGroupByRule),
      duplicates: c.duplicates,
      invalidEvents: c.invalidEvents,
      lateEvents: c.lateEvents,
      evaluations: c.evaluations,
      signalsCreated: c.signalsCreated,
      signalsUpdated: c.signalsUpdated,
      signalsClosed: c.signalsClosed,
      renderErrors: c.renderErrors,
      evaluationErrors: c.evaluationErrors,
      rulesSkippedAsDisabled: c.rulesSkippedAsDisabled,
      rulesSkippedAsDuplicateId: c.rulesSkippedAsDuplicateId,
    };
  }

  // ----- state -------------------------------------------------------------------------------

  snapshot(): EngineState {
    const names = (runtime: RuleRuntime, queries: readonly number[]): string[] => queries.map((q) => runtime.queryNames[q] ?? '');
    const pending: PendingEventState[] = this.pending.map((p) => ({
      seq: p.seq,
      time: p.time,
      key: p.key,
      eventId: p.eventId,
      fields: p.fields,
      matches: p.matches.map((m) => ({ ruleId: m.runtime.rule.id, queries: names(m.runtime, m.queries), groupValues: [...m.groupValues] })),
    }));
    const groups: GroupState[] = [...this.groups.values()].flatMap((byKey) => [...byKey.values()]).map((g) => ({
      ruleId: g.runtime.rule.id,
      groupValues: [...g.groupValues],
      window: g.entries.slice(g.head).map((e): WindowEntryState => {
        const aggregates = inputsToState(g.runtime.queryNames, e.inputs);
        return { seq: e.seq, time: e.time, key: e.key, ref: e.ref, queries: names(g.runtime, e.queries), host: e.host, signalId: e.signalId, ...(aggregates ? { aggregates } : {}) };
      }),
      open: g.open ? openState(g.open) : null,
      hasLateEntries: g.hasLateEntries,
      ...(g.sequence ? { sequence: g.sequence.toState() } : {}),
    }));
    return {
      version: ENGINE_STATE_VERSION,
      watermarkMs: Number.isFinite(this.watermark) ? this.watermark : null,
      hasReachedEnd: this.watermark === Infinity,
      nextSeq: this.nextSeq,
      seenEventIds: [...this.seenEventIds],
      pending,
      groups,
      signals: [...this.records.values()].map((r) => this.materialise(r)),
      stats: this.stats,
      newValues: this.newValues.history(),
    };
  }

  /** Load a snapshot into this (fresh) engine. State of rules it does not have is dropped. */
  load(state: EngineState): void {
    const version: unknown = state.version;
    if (version !== ENGINE_STATE_VERSION) {
      throw new TrailhoundError('E_ENGINE_STATE_VERSION', `Engine state version ${JSON.stringify(version)} is not supported (expected ${ENGINE_STATE_VERSION}); start from an empty state.`);
    }
    this.watermark = state.hasReachedEnd ? Infinity : (state.watermarkMs ?? -Infinity);
    this.nextSeq = state.nextSeq;
    for (const id of state.seenEventIds) this.seenEventIds.add(id);
    if (state.newValues) this.newValues.load(state.newValues);
    const s = state.stats;
    Object.assign(this.counters, {
      eventsIngested: s.eventsIngested,
      eventsMatched: s.eventsMatched,
      duplicates: s.duplicates,
      invalidEvents: s.invalidEvents,
      lateEvents: s.lateEvents,
      evaluations: s.evaluations,
      signalsCreated: s.signalsCreated,
      signalsUpdated: s.signalsUpdated,
      signalsClosed: s.signalsClosed,
      renderErrors: s.renderErrors,
      evaluationErrors: s.evaluationErrors,
    });
    for (const [k, v] of Object.entries(s.matchedByRule)) this.counters.matchedByRule.set(k, v);
    for (const [k, v] of Object.entries(s.missingGroupByRule)) this.counters.missingGroupByRule.set(k, v);

    for (const signal of state.signals) this.records.set(signal.id, recordOf(signal));

    const positions = (runtime: RuleRuntime, names: readonly string[]): number[] =>
      names.flatMap((name) => {
        const p = runtime.queryPositions.get(name);
        return p === undefined ? [] : [p];
      });

    for (const g of state.groups) {
      const runtime = this.runtimes.get(g.ruleId);
      if (!runtime) continue;
      const group = this.groupFor(runtime, g.groupValues);
      group.hasLateEntries = g.hasLateEntries;
      if (g.sequence && runtime.sequence) {
        group.sequence = SequenceTracker.fromState(runtime.sequence, g.sequence, (e, queries): SequenceWindowEntry => ({ ...e, queries, inputs: null }));
      }
      for (const e of g.window) {
        const queries = positions(runtime, e.queries);
        const inputs = runtime.aggregators ? inputsFromState(runtime.queryPositions, runtime.queryNames.length, e.aggregates) : null;
        group.entries.push({ seq: e.seq, time: e.time, key: e.key, ref: e.ref, queries, host: e.host, signalId: e.signalId, inputs });
        for (const q of queries) group.counts[q] = (group.counts[q] ?? 0) + 1;
        group.aggregates?.add(inputs);
      }
      const saved = g.open ? this.records.get(g.open.signalId) : undefined;
      if (g.open && saved) {
        // The open signal's counts are indexed by the rule's query positions.
        const savedCounts = new Map(saved.queryNames.map((name, i) => [name, saved.queryCounts[i] ?? 0]));
        const record: SignalRecord = {
          ...saved,
          firstSeenMs: g.open.firstSeenMs,
          lastSeenMs: g.open.lastSeenMs,
          queryNames: runtime.queryNames,
          queryCounts: runtime.queryNames.map((name) => savedCounts.get(name) ?? 0),
        };
        this.records.set(record.id, record);
        group.open = { record, latest: { ...g.open.latest }, hostFrom: g.open.hostFrom ? { ...g.open.hostFrom } : null };
      }
    }

    for (const p of state.pending) {
      const matches: PendingMatch[] = [];
      for (const m of p.matches) {
        const runtime = this.runtimes.get(m.ruleId);
        const queries = runtime ? positions(runtime, m.queries) : [];
        if (runtime && queries.length > 0) matches.push({ runtime, queries, groupValues: [...m.groupValues] });
      }
      if (matches.length > 0) this.pending.push({ seq: p.seq, time: p.time, key: p.key, eventId: p.eventId, fields: p.fields, matches });
    }
  }
}

/** The positions of the matched rules, ascending, without repeats (a fanned-out rule matches once per group). */
function positionsOf(matches: readonly PendingMatch[]): number[] {
  const positions: number[] = [];
  for (const { runtime } of matches) if (!positions.includes(runtime.position)) positions.push(runtime.position);
  return positions.sort((a, b) => a - b);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function openState(open: OpenSignal): OpenSignalState {
  return {
    signalId: open.record.id,
    firstSeenMs: open.record.firstSeenMs,
    lastSeenMs: open.record.lastSeenMs,
    latest: { ...orderOf(open.latest), fields: open.latest.fields },
    hostFrom: open.hostFrom ? orderOf(open.hostFrom) : null,
  };
}

function recordOf(signal: Signal): SignalRecord {
  const queryNames = Object.keys(signal.queryCounts);
  return {
    id: signal.id,
    ruleId: signal.ruleId,
    ruleName: signal.ruleName,
    severity: signal.severity,
    caseName: signal.caseName,
    title: signal.title,
    message: signal.message,
    group: { ...signal.group },
    host: signal.host,
    firstSeenMs: Date.parse(signal.firstSeen),
    lastSeenMs: Date.parse(signal.lastSeen),
    queryNames,
    queryCounts: queryNames.map((name) => signal.queryCounts[name] ?? 0),
    eventIds: [...signal.eventIds],
    tags: [...signal.tags],
    updates: signal.updates,
    toRender: null,
    cached: null,
    ...(signal.steps ? { steps: new Map(Object.entries(signal.steps).map(([name, refs]) => [name, new Set(refs)])) } : {}),
    ...(signal.actors ? { actors: new Map(signal.actors.map((a) => [actorKey(a), { arn: a.arn, sessionName: a.sessionName }])) } : {}),
  };
}

/** A new engine over `rules` (disabled rules are skipped and counted). */
export function createEngine(rules: readonly CompiledRule[], options?: EngineOptions): DetectionEngine {
  return new ThresholdEngine(rules, options);
}

/**
 * An engine over `rules` that continues from `state` (a `snapshot()`, possibly through JSON).
 * State belonging to rules that are not in `rules` (or are disabled) is dropped; their signals are
 * kept as closed signals. Throws `TrailhoundError` (`E_ENGINE_STATE_VERSION`) for another version.
 */
export function restoreEngine(rules: readonly CompiledRule[], state: EngineState, options?: EngineOptions): DetectionEngine {
  const engine = new ThresholdEngine(rules, options);
  engine.load(state);
  return engine;
}
