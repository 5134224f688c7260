/**
 * The evidence a response plan reads from the state store's event index (B's event-index.ts): the
 * raw records of the signal's own events, and for each of its identities a summary of everything
 * stored about it (console sign-ins, access keys used). The index counts as covering the signal
 * only when it holds events from before the signal's first event: otherwise "no console sign-in
 * seen" would mean nothing.
 */
import { isJsonObject } from '../core/json.js';
import type { JsonObject, Signal } from '../core/types.js';
import type { EventIndexStore } from '../store/event-index.js';
import { signalIdentityArns } from './identity.js';
import type { IdentityActivity, ResponseEvidence } from './identity.js';

const ALL_TIME = { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER } as const;
/** A signal lists at most this many events; more are not needed to type its identities. */
const MAX_SIGNAL_EVENTS = 1_000;

function parseRecord(text: string | null): JsonObject | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function evidenceFromEventIndex(index: EventIndexStore, signal: Signal): Promise<ResponseEvidence> {
  const range = await index.indexedTimeRange();
  const firstSeenMs = Date.parse(signal.firstSeen);
  const isIndexed = range.oldestMs !== null && Number.isFinite(firstSeenMs) && range.oldestMs <= firstSeenMs;
  const eventIds = signal.eventIds.slice(0, MAX_SIGNAL_EVENTS);
  const stored = eventIds.length > 0 ? await index.queryEvents({ ...ALL_TIME, eventIds, includeRaw: true, limit: MAX_SIGNAL_EVENTS }) : [];
  const records = stored.map((e) => parseRecord(e.raw)).filter((r): r is JsonObject => r !== undefined);
  const activity: IdentityActivity[] = [];
  for (const arn of signalIdentityArns(signal, { records, isIndexed })) {
    const summary = await index.summarizeEvents({ ...ALL_TIME, identityArns: [arn] });
    const logins = summary.apis.filter((a) => a.eventName === 'ConsoleLogin');
    activity.push({
      arn,
      eventCount: summary.total,
      consoleLogins: logins.length > 0 ? { count: logins.reduce((n, a) => n + a.count, 0), lastMs: Math.max(...logins.map((a) => a.lastMs)) } : null,
      accessKeyIds: summary.accessKeyIds.map((k) => k.value),
    });
  }
  return { records, isIndexed, activity };
}
