/**
 * Contracts of the engine's live mode (live.ts): its options, its public interface, its statistics
 * (what a /metrics endpoint reads) and the plain-data shape of its state (`snapshot()` /
 * `restoreLiveEngine()`; `parseLiveEngineState` in live-state.ts checks it when it comes from disk).
 *
 * As for `EngineState`, everything in `LiveEngineState` is JSON: no `undefined`, no Map or Set, no
 * non-finite number, so `JSON.parse(JSON.stringify(state))` is the same state.
 */
import type { JsonObject, RecordOrigin, Signal, TrailEvent } from '../core/types.js';
import type { NewValueHistory } from './new-value.js';
import type { EngineOptions, EngineState, SignalChange } from './types.js';

/** The watermark trails the newest event time by this much unless told otherwise: 60 minutes. */
export const DEFAULT_ALLOWED_LATENESS_MS = 3_600_000;
/** The largest allowed lateness accepted: 7 days (state is kept for that long). */
export const MAX_ALLOWED_LATENESS_MS = 7 * 86_400_000;
/** With a `now` clock: events further ahead of it than this are refused, unless told otherwise. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 900_000;

export interface LiveEngineOptions {
  /**
   * How far behind the newest event time the watermark trails (default 60 minutes). An event
   * whose time is after the watermark when it arrives is "in time": the final signals are those
   * `scan` gives. An event at or before it is late: evaluated against what is kept, and counted.
   */
  readonly allowedLatenessMs?: number;
  /**
   * eventIDs of matched events are remembered (for deduplication) until the watermark passes
   * their time by this much (default: `allowedLatenessMs`).
   */
  readonly dedupRetentionMs?: number;
  /** As `EngineOptions.environmentOf`. */
  readonly environmentOf?: EngineOptions['environmentOf'];
  /** As `EngineOptions.newValueHistory`: what new_value rules learned before. */
  readonly newValueHistory?: NewValueHistory;
  /**
   * The wall clock in epoch ms, when there is one (the engine itself never reads the time). With
   * it, an event more than `maxFutureSkewMs` ahead of `now()` is refused (counted in
   * `stats.futureEvents`): one record with a time in year 9999 would otherwise push the
   * watermark so far that every later event is late.
   */
  readonly now?: () => number;
  /** See `now` (default 15 minutes). */
  readonly maxFutureSkewMs?: number;
}

/**
 * The engine in live mode. Events go in with `ingest` (cheap: match, deduplicate, route); each
 * `process()` evaluates everything ingested so far and returns the signal changes at once, without
 * waiting for the watermark; a later event that changes the picture (a late StopInstances that
 * completes an attack) replays the affected signal group and reports only what really changed.
 * An emitted signal keeps its id for ever: sinks deduplicate on it.
 */
export interface LiveDetectionEngine {
  /** Match the event against the rules, drop a duplicate eventID, and queue it for `process()`. Never throws. */
  ingest(event: TrailEvent): void;
  /**
   * Evaluate every event ingested since the last call, advance the watermark to the newest event
   * time minus the allowed lateness, and return the changes: `created` the first time a signal id
   * is emitted, `updated` after, one per signal touched, in order of first touch, each in its
   * latest version.
   */
  process(): SignalChange[];
  /**
   * The end of the stream (tests, `watch --once`): `process()`, then close every signal. Later
   * events are counted as late and not evaluated; `signals()` keeps listing the final versions.
   */
  finish(): SignalChange[];
  /** Newest event time minus the allowed lateness as of the last `process()`, or null before any event. */
  watermark(): number | null;
  /** The latest emitted version of every signal the engine still follows (open ones, and those a replay may still change). */
  signals(): Signal[];
  /** Everything, as JSON-safe plain data: `restoreLiveEngine` continues exactly from it. */
  snapshot(): LiveEngineState;
  /** What new_value rules have learned so far (plain JSON), as `DetectionEngine.newValueHistory`. */
  newValueHistory(): NewValueHistory;
  readonly stats: LiveEngineStats;
  /** Rules that could not be indexed by event name and run on every event. */
  readonly unindexedRules: readonly string[];
  readonly allowedLatenessMs: number;
}

/** Counters (they only grow, and are part of the state). */
export interface LiveEngineCounters {
  /** Calls to `ingest`. */
  readonly eventsIngested: number;
  /** Events refused because their time, fields or key are not usable. */
  readonly invalidEvents: number;
  /** Events refused because their time is too far ahead of the `now` clock. */
  readonly futureEvents: number;
  /** Events (duplicates excluded) that matched at least one query of at least one rule. */
  readonly eventsMatched: number;
  /** Per rule id: events (duplicates excluded) that matched at least one of the rule's queries. */
  readonly matchedByRule: Readonly<Record<string, number>>;
  /** Per rule id: matched events ignored because a group-by field was missing. */
  readonly missingGroupByRule: Readonly<Record<string, number>>;
  /** Matching events dropped because their eventID was seen recently. */
  readonly duplicates: number;
  /** Valid events that arrived with a time at or before the watermark: later than the allowed lateness. */
  readonly lateEvents: number;
  /** Of the late events, those that matched a rule: evaluated against what is kept (results may differ from `scan`). */
  readonly tooLateEvents: number;
  /** (event, signal group) pairs that arrived behind a later event of the signal group already evaluated. */
  readonly outOfOrderEvents: number;
  /** Signal groups replayed from their checkpoint because of an out-of-order event. */
  readonly replays: number;
  /** Events evaluated again by replays (the cost of lateness). */
  readonly replayedEvents: number;
  /** `created` changes returned. */
  readonly signalsCreated: number;
  /** `updated` changes returned. */
  readonly signalsUpdated: number;
  /** Signals that kept an id other than the one `scan` would give them (an earlier event arrived after they were emitted). */
  readonly signalsRenamed: number;
  /** Emitted signals that a replay no longer raises (left as last emitted; see docs/detection.md). */
  readonly signalsOrphaned: number;
  /** Title or message templates that threw (replays included). */
  readonly renderErrors: number;
  /** Queries or conditions that threw (replays included). */
  readonly evaluationErrors: number;
  readonly rulesSkippedAsDisabled: number;
  readonly rulesSkippedAsDuplicateId: number;
}

export interface LiveEngineStats extends LiveEngineCounters {
  /** `watermark()`. */
  readonly watermarkMs: number | null;
  /** The newest event time ingested, or null. */
  readonly newestEventMs: number | null;
  /** Whole events held: queued for `process()` and kept for replays (bounded by the lateness). */
  readonly heldEvents: number;
  /** Signal groups with state. */
  readonly signalGroups: number;
  /** Signals followed (`signals().length`). */
  readonly trackedSignals: number;
  /** eventIDs remembered for deduplication. */
  readonly rememberedEventIds: number;
}

// ---------------------------------------------------------------------------------------------
// State (version 1)

export const LIVE_ENGINE_STATE_VERSION = 1;

/** An event held for a replay or queued for `process()`. */
export interface LiveEventState {
  /** Arrival number: breaks ties between identical records (equal time and key). */
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  readonly eventId: string | null;
  readonly fields: JsonObject;
  readonly origin: RecordOrigin;
}

/** An emitted signal the engine still follows. */
export interface TrackedSignalState {
  /** The id the batch engine gives it now (equal to `signal.id` unless it was renamed). */
  readonly batchId: string;
  /** Its latest emitted version (`signal.id` is the emitted id; `signal.replacedBy` is set when a replay no longer raises it). */
  readonly signal: Signal;
}

/** One signal group of one rule (the whole rule for new_value rules). */
export interface LiveGroupState {
  readonly ruleId: string;
  /** The signal group's key (group.ts `groupKeyOf` of its values; '' for a whole rule). */
  readonly key: string;
  /** The group's engine, having evaluated every event of `tentative` (and the checkpoint's). */
  readonly engine: EngineState;
  /** The time the group's engine advanced to, or null before its first event. */
  readonly evaluatedToMs: number | null;
  /**
   * The group's engine as of earlier points, oldest first, from which replays start (empty when
   * settled): each holds exactly the events up to `ms`. The first, the base, is at or before the
   * watermark.
   */
  readonly checkpoints: readonly { readonly ms: number; readonly engine: EngineState }[];
  /** Events evaluated after the base checkpoint, in evaluation order. */
  readonly tentative: readonly LiveEventState[];
  /** Events ingested but not yet processed, in arrival order. */
  readonly incoming: readonly LiveEventState[];
  readonly signals: readonly TrackedSignalState[];
}

export interface LiveEngineState {
  readonly version: typeof LIVE_ENGINE_STATE_VERSION;
  /** The allowed lateness the state was made with (informational: the restoring options decide). */
  readonly allowedLatenessMs: number;
  readonly newestEventMs: number | null;
  readonly watermarkMs: number | null;
  readonly nextSeq: number;
  /** True once `finish()` was called. */
  readonly hasFinished: boolean;
  /** Recent eventIDs of matched events with their event time, for deduplication. */
  readonly recentEventIds: readonly (readonly [string, number])[];
  /** The watermark at the last pruning of `recentEventIds`, or null. */
  readonly dedupPrunedAtMs: number | null;
  readonly groups: readonly LiveGroupState[];
  /** Indexes into `groups` of the groups with incoming events, in order of first arrival. */
  readonly incomingOrder: readonly number[];
  /** new_value history of rules no group holds (not loaded, or no event yet). */
  readonly newValues: NewValueHistory;
  readonly counters: LiveEngineCounters;
}
