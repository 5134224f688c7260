/**
 * Shared types of the whole pipeline. No I/O here: everything is plain, serialisable data so that
 * engine state and signals can cross worker threads, processes and (later) Redis.
 */

/** A JSON value as it comes out of `JSON.parse`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Where a record came from, for diagnostics and for `eventIds` provenance. */
export interface RecordOrigin {
  /** File path, `-` for stdin, or another source's locator (s3://…). */
  readonly source: string;
  /** Zero-based index of the record inside its source. */
  readonly index: number;
}

/**
 * One CloudTrail record after normalisation: `fields` is the raw record with Datadog's derived
 * attributes added (see src/fields/catalogue.ts). Queries read `fields`.
 */
export interface TrailEvent {
  readonly fields: JsonObject;
  /** eventTime in epoch milliseconds. */
  readonly time: number;
  /** CloudTrail eventID; absent on old eventVersion 1.0 records. */
  readonly eventId?: string;
  /** A stable key for ordering and dedup when eventID is absent (content hash). */
  readonly key: string;
  readonly origin: RecordOrigin;
}

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);
}

/** A signal raised by a rule for one group. Plain data: this is what sinks serialise. */
export interface Signal {
  /** Deterministic id: the same input gives the same id. */
  readonly id: string;
  readonly ruleId: string;
  readonly ruleName: string;
  readonly severity: Severity;
  /** Name of the case that raised (or last escalated) the signal; may be empty. */
  readonly caseName: string;
  readonly title: string;
  /** The rule's message rendered against the signal's latest event. */
  readonly message: string;
  /** Group-by values keyed by the field as written in the rule (`@userIdentity.arn`). */
  readonly group: Readonly<Record<string, string>>;
  readonly host: string | null;
  /** ISO 8601. */
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly eventCount: number;
  readonly queryCounts: Readonly<Record<string, number>>;
  readonly eventIds: readonly string[];
  readonly tags: readonly string[];
  /** How many times the signal was updated after it was created. */
  readonly updates: number;
  /**
   * Sequence rules only: per step name, the ids (eventId, else key) of the events that made up the
   * step, in evaluation order. An event can make up several steps.
   */
  readonly steps?: Readonly<Record<string, readonly string[]>>;
  /** Sequence rules only: every distinct caller of the signal's events, in order of first appearance. */
  readonly actors?: readonly SignalActor[];
  /**
   * Set only on a signal a suppression entry matched, which `scan` prints only with
   * `--show-suppressed`; absent on every other signal.
   */
  readonly status?: 'suppressed';
  /** With `status: suppressed`: the entry that matched, with its reason. */
  readonly suppression?: SignalSuppression;
  /**
   * Live mode only (src/engine/live.ts): set on an already emitted signal when events that arrived
   * later, within the allowed lateness, showed that a run in event-time order does not raise it
   * (typically: a late event joined it and another signal into one). Lists the ids of the signals
   * its events now belong to (empty when none). Consumers treat it as withdrawn in favour of those.
   * Absent on every other signal.
   */
  readonly replacedBy?: readonly string[];
}

/** Why a signal is suppressed: the suppression entry that matched it (docs/suppressions.md). */
export interface SignalSuppression {
  readonly reason: string;
  /** `file:line:column` of the entry. */
  readonly source: string;
  readonly name?: string;
  readonly owner?: string;
  /** The entry's `expires`, as written. */
  readonly expires?: string;
}

/** Who made one of a signal's API calls: `userIdentity.arn` and the derived `userIdentity.session_name`. */
export interface SignalActor {
  readonly arn: string | null;
  readonly sessionName: string | null;
}

/** Stable codes for everything a user can get wrong; documented in docs/diagnostics.md. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

export interface Diagnostic {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** File (or other source) the problem is in. */
  readonly file?: string;
  /** JSON-path-like location inside a structured document, e.g. `queries[1].query`. */
  readonly path?: string;
  readonly position?: SourcePosition;
  /** What to do about it. */
  readonly hint?: string;
}

export type Result<T> = { readonly ok: true; readonly value: T; readonly diagnostics: readonly Diagnostic[] } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

export function ok<T>(value: T, diagnostics: readonly Diagnostic[] = []): Result<T> {
  return { ok: true, value, diagnostics };
}

export function fail<T>(diagnostics: readonly Diagnostic[]): Result<T> {
  return { ok: false, diagnostics };
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = [d.file, d.position ? `${d.position.line}:${d.position.column}` : undefined].filter(Boolean).join(':');
  const path = d.path ? ` (${d.path})` : '';
  const hint = d.hint ? `\n  hint: ${d.hint}` : '';
  return `${where ? `${where}: ` : ''}${d.severity} ${d.code}${path}: ${d.message}${hint}`;
}
