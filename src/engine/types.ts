/**
 * Contracts of the detection engine: its options, its public interface, its statistics and the
 * plain-data shape of its state (what `snapshot()` returns and `restoreEngine()` takes).
 *
 * Everything in `EngineState` is JSON: numbers are finite, there is no `undefined`, no Map or Set,
 * so `JSON.parse(JSON.stringify(state))` is the same state (the Redis runtime relies on it).
 */
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { NewValueHistory } from './new-value.js';

export interface EngineOptions {
  /**
   * Keep closed signals so that `signals()` can list every signal raised so far (default true,
   * what a batch scan wants). A long-running watcher sets it to false: a closed signal has already
   * been reported through the changes of `advanceTo`, and dropping it keeps the state bounded by
   * the window contents plus the open signals; `signals()` then lists open signals only.
   */
  readonly retainClosedSignals?: boolean;
  /**
   * The environment of an event, for rules with `decreaseCriticalityBasedOnEnv` (a case that holds on
   * an event of a staging/test/dev environment is one severity lower). Default: the event's `env`
   * attribute only; `scan --config` adds the per-account map (rules/environment.ts).
   */
  readonly environmentOf?: (fields: JsonObject) => string | undefined;
  /**
   * What new_value rules learned before (a saved `newValueHistory()`, e.g. from `scan --state`):
   * their learning continues from it instead of starting afresh. Default: nothing learned.
   */
  readonly newValueHistory?: NewValueHistory;
  /**
   * Drop a matching event whose `eventId` was already ingested (default true). The live engine
   * (live.ts) sets it to false in its per-group engines: it deduplicates itself, with a bounded
   * memory, before routing events to them.
   */
  readonly isDeduplicating?: boolean;
  /**
   * Which groups the engine evaluates: a matching event takes part only in the groups this accepts
   * (default: every group). The live engine (live.ts) gives each of its per-group engines the
   * groups of one signal group, so an event that fans out to several groups is evaluated once in
   * each, by the engine that owns it.
   */
  readonly acceptsGroup?: (ruleId: string, groupValues: readonly string[]) => boolean;
  /**
   * Keep only the members of a matched event's fields that its rules read afterwards (default true;
   * projection.ts). false keeps every field: the same signals, more memory (tests compare both).
   */
  readonly isProjectingFields?: boolean;
}

/** A signal that was created or changed by one `advanceTo` / `finish` call, in its latest version. */
export interface SignalChange {
  readonly kind: 'created' | 'updated';
  readonly signal: Signal;
}

export interface EngineStats {
  /** Calls to `ingest`. */
  readonly eventsIngested: number;
  /** Events (duplicates excluded) that matched at least one query of at least one rule. */
  readonly eventsMatched: number;
  /** Per rule id: events (duplicates excluded) that matched at least one of the rule's queries. */
  readonly matchedByRule: Readonly<Record<string, number>>;
  /** Per rule id: matched events ignored because a group-by field was missing. */
  readonly missingGroupByRule: Readonly<Record<string, number>>;
  /** Matching events dropped because their eventId was already ingested. */
  readonly duplicates: number;
  /** Events refused because their `time` is not a usable epoch-millisecond number. */
  readonly invalidEvents: number;
  /** Events ingested with a time at or before the watermark already reached (evaluated late). */
  readonly lateEvents: number;
  /** (event, rule) evaluations done by `advanceTo`. */
  readonly evaluations: number;
  readonly signalsCreated: number;
  readonly signalsUpdated: number;
  readonly signalsClosed: number;
  /** Title or message templates that threw or returned a non-string (a fallback text was used). */
  readonly renderErrors: number;
  /** Query matchers or case conditions that threw (treated as "no match" / "does not hold"). */
  readonly evaluationErrors: number;
  /** Rules given to the engine with `isEnabled: false`. */
  readonly rulesSkippedAsDisabled: number;
  /** Enabled rules skipped because an earlier rule has the same id. */
  readonly rulesSkippedAsDuplicateId: number;
}

export interface DetectionEngine {
  /** Match the event against the rules (via the index) and buffer it where it matched. Cheap when nothing matches. */
  /**
   * `onlyRules`: the ids of the rules the event is known to match (a scan's read side matched it
   * already); the others are not tried. Absent: every rule the index gives is tried.
   */
  ingest(event: TrailEvent, onlyRules?: ReadonlySet<string>): void;
  /** Evaluate, in event-time order, every buffered event with time <= watermarkMs; returns signal changes. */
  advanceTo(watermarkMs: number): SignalChange[];
  /** advanceTo(+Infinity), then close every open signal; returns the changes. */
  finish(): SignalChange[];
  /** Every signal raised so far, in its latest version, in a deterministic order (firstSeen, ruleId, id). */
  signals(): Signal[];
  /** JSON-serialisable: `JSON.parse(JSON.stringify(s))` restores to an equal engine. */
  snapshot(): EngineState;
  /** What new_value rules have learned so far (plain JSON), to save and give to a later engine. */
  newValueHistory(): NewValueHistory;
  readonly stats: EngineStats;
  /** Rules that could not be indexed by event name and run on every event (the CLI warns about them). */
  readonly unindexedRules: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// State (version 1)

export const ENGINE_STATE_VERSION = 1;

/** How one buffered event matched one rule. */
export interface PendingMatchState {
  readonly ruleId: string;
  /** Names of the rule's queries the event matched (at least one). */
  readonly queries: readonly string[];
  /** Group-by values in the order of the rule's `groupByFields` (already stringified, `N/A` when optional and missing). */
  readonly groupValues: readonly string[];
}

/** An ingested event that matched at least one rule and is waiting for `advanceTo`. */
export interface PendingEventState {
  /** Arrival number: breaks ties between events with equal time and equal key. */
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  readonly eventId: string | null;
  readonly fields: JsonObject;
  readonly matches: readonly PendingMatchState[];
}

/** An evaluated event still inside its group's window. Fields are not kept: only what counting needs. */
export interface WindowEntryState {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  /** eventId, or key when the event has none: what goes into `Signal.eventIds`. */
  readonly ref: string;
  readonly queries: readonly string[];
  /** The event's `host` field, or null. */
  readonly host: string | null;
  /** Id of the open (or since-closed) signal the event joined, or null. */
  readonly signalId: string | null;
  /** Cardinality / sum / max queries: what the event adds to each query's aggregate, by query name (src/engine/aggregate.ts). */
  readonly aggregates?: Readonly<Record<string, readonly string[] | number>> | undefined;
}

/** Where an event sits in the evaluation order (time, then key, then arrival). */
export interface EventOrderState {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
}

export interface OpenSignalState {
  readonly signalId: string;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** The signal's latest event: templates are rendered against its fields. */
  readonly latest: EventOrderState & { readonly fields: JsonObject };
  /** The latest signal event that carried a host (null when none did). */
  readonly hostFrom: EventOrderState | null;
}

export interface GroupState {
  readonly ruleId: string;
  readonly groupValues: readonly string[];
  /** Evaluated events of the group still inside a window, in evaluation order. */
  readonly window: readonly WindowEntryState[];
  readonly open: OpenSignalState | null;
  /** A late event was inserted into the window (updates then scan the whole window). */
  readonly hasLateEntries: boolean;
  /** Sequence rules only: the group's step state (src/engine/sequence.ts). */
  readonly sequence?: SequenceGroupState;
}

/** An evaluated event of a sequence group, kept while a step or a pending step can still use it. */
export interface SequenceEntryState {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  readonly ref: string;
  readonly queries: readonly string[];
  readonly host: string | null;
  /** `userIdentity.arn` and `userIdentity.session_name` of the event, for `Signal.actors`. */
  readonly arn: string | null;
  readonly sessionName: string | null;
  readonly signalId: string | null;
}

/** A non-terminal step that happened and may still lead to its child step. */
export interface SequenceFireState {
  readonly step: string;
  /** The event at which the step's condition held. */
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  /** For each step of the chain so far (entry step first), the `seq` of the entries that made it up. */
  readonly chain: readonly (readonly number[])[];
}

export interface SequenceGroupState {
  /** Evaluated events still within the rule's horizon, in evaluation order. */
  readonly entries: readonly SequenceEntryState[];
  readonly fires: readonly SequenceFireState[];
}

export interface EngineState {
  readonly version: typeof ENGINE_STATE_VERSION;
  /** The highest finite watermark reached, or null before the first `advanceTo`. */
  readonly watermarkMs: number | null;
  /** True once the engine advanced to +Infinity (`finish`). */
  readonly hasReachedEnd: boolean;
  readonly nextSeq: number;
  /** eventIds of every matching event ingested so far (the dedup memory). */
  readonly seenEventIds: readonly string[];
  readonly pending: readonly PendingEventState[];
  readonly groups: readonly GroupState[];
  /** Every retained signal in its latest version, in creation order. */
  readonly signals: readonly Signal[];
  readonly stats: EngineStats;
  /** What new_value rules have learned (absent in snapshots from before new_value support). */
  readonly newValues?: NewValueHistory | undefined;
}

