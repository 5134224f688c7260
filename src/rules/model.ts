import type { JsonObject, Severity } from '../core/types.js';
import type { CompiledQuery } from '../query/types.js';

/** Datadog's allowed evaluation windows, keep-alives and max signal durations, in seconds. */
export const DATADOG_WINDOWS_SECONDS = [0, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400] as const;

export type DetectionMethod = 'threshold';
export type Aggregation = 'count';

export interface RuleQuery {
  /** `a`, `b`, … when the rule does not name it. */
  readonly name: string;
  readonly query: CompiledQuery;
  readonly aggregation: Aggregation;
  /** Fields as written in the rule, e.g. `@userIdentity.arn`. */
  readonly groupByFields: readonly string[];
  readonly distinctFields: readonly string[];
  readonly hasOptionalGroupByFields: boolean;
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
}

export interface CompiledTemplate {
  readonly source: string;
  render(context: TemplateContext): string;
}

export interface RuleOptions {
  readonly detectionMethod: DetectionMethod;
  /** Seconds of event time over which query counts are taken. */
  readonly evaluationWindow: number;
  /** Seconds without a new match after which an open signal closes. */
  readonly keepAlive: number;
  /** Seconds after its first event at which a signal closes whatever happens. */
  readonly maxSignalDuration: number;
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
  readonly cases: readonly RuleCase[];
  readonly options: RuleOptions;
  /** Rule file it came from (for diagnostics). */
  readonly file: string;
}
