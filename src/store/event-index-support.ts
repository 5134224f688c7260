/**
 * What both event index implementations share, so that they refuse, count and aggregate alike:
 * the checks on indexed events, the history items an event contributes, and the summary of a
 * window's events.
 */
import { TrailhoundError } from '../core/errors.js';
import type { ApiCount, CountedValue, EventSummary, IndexedEvent, InstanceActionCount, StoredEvent } from './event-index.js';
import { STATE_ERRORS } from './state-store.js';

const NULLABLE_STRINGS = ['eventId', 'accountId', 'region', 'eventSource', 'eventName', 'identityArn', 'identityType', 'principalId', 'accessKeyId', 'sessionName', 'roleArn', 'sourceIp', 'userAgent', 'errorCode'] as const;

function refuse(message: string): never {
  throw new TrailhoundError(STATE_ERRORS.badCheckpoint, message);
}

/** Refuse (E_STATE_CHECKPOINT) a malformed indexed event before anything is written. */
export function checkIndexedEvents(events: readonly IndexedEvent[]): void {
  for (const e of events) {
    if (!Number.isFinite(e.eventTimeMs)) refuse(`an indexed event needs a finite event time (got ${String(e.eventTimeMs)})`);
    for (const key of NULLABLE_STRINGS) {
      const value: unknown = e[key];
      if (value !== null && typeof value !== 'string') refuse(`an indexed event's ${key} must be a string or null`);
    }
    if (typeof e.raw !== 'string') refuse("an indexed event's raw record must be JSON text");
    if (e.isReadOnly !== null && typeof e.isReadOnly !== 'boolean') refuse("an indexed event's isReadOnly must be a boolean or null");
    if (!Array.isArray(e.instanceIds) || e.instanceIds.some((id) => typeof id !== 'string')) refuse("an indexed event's instanceIds must be strings");
  }
}

/** The key an event is deduplicated on: its eventID, else its whole text. */
export function dedupKeyOf(event: { readonly eventId: string | null; readonly raw: string }): string {
  return event.eventId !== null ? `id:${event.eventId}` : `raw:${event.raw}`;
}

export const HISTORY_ITEM_KINDS = ['api', 'ip', 'agent'] as const;
export type HistoryItemKind = (typeof HISTORY_ITEM_KINDS)[number];

/** `eventSource eventName`: how an API is named in the history. */
export function apiKey(eventSource: string | null, eventName: string | null): string {
  return `${eventSource ?? ''} ${eventName ?? ''}`;
}

/** The (actor, item) pairs an event adds to the history: its identity and its role, each with its API, IP and agent. */
export function historyPairsOf(event: IndexedEvent): { actorKind: 'identity' | 'role'; actor: string; itemKind: HistoryItemKind; item: string }[] {
  const actors: { actorKind: 'identity' | 'role'; actor: string }[] = [];
  if (event.identityArn !== null) actors.push({ actorKind: 'identity', actor: event.identityArn });
  if (event.roleArn !== null) actors.push({ actorKind: 'role', actor: event.roleArn });
  const items: { itemKind: HistoryItemKind; item: string }[] = [];
  if (event.eventName !== null || event.eventSource !== null) items.push({ itemKind: 'api', item: apiKey(event.eventSource, event.eventName) });
  if (event.sourceIp !== null) items.push({ itemKind: 'ip', item: event.sourceIp });
  if (event.userAgent !== null) items.push({ itemKind: 'agent', item: event.userAgent });
  return actors.flatMap((a) => items.map((i) => ({ ...a, ...i })));
}

class Counter {
  readonly #map = new Map<string, { count: number; firstMs: number; lastMs: number }>();

  add(value: string | null, timeMs: number): void {
    if (value === null) return;
    const entry = this.#map.get(value);
    if (entry === undefined) this.#map.set(value, { count: 1, firstMs: timeMs, lastMs: timeMs });
    else {
      entry.count++;
      if (timeMs < entry.firstMs) entry.firstMs = timeMs;
      if (timeMs > entry.lastMs) entry.lastMs = timeMs;
    }
  }

  list(): CountedValue[] {
    return [...this.#map].map(([value, e]) => ({ value, ...e })).sort((a, b) => b.count - a.count || compareText(a.value, b.value));
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The summary of a window's events (every match, in any order). */
export function summarizeStoredEvents(events: Iterable<Omit<StoredEvent, 'raw'>>): EventSummary {
  let total = 0;
  let errors = 0;
  const apis = new Map<string, { eventSource: string | null; eventName: string | null; count: number; errorCount: number; firstMs: number; lastMs: number }>();
  const instances = new Map<string, { instanceId: string; eventName: string | null; count: number; errorCount: number; firstMs: number; lastMs: number }>();
  const ips = new Counter();
  const agents = new Counter();
  const codes = new Counter();
  const arns = new Counter();
  const keys = new Counter();
  const tally = (entry: { count: number; errorCount: number; firstMs: number; lastMs: number }, timeMs: number, isError: boolean): void => {
    entry.count++;
    if (isError) entry.errorCount++;
    if (timeMs < entry.firstMs) entry.firstMs = timeMs;
    if (timeMs > entry.lastMs) entry.lastMs = timeMs;
  };
  for (const e of events) {
    const t = e.eventTimeMs;
    const isError = e.errorCode !== null;
    total++;
    if (isError) errors++;
    const api = apiKey(e.eventSource, e.eventName);
    let apiEntry = apis.get(api);
    if (apiEntry === undefined) apis.set(api, (apiEntry = { eventSource: e.eventSource, eventName: e.eventName, count: 0, errorCount: 0, firstMs: t, lastMs: t }));
    tally(apiEntry, t, isError);
    for (const instanceId of e.instanceIds) {
      const key = `${instanceId} ${e.eventName ?? ''}`;
      let entry = instances.get(key);
      if (entry === undefined) instances.set(key, (entry = { instanceId, eventName: e.eventName, count: 0, errorCount: 0, firstMs: t, lastMs: t }));
      tally(entry, t, isError);
    }
    ips.add(e.sourceIp, t);
    agents.add(e.userAgent, t);
    codes.add(e.errorCode, t);
    arns.add(e.identityArn, t);
    keys.add(e.accessKeyId, t);
  }
  const apiList: ApiCount[] = [...apis.values()].sort((a, b) => b.count - a.count || compareText(apiKey(a.eventSource, a.eventName), apiKey(b.eventSource, b.eventName)));
  const instanceList: InstanceActionCount[] = [...instances.values()].sort((a, b) => compareText(a.instanceId, b.instanceId) || a.firstMs - b.firstMs || compareText(a.eventName ?? '', b.eventName ?? ''));
  return { total, errors, apis: apiList, sourceIps: ips.list(), userAgents: agents.list(), errorCodes: codes.list(), identityArns: arns.list(), accessKeyIds: keys.list(), instances: instanceList };
}

/**
 * One group of a window's events, as a store aggregated them: kind 1 an API (`value` its
 * eventSource, `name` its eventName), 2 a source IP, 3 a user agent, 4 an error code, 5 an
 * identity ARN, 6 an access key id, 7 the instances a call named with its eventName (`value` the
 * list). The summary built from groups equals `summarizeStoredEvents` of the same events.
 */
export interface EventGroup {
  readonly kind: number;
  readonly value: string | readonly string[] | null;
  readonly name: string | null;
  readonly count: number;
  readonly errorCount: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

export function summarizeGroups(groups: readonly EventGroup[]): EventSummary {
  const counted = (kind: number): CountedValue[] =>
    groups
      .filter((g) => g.kind === kind && typeof g.value === 'string')
      .map((g) => ({ value: g.value as string, count: g.count, firstMs: g.firstMs, lastMs: g.lastMs }))
      .sort((a, b) => b.count - a.count || compareText(a.value, b.value));
  const apis = groups.filter((g) => g.kind === 1);
  const instances = new Map<string, { instanceId: string; eventName: string | null; count: number; errorCount: number; firstMs: number; lastMs: number }>();
  for (const g of groups) {
    if (g.kind !== 7 || !Array.isArray(g.value)) continue;
    for (const instanceId of g.value as readonly string[]) {
      const key = `${instanceId} ${g.name ?? ''}`;
      const entry = instances.get(key);
      if (entry === undefined) instances.set(key, { instanceId, eventName: g.name, count: g.count, errorCount: g.errorCount, firstMs: g.firstMs, lastMs: g.lastMs });
      else {
        entry.count += g.count;
        entry.errorCount += g.errorCount;
        entry.firstMs = Math.min(entry.firstMs, g.firstMs);
        entry.lastMs = Math.max(entry.lastMs, g.lastMs);
      }
    }
  }
  return {
    total: apis.reduce((n, g) => n + g.count, 0),
    errors: apis.reduce((n, g) => n + g.errorCount, 0),
    apis: apis
      .map((g) => ({ eventSource: typeof g.value === 'string' ? g.value : null, eventName: g.name, count: g.count, errorCount: g.errorCount, firstMs: g.firstMs, lastMs: g.lastMs }))
      .sort((a, b) => b.count - a.count || compareText(apiKey(a.eventSource, a.eventName), apiKey(b.eventSource, b.eventName))),
    sourceIps: counted(2),
    userAgents: counted(3),
    errorCodes: counted(4),
    identityArns: counted(5),
    accessKeyIds: counted(6),
    instances: [...instances.values()].sort((a, b) => compareText(a.instanceId, b.instanceId) || a.firstMs - b.firstMs || compareText(a.eventName ?? '', b.eventName ?? '')),
  };
}

/** A query limit: a whole number ≥ 0 (refused otherwise), default `fallback`. */
export function queryLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isSafeInteger(limit) || limit < 0) refuse(`an event query limit must be a whole number ≥ 0 (got ${String(limit)})`);
  return limit;
}

/** Refuse a window whose ends are not finite. */
export function checkWindow(window: { readonly fromMs: number; readonly toMs: number }): void {
  if (!Number.isFinite(window.fromMs) || !Number.isFinite(window.toMs)) refuse('an event query needs a finite fromMs and toMs');
}
