/**
 * Signal triage: the store keeps the latest version of every signal with a triage state (status,
 * resolution, assignee) and a log of who changed what and when (docs/triage.md).
 *
 * This file holds the interface every store implements (SignalTriageStore, part of StateStore), the
 * shapes it returns, and the pure rules both implementations share: which status changes are
 * allowed, what a change records, which identities a signal is filed under, and how a filter
 * matches. The SQLite store keeps the data in the `signals` and `triage_events` tables (migration
 * 3); the in-memory store in maps.
 */
import { TrailhoundError } from '../core/errors.js';
import { SEVERITIES } from '../core/types.js';
import type { Severity, Signal } from '../core/types.js';
import type { StateStore, StoredSignalChange } from './state-store.js';

export const TRIAGE_STATUSES = ['open', 'acknowledged', 'resolved', 'suppressed'] as const;
export type TriageStatus = (typeof TRIAGE_STATUSES)[number];

export const RESOLUTIONS = ['true-positive', 'benign', 'false-positive'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export const TRIAGE_ACTIONS = ['detected', 'updated', 'status', 'assign', 'note'] as const;
export type TriageAction = (typeof TRIAGE_ACTIONS)[number];

/** Thrown error codes (TrailhoundError.code). */
export const TRIAGE_ERRORS = {
  /** No stored signal has this id. */
  notFound: 'E_SIGNAL_NOT_FOUND',
  /** The change is not allowed from the signal's status, or is malformed (no actor, no resolution…). */
  invalid: 'E_TRIAGE_INVALID',
} as const;

/** The actor of the changes the engine makes (a signal detected, a later version recorded). */
export const ENGINE_ACTOR = 'trailhound';

/** What an analyst (or a tool acting for one) changes about a signal; at least one of status, assignee, note. */
export interface TriageChange {
  readonly actor: string;
  readonly status?: TriageStatus;
  /** Required with `status: 'resolved'`, refused with any other status. */
  readonly resolution?: Resolution;
  /** A user name to assign, or null to unassign. */
  readonly assignee?: string | null;
  readonly note?: string;
}

/** One entry of a signal's triage log. */
export interface TriageEvent {
  /** Wall-clock time of the change (epoch ms). */
  readonly atMs: number;
  readonly actor: string;
  /** `detected`: first recorded; `updated`: a later version recorded; `status`, `assign`, `note`: an analyst's change. */
  readonly action: TriageAction;
  /** The status after the change (`detected`, `status`). */
  readonly status?: TriageStatus;
  /** With `status: 'resolved'`. */
  readonly resolution?: Resolution;
  /** `assign`: the new assignee (null: unassigned). */
  readonly assignee?: string | null;
  readonly note?: string;
}

/** The triage state of a signal. */
export interface TriageState {
  readonly status: TriageStatus;
  readonly resolution: Resolution | null;
  readonly assignee: string | null;
}

/** A stored signal: its latest version and its triage state. */
export interface StoredSignal extends TriageState {
  /** The latest version the engine emitted. */
  readonly signal: Signal;
  /** Wall-clock time the first version was recorded (epoch ms). */
  readonly firstRecordedMs: number;
  /** Wall-clock time the latest version was recorded. */
  readonly lastRecordedMs: number;
  /** How many versions were recorded (1 for a signal never updated). */
  readonly changeCount: number;
}

/** An outbox entry of one of the signal's changes: delivered entries are gone from the outbox. */
export interface DeliveryStatus {
  readonly sink: string;
  readonly seq: number;
  readonly state: 'pending' | 'dead';
  readonly attempts: number;
  readonly lastError: string | null;
}

export interface SignalDetail extends StoredSignal {
  /** The signal log of this signal, oldest first (what pruning left of it). */
  readonly history: readonly StoredSignalChange[];
  /** The triage log, oldest first. */
  readonly triage: readonly TriageEvent[];
  /** Changes of this signal not yet delivered to a sink, by seq then sink. */
  readonly deliveries: readonly DeliveryStatus[];
}

export interface SignalFilter {
  /** Any of these statuses (absent or empty: all). */
  readonly status?: readonly TriageStatus[];
  readonly severity?: readonly Severity[];
  readonly ruleId?: string;
  /** The instance the signal acts on (`signal.host`). */
  readonly host?: string;
  /** An identity the signal is filed under (see `signalIdentities`), compared exactly. */
  readonly identity?: string;
  /** At most this many (the most recent). */
  readonly limit?: number;
}

export interface SignalTriageStore {
  /** Stored signals matching the filter, most recent `lastSeen` first (then by id). */
  listSignals(filter?: SignalFilter): Promise<StoredSignal[]>;
  getSignal(id: string): Promise<SignalDetail | undefined>;
  /**
   * Ids of stored signals starting with `prefix`, sorted, at most `limit` (default 10): for the CLI,
   * which accepts a unique prefix and suggests near ids.
   */
  findSignalIds(prefix: string, options?: { readonly limit?: number }): Promise<string[]>;
  /**
   * Records who/when; resolving needs a resolution; throws TrailhoundError E_SIGNAL_NOT_FOUND /
   * E_TRIAGE_INVALID. Moving to `resolved` or `suppressed` logs a `closed` change (reopening an
   * `updated` one) queued for every registered sink.
   */
  updateTriage(id: string, change: TriageChange): Promise<StoredSignal>;
  /** Throws E_SIGNAL_NOT_FOUND, or E_TRIAGE_INVALID for an empty note or actor. */
  addNote(id: string, actor: string, note: string): Promise<void>;
}

export function isTriageStatus(value: unknown): value is TriageStatus {
  return typeof value === 'string' && (TRIAGE_STATUSES as readonly string[]).includes(value);
}

export function isResolution(value: unknown): value is Resolution {
  return typeof value === 'string' && (RESOLUTIONS as readonly string[]).includes(value);
}

export function isTriageAction(value: unknown): value is TriageAction {
  return typeof value === 'string' && (TRIAGE_ACTIONS as readonly string[]).includes(value);
}

/**
 * The allowed status changes. `resolved` and `suppressed` close a signal; `open` from any other
 * status reopens it (clearing the resolution). A status never changes to itself, and a closed
 * signal is reopened before it is acknowledged or resolved again.
 */
export const TRIAGE_TRANSITIONS: Readonly<Record<TriageStatus, readonly TriageStatus[]>> = {
  open: ['acknowledged', 'resolved', 'suppressed'],
  acknowledged: ['open', 'resolved', 'suppressed'],
  resolved: ['open', 'suppressed'],
  suppressed: ['open'],
};

export function isClosedStatus(status: TriageStatus): boolean {
  return status === 'resolved' || status === 'suppressed';
}

/** The state of a signal recorded for the first time: suppressed when a suppression entry matched it. */
export function initialTriage(signal: Signal): TriageState {
  return { status: signal.status === 'suppressed' ? 'suppressed' : 'open', resolution: null, assignee: null };
}

function invalid(message: string): never {
  throw new TrailhoundError(TRIAGE_ERRORS.invalid, message);
}

export function signalNotFound(id: string, location: string): TrailhoundError {
  return new TrailhoundError(TRIAGE_ERRORS.notFound, `no signal ${JSON.stringify(id)} in the state store ${location}; list the stored ones with trailhound signals --state DIR`);
}

function hintFor(from: TriageStatus, to: TriageStatus): string {
  if (from === to) return `it is already ${from}`;
  if (isClosedStatus(from)) return `it is ${from}: reopen it first (trailhound signals reopen ID)`;
  return `allowed from ${from}: ${TRIAGE_TRANSITIONS[from].join(', ')}`;
}

const MAX_TEXT = 10_000;

function checkText(value: string, what: string): void {
  if (typeof value !== 'string' || value.trim() === '') invalid(`${what} cannot be empty`);
  if (value.length > MAX_TEXT) invalid(`${what} is longer than ${String(MAX_TEXT)} characters`);
}

/** What one triage change does: the state after it, the log entries it adds, and the change it logs for sinks. */
export interface TriagePlan {
  readonly state: TriageState;
  readonly events: readonly TriageEvent[];
  /** `closed` when the signal was closed, `updated` when it was reopened; otherwise nothing goes to the sinks. */
  readonly emit?: 'closed' | 'updated';
}

/**
 * Check `change` against the current state (E_TRIAGE_INVALID, with what is allowed) and plan it.
 * A status change is one `status` entry (with the change's note); an assignee change is one `assign`
 * entry (with the note when there is no status change); a note alone is one `note` entry.
 * Assigning the current assignee again changes nothing and logs nothing.
 */
export function planTriageChange(current: TriageState, change: TriageChange, atMs: number): TriagePlan {
  checkText(change.actor, 'the actor');
  if (change.note !== undefined) checkText(change.note, 'a note');
  if (change.assignee !== undefined && change.assignee !== null) checkText(change.assignee, 'the assignee');
  if (change.status !== undefined && !isTriageStatus(change.status)) invalid(`unknown status ${JSON.stringify(change.status)}; one of ${TRIAGE_STATUSES.join(', ')}`);
  if (change.resolution !== undefined && !isResolution(change.resolution)) invalid(`unknown resolution ${JSON.stringify(change.resolution)}; one of ${RESOLUTIONS.join(', ')}`);
  if (change.status === undefined && change.assignee === undefined && change.note === undefined) invalid('the change names no status, assignee or note');
  if (change.status === 'resolved' && change.resolution === undefined) invalid(`resolving a signal needs a resolution: ${RESOLUTIONS.join(', ')}`);
  if (change.resolution !== undefined && change.status !== 'resolved') invalid('a resolution is given only when resolving a signal (status resolved)');

  const events: TriageEvent[] = [];
  let state = current;
  let emit: TriagePlan['emit'];
  let note = change.note;
  const base = { atMs, actor: change.actor };
  if (change.status !== undefined) {
    const to = change.status;
    if (!TRIAGE_TRANSITIONS[current.status].includes(to)) invalid(`cannot change a signal from ${current.status} to ${to}: ${hintFor(current.status, to)}`);
    const resolution = to === 'resolved' ? (change.resolution ?? null) : null;
    state = { ...state, status: to, resolution };
    events.push({ ...base, action: 'status', status: to, ...(resolution !== null ? { resolution } : {}), ...(note !== undefined ? { note } : {}) });
    note = undefined;
    if (isClosedStatus(to) && !isClosedStatus(current.status)) emit = 'closed';
    else if (to === 'open' && isClosedStatus(current.status)) emit = 'updated';
  }
  if (change.assignee !== undefined && change.assignee !== current.assignee) {
    state = { ...state, assignee: change.assignee };
    events.push({ ...base, action: 'assign', assignee: change.assignee, ...(note !== undefined ? { note } : {}) });
    note = undefined;
  }
  if (note !== undefined) events.push({ ...base, action: 'note', note });
  return { state, events, ...(emit !== undefined ? { emit } : {}) };
}

/** The log entry a note adds (E_TRIAGE_INVALID for an empty note or actor). */
export function noteEvent(actor: string, note: string, atMs: number): TriageEvent {
  checkText(actor, 'the actor');
  checkText(note, 'a note');
  return { atMs, actor, action: 'note', note };
}

function isIdentityKey(key: string): boolean {
  return /^@?userIdentity\./.test(key);
}

/**
 * The identities a signal is filed under (for `--identity`), in order, without repeats: the values
 * of its `userIdentity.*` group-by fields (ARNs, access key ids, principal ids…), then the ARNs of its
 * actors (sequence rules).
 */
export function signalIdentities(signal: Signal): string[] {
  const out = new Set<string>();
  for (const [key, value] of Object.entries(signal.group)) if (isIdentityKey(key) && value !== '') out.add(value);
  for (const actor of signal.actors ?? []) if (actor.arn !== null && actor.arn !== '') out.add(actor.arn);
  return [...out];
}

/** The identity shown for a signal in a list: its first identity, if any. */
export function primaryIdentity(signal: Signal): string | null {
  return signalIdentities(signal)[0] ?? null;
}

/** Epoch ms of a signal's lastSeen (the list order); 0 when it does not parse. */
export function lastSeenMs(signal: Signal): number {
  const ms = Date.parse(signal.lastSeen);
  return Number.isFinite(ms) ? ms : 0;
}

/** The list order: most recent lastSeen first, then by id. */
export function compareStoredSignals(a: StoredSignal, b: StoredSignal): number {
  const d = lastSeenMs(b.signal) - lastSeenMs(a.signal);
  if (d !== 0) return d;
  return a.signal.id < b.signal.id ? -1 : a.signal.id > b.signal.id ? 1 : 0;
}

/** Whether a stored signal passes a filter (the in-memory store; SQLite says the same in SQL). */
export function matchesSignalFilter(stored: StoredSignal, filter: SignalFilter): boolean {
  const { signal } = stored;
  if (filter.status !== undefined && filter.status.length > 0 && !filter.status.includes(stored.status)) return false;
  if (filter.severity !== undefined && filter.severity.length > 0 && !filter.severity.includes(signal.severity)) return false;
  if (filter.ruleId !== undefined && signal.ruleId !== filter.ruleId) return false;
  if (filter.host !== undefined && signal.host !== filter.host) return false;
  if (filter.identity !== undefined && !signalIdentities(signal).includes(filter.identity)) return false;
  return true;
}

/** Refuse a malformed filter (E_TRIAGE_INVALID): unknown statuses or severities, a negative limit. */
export function checkSignalFilter(filter: SignalFilter): void {
  for (const s of filter.status ?? []) if (!isTriageStatus(s)) invalid(`unknown status ${JSON.stringify(s)}; one of ${TRIAGE_STATUSES.join(', ')}`);
  for (const s of filter.severity ?? []) if (!(SEVERITIES as readonly string[]).includes(s)) invalid(`unknown severity ${JSON.stringify(s)}; one of ${SEVERITIES.join(', ')}`);
  if (filter.limit !== undefined && (!Number.isSafeInteger(filter.limit) || filter.limit < 0)) invalid(`the limit must be a whole number ≥ 0 (got ${String(filter.limit)})`);
}

/** The meta key under which the live runner's sinks are remembered (JSON array of sink keys). */
export const REGISTERED_SINKS_META_KEY = 'sinks';

/** The registered sinks from the `meta` value (a JSON array of strings); anything else is none. */
export function parseRegisteredSinks(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? [...new Set(parsed.filter((s): s is string => typeof s === 'string' && s !== ''))] : [];
  } catch {
    return [];
  }
}

/** JSON text with object keys sorted (a signal read back from the store may list its keys in another order). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** What `recordScanSignals` did. */
export interface RecordedScanSignals {
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
}

/**
 * `scan --state DIR`: file a scan's final signals (reported and suppressed, in the engine's order) in
 * the store, in one checkpoint: a signal the store lacks is `created`, one stored in another version
 * `updated` (its triage kept), one stored exactly so is left alone — so scanning the same files
 * again records nothing. No sink is named: a scan's signals only go to its own output.
 */
export async function recordScanSignals(store: StateStore, signals: readonly Signal[]): Promise<RecordedScanSignals> {
  const changes: { kind: 'created' | 'updated'; signal: Signal }[] = [];
  let unchanged = 0;
  for (const signal of signals) {
    const stored = await store.getSignal(signal.id);
    if (stored === undefined) changes.push({ kind: 'created', signal });
    else if (canonicalJson(stored.signal) !== canonicalJson(signal)) changes.push({ kind: 'updated', signal });
    else unchanged++;
  }
  if (changes.length > 0) await store.commitCheckpoint({ emittedSignals: changes });
  return { created: changes.filter((c) => c.kind === 'created').length, updated: changes.filter((c) => c.kind === 'updated').length, unchanged };
}
