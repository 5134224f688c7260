/**
 * The event index: for every CloudTrail record read, the fields an analyst pivots on plus the raw
 * record (compressed by the store), so that `trailhound investigate` can answer "what else did this
 * identity do" without the original log files. Kept for a retention period (`--retain`, 30 days by
 * default) and pruned by event time.
 *
 * Both implementations (sqlite-event-index.ts inside the SQLite store, memory-event-index.ts inside
 * the in-memory one) pass test/conformance/event-index.ts. docs/investigate.md describes the tables.
 */

/** One record's pivot fields. Every string comes from the record: attacker-controlled. */
export interface IndexedEvent {
  /** CloudTrail eventID; null on records without one (deduplicated by their whole text instead). */
  readonly eventId: string | null;
  readonly eventTimeMs: number;
  readonly accountId: string | null;
  readonly region: string | null;
  readonly eventSource: string | null;
  readonly eventName: string | null;
  /** `userIdentity.arn`. */
  readonly identityArn: string | null;
  /** `userIdentity.type` (IAMUser, AssumedRole, Root, AWSService…). */
  readonly identityType: string | null;
  readonly principalId: string | null;
  readonly accessKeyId: string | null;
  /** The IAM user name, the role session name, `root`, or the federated user name. */
  readonly sessionName: string | null;
  /** `userIdentity.sessionContext.sessionIssuer.arn`: the role every session of an assumed role shares. */
  readonly roleArn: string | null;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly errorCode: string | null;
  /** EC2 instances the call names (request `instanceId`, `instancesSet`, and the instances a RunInstances response created). */
  readonly instanceIds: readonly string[];
  readonly isReadOnly: boolean | null;
  /** The record's JSON text. */
  readonly raw: string;
}

/** An indexed event read back: `raw` is null unless the query asked for it (`includeRaw`). */
export type StoredEvent = Omit<IndexedEvent, 'raw'> & { readonly raw: string | null };

/**
 * Whose events: an event matches when it matches ANY of the values given (an OR across lists).
 * An empty object matches every event.
 */
export interface EventPivots {
  readonly identityArns?: readonly string[];
  /** Every session of these roles (the sessionIssuer ARN). */
  readonly roleArns?: readonly string[];
  readonly accessKeyIds?: readonly string[];
  readonly principalIds?: readonly string[];
  /** Calls naming these EC2 instances. */
  readonly instanceIds?: readonly string[];
  /** These very events (a signal's `eventIds`). */
  readonly eventIds?: readonly string[];
}

/** A time window, epoch ms, `fromMs` included and `toMs` excluded. */
export interface EventWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

export interface EventQuery extends EventPivots, EventWindow {
  /** Only failed calls (an errorCode). */
  readonly isErrorOnly?: boolean;
  /** At most this many events, the oldest first (default DEFAULT_EVENT_QUERY_LIMIT). */
  readonly limit?: number;
  /** Decompress and return each event's record text (default false). */
  readonly includeRaw?: boolean;
}

export const DEFAULT_EVENT_QUERY_LIMIT = 10_000;

/** A value with how often and when it was seen in a window. */
export interface CountedValue {
  readonly value: string;
  readonly count: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface ApiCount {
  readonly eventSource: string | null;
  readonly eventName: string | null;
  readonly count: number;
  readonly errorCount: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface InstanceActionCount {
  readonly instanceId: string;
  readonly eventName: string | null;
  readonly count: number;
  readonly errorCount: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

/**
 * Aggregates over EVERY event a query matches (no limit): what a report's summary is built from
 * when the timeline itself is cut short. Lists are sorted by count (most first), then value.
 */
export interface EventSummary {
  readonly total: number;
  readonly errors: number;
  readonly apis: readonly ApiCount[];
  readonly sourceIps: readonly CountedValue[];
  readonly userAgents: readonly CountedValue[];
  readonly errorCodes: readonly CountedValue[];
  readonly identityArns: readonly CountedValue[];
  readonly accessKeyIds: readonly CountedValue[];
  readonly instances: readonly InstanceActionCount[];
}

/**
 * Whose history: an identity ARN (an IAM user, root, one role session) or a role ARN (all its
 * sessions together, which is what "has this role ever called X" means).
 */
export interface HistoryActor {
  readonly kind: 'identity' | 'role';
  readonly arn: string;
}

export interface HistoryItem {
  readonly value: string;
  /** First and last event time this actor was seen with it (the first may predate the retention). */
  readonly firstMs: number;
  readonly lastMs: number;
}

/** What an actor did before a time: the APIs (`eventSource eventName`), source IPs and user agents. */
export interface ActorHistory {
  /** `value` is `${eventSource} ${eventName}`. */
  readonly apis: readonly HistoryItem[];
  readonly sourceIps: readonly HistoryItem[];
  readonly userAgents: readonly HistoryItem[];
}

export interface IndexedTimeRange {
  /** The oldest and newest indexed event time (null when the index is empty). */
  readonly oldestMs: number | null;
  readonly newestMs: number | null;
}

export interface EventIndexStore {
  /**
   * Add events (one transaction). Idempotent on eventId (on the record text for events without
   * one): an event indexed again is not duplicated. Returns how many were new.
   */
  indexEvents(events: readonly IndexedEvent[]): Promise<number>;
  /** Events matching the query, oldest first (ties in indexing order). */
  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /** Aggregates over every event matching the pivots in the window. */
  summarizeEvents(query: EventPivots & EventWindow): Promise<EventSummary>;
  /**
   * What the actor was seen doing with a first time before `beforeMs`: "never called before the
   * window" is an API of the window that is missing here. Kept as long as the actor has an event
   * within the retention; the first time may be older than the oldest event still indexed.
   */
  actorHistory(actor: HistoryActor, beforeMs: number): Promise<ActorHistory>;
  indexedTimeRange(): Promise<IndexedTimeRange>;
  /** Forget events whose event time is before `beforeEventTimeMs` (and history no event keeps). Returns how many events. */
  pruneEvents(beforeEventTimeMs: number): Promise<number>;
}

/** Default retention of indexed events (`--retain`). */
export const DEFAULT_EVENT_RETENTION_MS = 30 * 86_400_000;
