import type { JsonObject, Severity } from '../core/types.js';
import type { CompiledQuery } from '../query/types.js';
import type { RuleTest } from './tests.js';

/** Datadog's allowed evaluation windows, keep-alives and max signal durations, in seconds. */
export const DATADOG_WINDOWS_SECONDS = [0, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400] as const;

export type DetectionMethod = 'threshold' | 'new_value' | 'sequence_detection';
/** `count` (the default); `cardinality` (distinct values of `distinctFields`); `sum` / `max` of `metrics`; `new_value` (new_value rules). */
export type Aggregation = 'count' | 'cardinality' | 'sum' | 'max' | 'new_value';

export interface RuleQuery {
  /** `a`, `b`, … when the rule does not name it. */
  readonly name: string;
  readonly query: CompiledQuery;
  readonly aggregation: Aggregation;
  /** Fields as written in the rule, e.g. `@userIdentity.arn`. */
  readonly groupByFields: readonly string[];
  readonly distinctFields: readonly string[];
  readonly hasOptionalGroupByFields: boolean;
  /** Fields summed / maxed (`sum`, `max`) or learned (`new_value`): Datadog's `metrics` (or its deprecated `metric`). Absent: none. */
  readonly metrics?: readonly string[];
  /** trailhound extension: every value of a group-by field counts, one group per value (src/engine/fan-out.ts). Absent: false. */
  readonly hasGroupByFanOut?: boolean;
}

/** A case condition compiled to a predicate over per-query counts. */
export interface CompiledCondition {
  readonly text: string;
  /** Query names the condition reads. */
  readonly queryNames: readonly string[];
  holds(counts: Readonly<Record<string, number>>): boolean;
}

export interface RuleCase {
  readonly name: string;
  readonly status: Severity;
  readonly condition: CompiledCondition;
}

/** Values a template can read when rendering a signal's title or message. */
export interface TemplateContext {
  /** The signal's latest event (normalised fields), or null. */
  readonly event: JsonObject | null;
  readonly ruleName: string;
  readonly caseName: string;
  readonly eventsMatched: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly host: string | null;
  /** Per query name, how many of the signal's events match it (`{{events_matched_per_query.NAME}}`); optional for older callers. */
  readonly eventsMatchedPerQuery?: Readonly<Record<string, number>>;
  /** The signal's group values keyed by the field as written in the rule (extended titles); optional for older callers. */
  readonly group?: Readonly<Record<string, string>>;
}

export interface CompiledTemplate {
  readonly source: string;
  render(context: TemplateContext): string;
  /**
   * Attribute paths (without `@`) the template reads from the event; absent when not known, in
   * which case the engine keeps every field of a signal's latest event for it (projection.ts).
   */
  readonly attributes?: readonly string[];
}

export interface RuleOptions {
  readonly detectionMethod: DetectionMethod;
  /** Seconds of event time over which query counts are taken. */
  readonly evaluationWindow: number;
  /** Seconds without a new match after which an open signal closes. */
  readonly keepAlive: number;
  /** Seconds after its first event at which a signal closes whatever happens. */
  readonly maxSignalDuration: number;
  /** Datadog's `options.decreaseCriticalityBasedOnEnv`: severity one step lower for events of a non-production environment (docs/detection.md). */
  readonly decreaseCriticalityBasedOnEnv?: boolean;
  /** `new_value` rules only (Datadog's `options.newValueOptions`, checked and defaulted). */
  readonly newValueOptions?: NewValueOptions;
  /** `sequence_detection` rules only (Datadog's `options.sequenceDetectionOptions`, checked; see src/engine/sequence.ts). */
  readonly sequenceDetectionOptions?: SequenceDetectionOptions;
}

/** One step of a sequence rule: its condition over query counts, taken over its own window. */
export interface SequenceStep {
  readonly name: string;
  readonly condition: CompiledCondition;
  /** Seconds of event time over which the step's condition counts events. */
  readonly evaluationWindow: number;
}

/** `child` must happen at most `evaluationWindow` seconds after `parent` (equal times count as in order). */
export interface SequenceTransition {
  readonly parent: string;
  readonly child: string;
  readonly evaluationWindow: number;
}

/** Datadog's sequence options, checked: a linear chain. */
export interface SequenceDetectionOptions {
  /** In chain order: `steps[0]` is the entry step, the last one the terminal step. */
  readonly steps: readonly SequenceStep[];
  /** `stepTransitions[i]` leads from `steps[i]` to `steps[i + 1]`. */
  readonly stepTransitions: readonly SequenceTransition[];
}

/** Datadog's new value options; days as Datadog writes them (see docs/detection.md, "New value"). */
export interface NewValueOptions {
  /** Days, from the rule's first event, during which values are learned without signals (`duration` method): 0, 1 or 7. */
  readonly learningDuration: number;
  /** Days after which a value not seen again is forgotten (and is new again): 1, 2, 7, 14, 21 or 28. */
  readonly forgetAfter: number;
  readonly learningMethod: 'duration' | 'threshold';
  /** `threshold` method: events of a group learned before its new values raise signals: 0 or 1. */
  readonly learningThreshold: number;
}

export interface CompiledRule {
  readonly id: string;
  readonly name: string;
  readonly isEnabled: boolean;
  readonly tags: readonly string[];
  readonly message: CompiledTemplate;
  /** The signal title: the rule name, rendered as a template. */
  readonly title: CompiledTemplate;
  readonly queries: readonly RuleQuery[];
  /** The group-by fields shared by every query (validated equal at load). */
  readonly groupByFields: readonly string[];
  readonly hasOptionalGroupByFields: boolean;
  /** trailhound extension shared by every query (validated equal at load): group-by fields fan out over their values. Absent: false. */
  readonly hasGroupByFanOut?: boolean;
  /**
   * Datadog's `groupSignalsBy`: a subset of `groupByFields`. Cases are still evaluated per group, but
   * a group whose case holds joins the open signal of its `groupSignalsBy` values, so one signal
   * collects the sub-groups. Absent or empty: one signal per group (docs/detection.md).
   */
  readonly groupSignalsBy?: readonly string[];
  readonly cases: readonly RuleCase[];
  readonly options: RuleOptions;
  /** Rule file it came from (for diagnostics). */
  readonly file: string;
  /** The rule's tests (its file's `tests:` list, checked), when it has any; see src/rules/tests.ts. */
  readonly tests?: readonly RuleTest[];
}
