/**
 * The engine's live mode: event time with a watermark, allowed lateness, eager signals, stable ids
 * and a JSON state. Built on the batch engine (engine.ts), which stays the reference: for events
 * that arrive within the allowed lateness, the signals emitted here end, once the stream is over,
 * exactly as `scan` gives them on the same events in any order (docs/detection.md, "Live
 * detection"). Pure and deterministic: nothing from `node:`; time comes from events (and an
 * optional injected clock used only to refuse events from the far future).
 *
 * How:
 *
 * - Partitions. The batch engine's groups only meet through their signal group (groupSignalsBy)
 *   and, for new_value rules, through the rule's learning; so each rule's events are partitioned by
 *   signal group (the whole rule for new_value rules), and each partition has its own batch engine
 *   over that one rule, which only accepts the partition's groups (`acceptsGroup`) and does not
 *   deduplicate (`isDeduplicating: false`; deduplication happens here, before routing, with a
 *   memory bounded in time). The partitions compute, together, what the batch engine computes.
 * - Eager evaluation. `process()` evaluates what arrived at once: a partition's engine advances to
 *   the partition's newest event (its watermark is per partition), so a signal is emitted as soon
 *   as its case holds.
 * - Watermark. W = newest event time ingested − allowed lateness, moved by `process()`. Every event
 *   that arrives in time is after W.
 * - Checkpoints. A partition with events after W keeps checkpoints: its engine's state having
 *   evaluated exactly the events up to a time c (and advanced to c). The first, the base, is at or
 *   before W; the others are taken every max(1 minute, lateness / 8) of event time as the
 *   partition advances (lateness / 2 for new_value rules, whose state holds their history). The
 *   events after the base are kept whole ("tentative").
 * - Replays. An event that arrives at or before its partition's newest evaluated time (out of
 *   order) makes the partition replay: restore the latest checkpoint before the event, evaluate
 *   the kept events after it and the new ones in (time, key, arrival) order, taking new
 *   checkpoints on the way. Replay = the batch engine on the same events in order, hence the
 *   same signals.
 * - Stable ids. The replayed signals are mapped to the ids already emitted (live-reconcile.ts) and
 *   only real differences are reported, as `updated`; a new signal is `created`; an emitted
 *   signal the replay no longer raises is reported once more with `replacedBy`.
 * - Too late. An event at or before W when it arrives is counted (`lateEvents`, and
 *   `tooLateEvents` when it matched) and still evaluated: against the base checkpoint when the
 *   partition has one (in a replay), else against what the partition's engine kept. A signal
 *   first raised by such an evaluation gets an id of its own (`lateId`), never a reported one.
 * - Memory. The base moves up to the latest checkpoint at or before W (older checkpoints and
 *   events go); a partition settles (drops its checkpoints and events) once W passes its newest
 *   event, and is dropped once its engine holds nothing (swept every minute of event time). Held:
 *   the events of the last lateness (+ one checkpoint step), a checkpoint per step, the batch
 *   engine's window state, the followed signals and the recent eventIDs.
 */
import { TrailhoundError } from '../core/errors.js';
import { stableHash } from '../core/hash.js';
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { CompiledQuery } from '../query/types.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine, restoreEngine } from './engine.js';
import { compileGroupsOf } from './fan-out.js';
import { groupKeyOf } from './group.js';
import { assignEmittedIds, compareSignals, freshId, isSameJson, replacementsOf } from './live-reconcile.js';
import type { TrackedSignal } from './live-reconcile.js';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  LIVE_ENGINE_STATE_VERSION,
  MAX_ALLOWED_LATENESS_MS,
} from './live-types.js';
import type { LiveDetectionEngine, LiveEngineCounters, LiveEngineOptions, LiveEngineState, LiveEngineStats, LiveEventState, LiveGroupState } from './live-types.js';
import { NEW_VALUE_HISTORY_VERSION } from './new-value.js';
import type { NewValueHistory, NewValueRuleHistory } from './new-value.js';
import { buildRuleIndex, matchesAnyQuery, runnableRules } from './rule-index.js';
import type { RuleIndex } from './rule-index.js';
import { compileSignalGrouping, signalGroupValues } from './signal-group.js';
import type { DetectionEngine, EngineOptions, EngineState, SignalChange } from './types.js';

/** The largest |epoch ms| a Date can hold (as engine.ts). */
const MAX_TIME_MS = 8.64e15;
/** A settled partition's engine is swept (and the partition dropped when empty) this often, in event time. */
const SWEEP_EVERY_MS = 60_000;
/** The dedup memory is pruned this often, in event time. */
const DEDUP_PRUNE_EVERY_MS = 60_000;
/** A partition takes a checkpoint every max(this, lateness / 8) of event time. */
const MIN_CHECKPOINT_EVERY_MS = 60_000;

const OPTION_KEYS: ReadonlySet<string> = new Set(['allowedLatenessMs', 'dedupRetentionMs', 'environmentOf', 'newValueHistory', 'now', 'maxFutureSkewMs']);

interface LiveRule {
  readonly rule: CompiledRule;
  readonly queries: readonly CompiledQuery[];
  readonly groupsOf: (fields: JsonObject) => string[][] | undefined;
  /** The partition a group belongs to. */
  readonly partitionOf: (groupValues: readonly string[]) => string;
  /** new_value rules: one partition for the whole rule (their learning spans the rule). */
  readonly isWholeRule: boolean;
}

interface LiveEvent {
  readonly seq: number;
  readonly event: TrailEvent;
}

interface Checkpoint {
  readonly ms: number;
  readonly state: EngineState;
}

interface Partition {
  readonly rule: LiveRule;
  readonly key: string;
  engine: DetectionEngine;
  evaluatedToMs: number;
  /**
   * The engine as of earlier points, oldest first (empty when settled): each holds exactly the
   * events up to its time. The first, the base, is at or before the watermark.
   */
  checkpoints: Checkpoint[];
  /** Events evaluated after the base checkpoint, in evaluation order. */
  tentative: LiveEvent[];
  /** Events not yet processed, in arrival order. */
  incoming: LiveEvent[];
  /** Followed signals by emitted id, and emitted id by batch id. */
  readonly tracked: Map<string, TrackedSignal>;
  readonly byBatch: Map<string, string>;
}

type MutableCounters = { -readonly [K in keyof LiveEngineCounters]: LiveEngineCounters[K] extends number ? number : Map<string, number> };

/** Changes of one `process()`, one per emitted id, in order of first touch. */
class ChangeLog {
  private readonly changes = new Map<string, SignalChange>();

  add(kind: SignalChange['kind'], signal: Signal): void {
    const before = this.changes.get(signal.id);
    this.changes.set(signal.id, { kind: before?.kind ?? kind, signal });
  }

  take(): SignalChange[] {
    return [...this.changes.values()];
  }
}

function emptyCounters(): MutableCounters {
  return {
    eventsIngested: 0,
    invalidEvents: 0,
    futureEvents: 0,
    eventsMatched: 0,
    matchedByRule: new Map(),
    missingGroupByRule: new Map(),
    duplicates: 0,
    lateEvents: 0,
    tooLateEvents: 0,
    outOfOrderEvents: 0,
    replays: 0,
    replayedEvents: 0,
    signalsCreated: 0,
    signalsUpdated: 0,
    signalsRenamed: 0,
    signalsOrphaned: 0,
    renderErrors: 0,
    evaluationErrors: 0,
    rulesSkippedAsDisabled: 0,
    rulesSkippedAsDuplicateId: 0,
  };
}

function compareOrder(a: LiveEvent, b: LiveEvent): number {
  if (a.event.time !== b.event.time) return a.event.time < b.event.time ? -1 : 1;
  if (a.event.key !== b.event.key) return a.event.key < b.event.key ? -1 : 1;
  return a.seq - b.seq;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function lastSeenMs(signal: Signal): number {
  return Date.parse(signal.lastSeen);
}

function checkDuration(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new TrailhoundError('E_LIVE_OPTIONS', `The live engine's ${name} must be a number of milliseconds from 0 to ${max}; got ${String(value)}.`);
  }
  return value;
}

interface CheckedOptions {
  readonly allowedLatenessMs: number;
  readonly dedupRetentionMs: number;
  readonly maxFutureSkewMs: number;
  readonly now: (() => number) | null;
  readonly environmentOf: EngineOptions['environmentOf'] | undefined;
  readonly newValueHistory: NewValueHistory | undefined;
}

/** Validate the options (config is a contract: unknown keys and bad numbers are errors). */
function checkOptions(options: LiveEngineOptions | undefined): CheckedOptions {
  const given: LiveEngineOptions = options ?? {};
  for (const key of Object.keys(given)) {
    if (!OPTION_KEYS.has(key)) throw new TrailhoundError('E_LIVE_OPTIONS', `Unknown live engine option ${JSON.stringify(key)}; known: ${[...OPTION_KEYS].join(', ')}.`);
  }
  const allowedLatenessMs = checkDuration('allowedLatenessMs', given.allowedLatenessMs ?? DEFAULT_ALLOWED_LATENESS_MS, MAX_ALLOWED_LATENESS_MS);
  const dedupRetentionMs = checkDuration('dedupRetentionMs', given.dedupRetentionMs ?? allowedLatenessMs, MAX_ALLOWED_LATENESS_MS);
  const maxFutureSkewMs = checkDuration('maxFutureSkewMs', given.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS, MAX_ALLOWED_LATENESS_MS);
  if (given.now !== undefined && typeof given.now !== 'function') throw new TrailhoundError('E_LIVE_OPTIONS', 'The live engine option now must be a function returning epoch milliseconds.');
  return { allowedLatenessMs, dedupRetentionMs, maxFutureSkewMs, now: given.now ?? null, environmentOf: given.environmentOf, newValueHistory: given.newValueHistory };
}

function prepareRules(rules: readonly CompiledRule[], counters: MutableCounters): LiveRule[] {
  const prepared: LiveRule[] = [];
  for (const rule of runnableRules(rules, counters)) {
    const isWholeRule = rule.options.detectionMethod === 'new_value';
    const grouping = compileSignalGrouping(rule.groupByFields, rule.groupSignalsBy);
    const partitionOf = isWholeRule ? () => '' : grouping ? (values: readonly string[]) => groupKeyOf(signalGroupValues(grouping, values)) : (values: readonly string[]) => groupKeyOf(values);
    prepared.push({ rule, queries: rule.queries.map((q) => q.query), groupsOf: compileGroupsOf(rule), partitionOf, isWholeRule });
  }
  return prepared;
}

class LiveEngine implements LiveDetectionEngine {
  readonly unindexedRules: readonly string[];
  readonly allowedLatenessMs: number;

  private readonly options: CheckedOptions;
  private readonly counters: MutableCounters;
  private readonly rules: readonly LiveRule[];
  private readonly rulesById: ReadonlyMap<string, LiveRule>;
  private readonly index: RuleIndex<LiveRule>;
  /** Checkpoint spacing: every eighth of the lateness; every half for new_value rules (their state holds the learned history). */
  private readonly checkpointEveryMs: number;
  private readonly wholeRuleCheckpointEveryMs: number;

  private newestMs: number | null = null;
  private watermarkMs: number | null = null;
  private nextSeq = 0;
  private hasFinished = false;
  /** eventID → event time, for deduplication. */
  private readonly recentEventIds = new Map<string, number>();
  private dedupPrunedAtMs: number | null = null;
  /** Per rule, its partitions by key (insertion order is the processing order). */
  private readonly partitions = new Map<LiveRule, Map<string, Partition>>();
  /** Partitions with incoming events, in order of first arrival. */
  private touched = new Set<Partition>();
  /** new_value history no partition holds. */
  private otherNewValues: NewValueRuleHistory[];

  constructor(rules: readonly CompiledRule[], options: LiveEngineOptions | undefined) {
    this.options = checkOptions(options);
    this.allowedLatenessMs = this.options.allowedLatenessMs;
    this.checkpointEveryMs = Math.max(MIN_CHECKPOINT_EVERY_MS, this.allowedLatenessMs / 8);
    this.wholeRuleCheckpointEveryMs = Math.max(MIN_CHECKPOINT_EVERY_MS, this.allowedLatenessMs / 2);
    this.counters = emptyCounters();
    this.rules = prepareRules(rules, this.counters);
    this.rulesById = new Map(this.rules.map((r) => [r.rule.id, r]));
    this.index = buildRuleIndex(this.rules, (r) => r.queries);
    this.unindexedRules = this.index.unindexed.map((r) => r.rule.id);
    this.otherNewValues = [...(this.options.newValueHistory?.rules ?? [])];
  }

  // ----- ingest ------------------------------------------------------------------------------

  ingest(event: TrailEvent): void {
    const c = this.counters;
    c.eventsIngested++;
    const { time, fields, key } = event as { time: unknown; fields: unknown; key: unknown };
    if (typeof time !== 'number' || !Number.isFinite(time) || Math.abs(time) > MAX_TIME_MS || !isPlainObject(fields) || typeof key !== 'string') {
      c.invalidEvents++;
      return;
    }
    if (this.options.now !== null && time > this.safeNow() + this.options.maxFutureSkewMs) {
      c.futureEvents++;
      return;
    }
    const isLate = this.hasFinished || (this.watermarkMs !== null && time <= this.watermarkMs);
    if (isLate) c.lateEvents++;
    if (this.hasFinished) return;
    if (this.newestMs === null || time > this.newestMs) this.newestMs = time;

    const matched = this.matchingRules(fields);
    if (matched.length === 0) return;
    const rawId: unknown = event.eventId;
    const eventId = typeof rawId === 'string' && rawId.length > 0 ? rawId : null;
    if (eventId !== null) {
      if (this.recentEventIds.has(eventId)) {
        c.duplicates++;
        return;
      }
      this.recentEventIds.set(eventId, time);
    }
    c.eventsMatched++;
    if (isLate) c.tooLateEvents++;
    const live: LiveEvent = { seq: this.nextSeq++, event };
    for (const rule of matched) {
      bump(c.matchedByRule, rule.rule.id);
      let groups: string[][] | undefined;
      try {
        groups = rule.groupsOf(fields);
      } catch {
        groups = undefined;
      }
      if (groups === undefined) {
        bump(c.missingGroupByRule, rule.rule.id);
        continue;
      }
      const keys = new Set(groups.map((values) => rule.partitionOf(values)));
      for (const partitionKey of keys) {
        const partition = this.partitionFor(rule, partitionKey);
        partition.incoming.push(live);
        this.touched.add(partition);
      }
    }
  }

  private safeNow(): number {
    try {
      const now = this.options.now?.();
      return typeof now === 'number' && Number.isFinite(now) ? now : Infinity;
    } catch {
      return Infinity;
    }
  }

  private matchingRules(fields: JsonObject): LiveRule[] {
    const matched: LiveRule[] = [];
    const onError = (): void => {
      this.counters.evaluationErrors++;
    };
    for (const rule of this.index.candidates(fields)) if (matchesAnyQuery(rule.queries, fields, onError)) matched.push(rule);
    return matched;
  }

  /** Options of a partition's engine; `own`: the new_value history it starts from (a new whole-rule partition). */
  private partitionOptions(rule: LiveRule, key: string, own: readonly NewValueRuleHistory[] = []): EngineOptions {
    return {
      retainClosedSignals: false,
      isDeduplicating: false,
      acceptsGroup: rule.isWholeRule ? () => true : (_ruleId, values) => rule.partitionOf(values) === key,
      ...(this.options.environmentOf ? { environmentOf: this.options.environmentOf } : {}),
      ...(own.length > 0 ? { newValueHistory: { version: NEW_VALUE_HISTORY_VERSION, rules: own } } : {}),
    };
  }

  private partitionFor(rule: LiveRule, key: string): Partition {
    let byKey = this.partitions.get(rule);
    if (!byKey) {
      byKey = new Map();
      this.partitions.set(rule, byKey);
    }
    let partition = byKey.get(key);
    if (!partition) {
      const own = rule.isWholeRule ? this.otherNewValues.filter((r) => r.ruleId === rule.rule.id) : [];
      if (own.length > 0) this.otherNewValues = this.otherNewValues.filter((r) => r.ruleId !== rule.rule.id);
      partition = {
        rule,
        key,
        engine: createEngine([rule.rule], this.partitionOptions(rule, key, own)),
        evaluatedToMs: -Infinity,
        checkpoints: [],
        tentative: [],
        incoming: [],
        tracked: new Map(),
        byBatch: new Map(),
      };
      byKey.set(key, partition);
    }
    return partition;
  }

  // ----- processing --------------------------------------------------------------------------

  process(): SignalChange[] {
    const log = new ChangeLog();
    this.processInto(log);
    return log.take();
  }

  private processInto(log: ChangeLog): void {
    if (this.newestMs === null || this.hasFinished) return;
    const before = this.watermarkMs ?? -Infinity;
    const watermark = this.newestMs - this.allowedLatenessMs;
    this.watermarkMs = watermark;
    const touched = this.touched;
    this.touched = new Set();
    for (const partition of touched) this.evaluate(partition, watermark, before, log);
    this.maintain(watermark, log);
    this.pruneEventIds(watermark);
  }

  finish(): SignalChange[] {
    const log = new ChangeLog();
    this.processInto(log);
    if (!this.hasFinished) {
      for (const byKey of this.partitions.values()) {
        for (const partition of byKey.values()) {
          this.apply(partition, partition.engine.finish(), log);
          partition.checkpoints = [];
          partition.tentative = [];
        }
      }
    }
    this.hasFinished = true;
    return log.take();
  }

  /**
   * Evaluate a partition's incoming events. `lateBefore`: the watermark they arrived under (at
   * or before it: too late). A signal first raised by an evaluation that includes too-late events
   * gets an id derived from the first of them (`lateId`): such an event may be one evaluated long
   * ago coming back (a duplicate past the dedup memory), and must not raise an id already used.
   */
  private evaluate(partition: Partition, watermark: number, lateBefore: number, log: ChangeLog): void {
    const incoming = partition.incoming.sort(compareOrder);
    partition.incoming = [];
    if (incoming.length === 0) return;
    const evaluatedTo = partition.evaluatedToMs;
    const behind = incoming.filter((e) => e.event.time <= evaluatedTo);
    this.counters.outOfOrderEvents += behind.length;
    const tooLate = incoming.filter((e) => e.event.time <= lateBefore);
    const newIdOf = tooLate.length === 0 ? undefined : lateId(Math.min(...tooLate.map((e) => e.seq)));
    if (partition.checkpoints.length > 0 && behind.length > 0) {
      this.replay(partition, incoming, watermark, log, newIdOf);
      return;
    }
    if (behind.length > 0) {
      // A settled partition: these are later than the lateness; evaluated against what is kept.
      const engine = partition.engine;
      const errors = errorCounts(engine);
      for (const e of behind) engine.ingest(e.event);
      this.apply(partition, engine.advanceTo(evaluatedTo), log, newIdOf);
      this.addErrors(engine, errors);
    }
    this.forward(
      partition,
      incoming.filter((e) => e.event.time > evaluatedTo),
      watermark,
      lateBefore,
      log,
      newIdOf,
    );
  }

  /** Evaluate events all after what the partition evaluated: no replay. */
  private forward(partition: Partition, events: readonly LiveEvent[], watermark: number, lateBefore: number, log: ChangeLog, newIdOf: ((batchId: string) => string) | undefined): void {
    if (events.length === 0) return;
    const engine = partition.engine;
    const errors = errorCounts(engine);
    let rest = events;
    if (partition.checkpoints.length === 0) {
      // Settled (or new): too-late events first, under their own ids (see `evaluate`).
      const late = events.filter((e) => e.event.time <= lateBefore);
      if (late.length > 0) {
        for (const e of late) engine.ingest(e.event);
        this.apply(partition, engine.advanceTo(lateBefore), log, newIdOf);
        partition.evaluatedToMs = Math.max(partition.evaluatedToMs, lateBefore);
      }
      // What is at or before the watermark is final; take the base checkpoint before the rest.
      const to = Math.max(watermark, partition.evaluatedToMs);
      rest = events.filter((e) => e.event.time > to);
      for (const e of events) if (e.event.time <= to && e.event.time > lateBefore) engine.ingest(e.event);
      this.apply(partition, engine.advanceTo(to), log);
      partition.evaluatedToMs = to;
      if (rest.length > 0) partition.checkpoints = [{ ms: to, state: engine.snapshot() }];
    }
    if (rest.length > 0) {
      partition.tentative.push(...rest);
      this.advanceWithCheckpoints(partition, engine, rest, (changes) => this.apply(partition, changes, log));
    }
    this.addErrors(engine, errors);
  }

  /**
   * Ingest `events` (in order, all after what `engine` evaluated) and advance to the last one,
   * taking a checkpoint on the way each time the last one is `every` old: a replay
   * then starts from the latest checkpoint before the late event instead of the base.
   */
  private advanceWithCheckpoints(partition: Partition, engine: DetectionEngine, events: readonly LiveEvent[], onChanges: (changes: SignalChange[]) => void): void {
    let ingestedTo = partition.evaluatedToMs;
    const every = partition.rule.isWholeRule ? this.wholeRuleCheckpointEveryMs : this.checkpointEveryMs;
    for (const e of events) {
      const latest = partition.checkpoints[partition.checkpoints.length - 1];
      if (latest && e.event.time > ingestedTo && ingestedTo - latest.ms >= every) {
        onChanges(engine.advanceTo(ingestedTo));
        partition.checkpoints.push({ ms: ingestedTo, state: engine.snapshot() });
      }
      engine.ingest(e.event);
      ingestedTo = e.event.time;
    }
    onChanges(engine.advanceTo(ingestedTo));
    partition.evaluatedToMs = ingestedTo;
  }

  /** Replay the partition from its latest checkpoint before the new events, then report what changed. */
  private replay(partition: Partition, incoming: readonly LiveEvent[], watermark: number, log: ChangeLog, newIdOf: ((batchId: string) => string) | undefined): void {
    const first = incoming[0];
    if (!first || partition.checkpoints.length === 0) return;
    this.counters.replays++;
    // The latest checkpoint strictly before the first new event; the base when the event is older than all.
    let index = 0;
    partition.checkpoints.forEach((c, i) => {
      if (c.ms < first.event.time) index = i;
    });
    const from = partition.checkpoints[index] ?? { ms: -Infinity, state: partition.engine.snapshot() };
    const events = mergeSorted(
      partition.tentative.filter((e) => e.event.time > from.ms),
      incoming,
    );
    this.counters.replayedEvents += events.length;
    const engine = restoreEngine([partition.rule.rule], from.state, this.partitionOptions(partition.rule, partition.key));
    const errors = errorCounts(engine);
    const candidates = new Map<string, Signal>();
    const collect = (changes: readonly SignalChange[]): void => {
      for (const { signal } of changes) candidates.set(signal.id, signal);
    };
    collect(engine.signals().map((signal) => ({ kind: 'updated', signal })));
    const openBefore = new Set(candidates.keys());
    partition.checkpoints = partition.checkpoints.slice(0, index + 1);
    partition.engine = engine;
    partition.evaluatedToMs = from.ms;
    let rest: readonly LiveEvent[] = events;
    if (index === 0 || watermark > from.ms) {
      // Take the new base checkpoint at the watermark (it also takes in events too late for the old base).
      const to = Math.max(watermark, from.ms);
      rest = events.filter((e) => e.event.time > to);
      for (const e of events) if (e.event.time <= to) engine.ingest(e.event);
      collect(engine.advanceTo(to));
      partition.evaluatedToMs = to;
      partition.checkpoints = rest.length > 0 ? [{ ms: to, state: engine.snapshot() }] : [];
    }
    if (rest.length > 0) this.advanceWithCheckpoints(partition, engine, rest, collect);
    this.addErrors(engine, errors);
    this.reconcile(partition, [...candidates.values()], openBefore, from.ms, log, newIdOf);
    const base = partition.checkpoints[0];
    partition.tentative = base ? mergeSorted(partition.tentative, incoming).filter((e) => e.event.time > base.ms) : [];
    this.prune(partition);
  }

  /** Map a replay's signals to emitted ids and report the differences. */
  private reconcile(partition: Partition, candidates: readonly Signal[], openAtCheckpoint: ReadonlySet<string>, checkpointMs: number, log: ChangeLog, newIdOf?: (batchId: string) => string): void {
    const eligible = new Set<string>();
    for (const [id, t] of partition.tracked) if (openAtCheckpoint.has(t.batchId) || lastSeenMs(t.signal) > checkpointMs) eligible.add(id);
    const { assignments, orphans } = assignEmittedIds({ candidates, tracked: partition.tracked, byBatch: partition.byBatch, eligible, ...(newIdOf ? { newIdOf } : {}) });
    for (const { emittedId, batchId, signal } of assignments) this.record(partition, emittedId, batchId, signal, log);
    for (const id of orphans) {
      const t = partition.tracked.get(id);
      if (!t) continue;
      // Withdrawn: reported once more, naming the signals that now hold its events.
      const { replacedBy: before, ...rest } = t.signal;
      const signal: Signal = { ...rest, replacedBy: replacementsOf(t.signal, assignments) };
      if (before === undefined) this.counters.signalsOrphaned++;
      if (isSameJson(t.signal, signal)) continue;
      partition.tracked.set(id, { batchId: t.batchId, signal });
      this.counters.signalsUpdated++;
      log.add('updated', signal);
    }
  }

  /** Report the changes of an in-order evaluation (batch ids) under their emitted ids. */
  private apply(partition: Partition, changes: readonly SignalChange[], log: ChangeLog, newIdOf?: (batchId: string) => string): void {
    for (const { signal } of changes) {
      const known = partition.byBatch.get(signal.id);
      const isTaken = (id: string): boolean => partition.tracked.has(id);
      const wanted = newIdOf ? newIdOf(signal.id) : signal.id;
      const emittedId = known ?? (isTaken(wanted) ? freshId(wanted, isTaken) : wanted);
      this.record(partition, emittedId, signal.id, emittedId === signal.id ? signal : { ...signal, id: emittedId }, log);
    }
  }

  private record(partition: Partition, emittedId: string, batchId: string, signal: Signal, log: ChangeLog): void {
    const before = partition.tracked.get(emittedId);
    if (before && before.batchId !== batchId && partition.byBatch.get(before.batchId) === emittedId) partition.byBatch.delete(before.batchId);
    partition.tracked.set(emittedId, { batchId, signal });
    partition.byBatch.set(batchId, emittedId);
    if (emittedId !== batchId && before?.batchId !== batchId) this.counters.signalsRenamed++;
    if (!before) {
      this.counters.signalsCreated++;
      log.add('created', signal);
    } else if (!isSameJson(before.signal, signal)) {
      this.counters.signalsUpdated++;
      log.add('updated', signal);
    }
  }

  /** Add the render / evaluation errors the engine counted since `before`. */
  private addErrors(engine: DetectionEngine, before: ErrorCounts): void {
    const after = errorCounts(engine);
    this.counters.renderErrors += after.render - before.render;
    this.counters.evaluationErrors += after.evaluation - before.evaluation;
  }

  /**
   * Forget followed signals no replay can change any more: keep those open in the partition's
   * engine, and, while it has a base checkpoint, those open at it and those with an event after it.
   */
  private prune(partition: Partition): void {
    const open = new Set(partition.engine.signals().map((s) => s.id));
    const base = partition.checkpoints[0];
    const openAtBase = new Set(base ? base.state.signals.map((s) => s.id) : []);
    for (const [id, t] of partition.tracked) {
      const isKept = open.has(t.batchId) || (base !== undefined && (openAtBase.has(t.batchId) || lastSeenMs(t.signal) > base.ms));
      if (isKept) continue;
      partition.tracked.delete(id);
      if (partition.byBatch.get(t.batchId) === id) partition.byBatch.delete(t.batchId);
    }
  }

  /** Settle, move base checkpoints up, sweep and drop partitions as the watermark moves. */
  private maintain(watermark: number, log: ChangeLog): void {
    for (const [rule, byKey] of this.partitions) {
      for (const [key, partition] of byKey) {
        if (partition.checkpoints.length > 0) {
          if (partition.evaluatedToMs <= watermark) this.settle(partition, watermark, log);
          else this.moveBase(partition, watermark);
          continue;
        }
        if (partition.incoming.length > 0 || watermark - partition.evaluatedToMs < SWEEP_EVERY_MS) continue;
        this.sweep(partition, watermark, log);
        if (!rule.isWholeRule && partition.tracked.size === 0 && isEmptyEngine(partition.engine)) byKey.delete(key);
      }
      if (byKey.size === 0) this.partitions.delete(rule);
    }
  }

  /** Every event of the partition is at or before the watermark: no replay can happen any more. */
  private settle(partition: Partition, watermark: number, log: ChangeLog): void {
    partition.checkpoints = [];
    partition.tentative = [];
    this.sweep(partition, watermark, log);
  }

  /** The latest checkpoint at or before the watermark becomes the base; older ones and their events go. */
  private moveBase(partition: Partition, watermark: number): void {
    let index = 0;
    partition.checkpoints.forEach((c, i) => {
      if (c.ms <= watermark) index = i;
    });
    if (index === 0) return;
    partition.checkpoints = partition.checkpoints.slice(index);
    const base = partition.checkpoints[0];
    if (base) partition.tentative = partition.tentative.filter((e) => e.event.time > base.ms);
    this.prune(partition);
  }

  /** Advance a settled partition's engine to the watermark (it closes signals and drops old state). */
  private sweep(partition: Partition, watermark: number, log: ChangeLog): void {
    const errors = errorCounts(partition.engine);
    this.apply(partition, partition.engine.advanceTo(watermark), log);
    this.addErrors(partition.engine, errors);
    partition.evaluatedToMs = watermark;
    this.prune(partition);
  }

  private pruneEventIds(watermark: number): void {
    if (this.dedupPrunedAtMs !== null && watermark - this.dedupPrunedAtMs < DEDUP_PRUNE_EVERY_MS) return;
    this.dedupPrunedAtMs = watermark;
    const limit = watermark - this.options.dedupRetentionMs;
    for (const [id, time] of this.recentEventIds) if (time <= limit) this.recentEventIds.delete(id);
  }

  // ----- reading -----------------------------------------------------------------------------

  watermark(): number | null {
    return this.watermarkMs;
  }

  signals(): Signal[] {
    const signals: Signal[] = [];
    for (const byKey of this.partitions.values()) for (const p of byKey.values()) for (const t of p.tracked.values()) signals.push(t.signal);
    return signals.sort(compareSignals);
  }

  newValueHistory(): NewValueHistory {
    const rules = [...this.otherNewValues];
    for (const [rule, byKey] of this.partitions) {
      if (!rule.isWholeRule) continue;
      for (const p of byKey.values()) rules.push(...p.engine.newValueHistory().rules.filter((r) => r.ruleId === rule.rule.id));
    }
    rules.sort((a, b) => (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0));
    return { version: NEW_VALUE_HISTORY_VERSION, rules };
  }

  get stats(): LiveEngineStats {
    let heldEvents = 0;
    let signalGroups = 0;
    let trackedSignals = 0;
    for (const byKey of this.partitions.values()) {
      for (const p of byKey.values()) {
        signalGroups++;
        heldEvents += p.tentative.length + p.incoming.length;
        trackedSignals += p.tracked.size;
      }
    }
    return {
      ...this.countersState(),
      watermarkMs: this.watermarkMs,
      newestEventMs: this.newestMs,
      heldEvents,
      signalGroups,
      trackedSignals,
      rememberedEventIds: this.recentEventIds.size,
    };
  }

  private countersState(): LiveEngineCounters {
    const c = this.counters;
    return { ...c, matchedByRule: Object.fromEntries(c.matchedByRule), missingGroupByRule: Object.fromEntries(c.missingGroupByRule) };
  }

  // ----- state -------------------------------------------------------------------------------

  snapshot(): LiveEngineState {
    const groups: LiveGroupState[] = [];
    const positions = new Map<Partition, number>();
    for (const byKey of this.partitions.values()) {
      for (const p of byKey.values()) {
        positions.set(p, groups.length);
        groups.push({
          ruleId: p.rule.rule.id,
          key: p.key,
          engine: p.engine.snapshot(),
          evaluatedToMs: Number.isFinite(p.evaluatedToMs) ? p.evaluatedToMs : null,
          checkpoints: p.checkpoints.map((c) => ({ ms: c.ms, engine: c.state })),
          tentative: p.tentative.map(eventState),
          incoming: p.incoming.map(eventState),
          signals: [...p.tracked.values()].map((t) => ({ batchId: t.batchId, signal: t.signal })),
        });
      }
    }
    return {
      version: LIVE_ENGINE_STATE_VERSION,
      allowedLatenessMs: this.allowedLatenessMs,
      newestEventMs: this.newestMs,
      watermarkMs: this.watermarkMs,
      nextSeq: this.nextSeq,
      hasFinished: this.hasFinished,
      recentEventIds: [...this.recentEventIds],
      dedupPrunedAtMs: this.dedupPrunedAtMs,
      groups,
      incomingOrder: [...this.touched].flatMap((p) => {
        const position = positions.get(p);
        return position === undefined ? [] : [position];
      }),
      newValues: { version: NEW_VALUE_HISTORY_VERSION, rules: [...this.otherNewValues] },
      counters: this.countersState(),
    };
  }

  /** Load a snapshot into this (fresh) engine. Groups of rules it does not have are dropped. */
  load(state: LiveEngineState): void {
    const version: unknown = state.version;
    if (version !== LIVE_ENGINE_STATE_VERSION) {
      throw new TrailhoundError('E_LIVE_ENGINE_STATE_VERSION', `Live engine state version ${JSON.stringify(version)} is not supported (expected ${LIVE_ENGINE_STATE_VERSION}); start from an empty state.`);
    }
    this.newestMs = state.newestEventMs;
    this.watermarkMs = state.watermarkMs;
    this.nextSeq = state.nextSeq;
    this.hasFinished = state.hasFinished;
    this.dedupPrunedAtMs = state.dedupPrunedAtMs;
    for (const [id, time] of state.recentEventIds) this.recentEventIds.set(id, time);
    const { matchedByRule, missingGroupByRule, rulesSkippedAsDisabled: _disabled, rulesSkippedAsDuplicateId: _duplicate, ...numbers } = state.counters;
    Object.assign(this.counters, numbers);
    for (const [k, v] of Object.entries(matchedByRule)) this.counters.matchedByRule.set(k, v);
    for (const [k, v] of Object.entries(missingGroupByRule)) this.counters.missingGroupByRule.set(k, v);
    const held = new Set(state.groups.filter((g) => this.rulesById.get(g.ruleId)?.isWholeRule === true).map((g) => g.ruleId));
    this.otherNewValues = state.newValues.rules.filter((r) => !held.has(r.ruleId));

    const loaded: (Partition | undefined)[] = state.groups.map((g) => {
      const rule = this.rulesById.get(g.ruleId);
      if (!rule) return undefined;
      let byKey = this.partitions.get(rule);
      if (!byKey) {
        byKey = new Map();
        this.partitions.set(rule, byKey);
      }
      const tracked = new Map<string, TrackedSignal>(g.signals.map((t) => [t.signal.id, { batchId: t.batchId, signal: t.signal }]));
      const partition: Partition = {
        rule,
        key: g.key,
        engine: restoreEngine([rule.rule], g.engine, this.partitionOptions(rule, g.key)),
        evaluatedToMs: g.evaluatedToMs ?? -Infinity,
        checkpoints: g.checkpoints.map((c) => ({ ms: c.ms, state: c.engine })),
        tentative: g.tentative.map(liveEventOf),
        incoming: g.incoming.map(liveEventOf),
        tracked,
        byBatch: new Map([...tracked].map(([id, t]) => [t.batchId, id])),
      };
      byKey.set(g.key, partition);
      return partition;
    });
    for (const position of state.incomingOrder) {
      const partition = loaded[position];
      if (partition && partition.incoming.length > 0) this.touched.add(partition);
    }
    for (const partition of loaded) if (partition && partition.incoming.length > 0) this.touched.add(partition);
  }
}

interface ErrorCounts {
  readonly render: number;
  readonly evaluation: number;
}

function errorCounts(engine: DetectionEngine): ErrorCounts {
  const stats = engine.stats;
  return { render: stats.renderErrors, evaluation: stats.evaluationErrors };
}

/** Ids of signals first raised by an evaluation with too-late events: from the batch id and the first such event's arrival number. */
function lateId(seq: number): (batchId: string) => string {
  return (batchId) => stableHash(JSON.stringify(['trailhound-late', batchId, seq]));
}

function isEmptyEngine(engine: DetectionEngine): boolean {
  if (engine.signals().length > 0) return false;
  const state = engine.snapshot();
  return state.groups.length === 0 && state.pending.length === 0;
}

function mergeSorted(a: readonly LiveEvent[], b: readonly LiveEvent[]): LiveEvent[] {
  const out: LiveEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x && (!y || compareOrder(x, y) <= 0)) {
      out.push(x);
      i++;
    } else if (y) {
      out.push(y);
      j++;
    }
  }
  return out;
}

function eventState(e: LiveEvent): LiveEventState {
  return { seq: e.seq, time: e.event.time, key: e.event.key, eventId: e.event.eventId ?? null, fields: e.event.fields, origin: { source: e.event.origin.source, index: e.event.origin.index } };
}

function liveEventOf(s: LiveEventState): LiveEvent {
  const event: TrailEvent = { fields: s.fields, time: s.time, key: s.key, origin: { ...s.origin }, ...(s.eventId === null ? {} : { eventId: s.eventId }) };
  return { seq: s.seq, event };
}

/**
 * A live engine over `rules` (disabled rules are skipped and counted). Throws `TrailhoundError`
 * (`E_LIVE_OPTIONS`) for options that are not valid.
 */
export function createLiveEngine(rules: readonly CompiledRule[], options?: LiveEngineOptions): LiveDetectionEngine {
  return new LiveEngine(rules, options);
}

/**
 * A live engine over `rules` that continues exactly from `state` (a `snapshot()`, possibly through
 * JSON; check untrusted state with `parseLiveEngineState` first). State of rules not in `rules` is
 * dropped. Throws `TrailhoundError` (`E_LIVE_ENGINE_STATE_VERSION`) for another version.
 */
export function restoreLiveEngine(rules: readonly CompiledRule[], state: LiveEngineState, options?: LiveEngineOptions): LiveDetectionEngine {
  const engine = new LiveEngine(rules, options);
  engine.load(state);
  return engine;
}
