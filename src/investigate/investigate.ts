/**
 * "What else did this identity do?": from a signal or an identity, the pivots to search the event
 * index by (every session of the same role, the same access key), then a timeline and a summary of
 * the window — distinct APIs by service, APIs and source IPs and user agents never seen before the
 * window, instances stopped/modified/started, failed calls and AccessDenied bursts, other signals
 * on the same identity or instance. docs/investigate.md describes the report.
 *
 * Pure (no `node:`): the store is passed in. Every string in a report comes from CloudTrail and is
 * attacker-controlled; the renderers (render.ts) escape it.
 */
import type { Signal } from '../core/types.js';
import type { ActorHistory, ApiCount, CountedValue, EventIndexStore, EventPivots, EventWindow, HistoryActor, IndexedTimeRange, StoredEvent } from '../store/event-index.js';
import type { SignalTriageStore, StoredSignal } from '../store/signal-triage.js';

/** What an investigation reads. */
export type InvestigationStore = Pick<EventIndexStore, 'queryEvents' | 'summarizeEvents' | 'actorHistory' | 'indexedTimeRange'> & Pick<SignalTriageStore, 'listSignals'>;

export const DEFAULT_TIMELINE_LIMIT = 5_000;
/** Failed calls read to find AccessDenied bursts. */
const MAX_FAILED_CALLS = 20_000;
/** An AccessDenied burst: at least this many denied calls… */
export const BURST_MIN_CALLS = 5;
/** …each within this long of the previous one. */
export const BURST_MAX_GAP_MS = 5 * 60_000;
/** Events read to find the identities behind the given pivots (sessions, roles, access keys). */
const SEED_EVENTS = 2_000;

/** Error codes that mean "not allowed" (as opposed to a bad request or a missing resource). */
const DENIED_CODE = /AccessDenied|Unauthorized|Forbidden|NotAuthorized|AuthFailure/i;

/** EC2 calls that change an instance's state or configuration (the "instances it stopped, modified or started"). */
const INSTANCE_CHANGING_CALL = /^(Stop|Start|Reboot|Terminate|Run|Modify|Reset|Replace|Associate|Disassociate|Attach|Detach|Monitor|Unmonitor)/;

export interface InvestigationTarget {
  /** What the user asked about, for the report's header. */
  readonly kind: 'signal' | 'identity';
  readonly label: string;
  readonly signal?: Signal;
  /** The pivots the user gave (or the signal's), before widening to roles and access keys. */
  readonly seeds: EventPivots;
  readonly window: EventWindow;
  /** Instances the signal acts on (its host, the instances its events named). */
  readonly hosts: readonly string[];
}

export interface TimelineEntry {
  readonly timeMs: number;
  readonly eventId: string | null;
  readonly eventSource: string | null;
  readonly eventName: string | null;
  readonly identityArn: string | null;
  readonly sessionName: string | null;
  readonly accessKeyId: string | null;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly errorCode: string | null;
  readonly region: string | null;
  readonly instanceIds: readonly string[];
  readonly isReadOnly: boolean | null;
  /** One of the signal's own events. */
  readonly isSignalEvent: boolean;
}

export interface ApiLine extends ApiCount {
  /** Not called by the identity (or its role) before the window; null when the index holds nothing older. */
  readonly isNew: boolean | null;
}

export interface ServiceApis {
  /** `ec2.amazonaws.com` → `ec2`. */
  readonly service: string;
  readonly count: number;
  readonly apis: readonly ApiLine[];
}

export interface FlaggedValue extends CountedValue {
  readonly isNew: boolean | null;
}

export interface InstanceActivity {
  readonly instanceId: string;
  /** The instance the signal is about. */
  readonly isSignalHost: boolean;
  readonly actions: readonly { readonly eventName: string | null; readonly count: number; readonly errorCount: number; readonly firstMs: number; readonly lastMs: number }[];
}

export interface AccessDeniedBurst {
  readonly fromMs: number;
  readonly toMs: number;
  readonly count: number;
  readonly errorCodes: readonly string[];
  /** `source name` of the denied calls, most frequent first. */
  readonly apis: readonly string[];
}

export interface RelatedSignal {
  readonly id: string;
  readonly ruleId: string;
  readonly title: string;
  readonly severity: string;
  readonly status: string;
  readonly host: string | null;
  readonly lastSeen: string;
  /** Why it is listed: the identity (ARN) or the instance it shares. */
  readonly via: readonly string[];
}

export interface InvestigationReport {
  readonly target: { readonly kind: 'signal' | 'identity'; readonly label: string; readonly signalId: string | null; readonly ruleId: string | null; readonly title: string | null; readonly severity: string | null; readonly hosts: readonly string[] };
  readonly window: EventWindow;
  /** The pivots searched: the seeds widened to every session of the same role and the same access keys. */
  readonly pivots: { readonly identityArns: readonly string[]; readonly roleArns: readonly string[]; readonly accessKeyIds: readonly string[]; readonly principalIds: readonly string[] };
  readonly indexedRange: IndexedTimeRange;
  /** The index holds events from before the window, so "new" can be told (otherwise every `isNew` is null). */
  readonly hasHistory: boolean;
  readonly timeline: readonly TimelineEntry[];
  /** Events in the window (the timeline shows the first `timeline.length`). */
  readonly total: number;
  readonly summary: {
    readonly errors: number;
    readonly services: readonly ServiceApis[];
    readonly newApis: readonly string[];
    readonly sourceIps: readonly FlaggedValue[];
    readonly userAgents: readonly FlaggedValue[];
    readonly identities: readonly CountedValue[];
    readonly accessKeys: readonly CountedValue[];
    readonly instances: readonly InstanceActivity[];
    readonly errorCodes: readonly CountedValue[];
    readonly accessDeniedBursts: readonly AccessDeniedBurst[];
    readonly otherSignals: readonly RelatedSignal[];
  };
}

export interface InvestigateOptions {
  /** Timeline length cap (default DEFAULT_TIMELINE_LIMIT); the summary always covers the whole window. */
  readonly timelineLimit?: number;
}

function unique(values: Iterable<string | null | undefined>): string[] {
  const out: string[] = [];
  for (const v of values) if (typeof v === 'string' && v !== '' && !out.includes(v)) out.push(v);
  return out;
}

/** `ec2.amazonaws.com` → `ec2`; anything else as written. */
export function serviceOf(eventSource: string | null): string {
  if (eventSource === null) return '(none)';
  return eventSource.endsWith('.amazonaws.com') ? eventSource.slice(0, -'.amazonaws.com'.length) : eventSource;
}

/** How the user named an identity: an ARN (user, root, session, or a role for all its sessions), an access key id, or a principal id. */
export function pivotsOfIdentity(identity: string): EventPivots {
  const value = identity.trim();
  if (value.startsWith('arn:')) {
    const resource = value.split(':').slice(5).join(':');
    if (value.split(':')[2] === 'iam' && resource.startsWith('role/')) return { roleArns: [value] };
    return { identityArns: [value] };
  }
  if (/^A[SK]IA[A-Z0-9]{8,}$/.test(value)) return { accessKeyIds: [value] };
  return { principalIds: [value] };
}

/** The target of `investigate SIGNAL_ID`: the signal's identity and instance, ±`beforeMs`/`afterMs` around it. */
export function signalTarget(signal: Signal, beforeMs: number, afterMs: number): InvestigationTarget {
  const first = Date.parse(signal.firstSeen);
  const last = Date.parse(signal.lastSeen);
  const arns = unique([...Object.entries(signal.group).filter(([key, value]) => /arn/i.test(key) && value.startsWith('arn:')).map(([, value]) => value), ...(signal.actors ?? []).map((a) => a.arn)]);
  const keys = unique(Object.values(signal.group).filter((value) => /^A[SK]IA[A-Z0-9]{8,}$/.test(value)));
  return {
    kind: 'signal',
    label: signal.id,
    signal,
    seeds: { identityArns: arns, accessKeyIds: keys, eventIds: signal.eventIds },
    // CloudTrail times have whole seconds: the window ends after the last event's second.
    window: { fromMs: (Number.isFinite(first) ? first : 0) - beforeMs, toMs: (Number.isFinite(last) ? last : first) + afterMs + 1000 },
    hosts: unique([signal.host]),
  };
}

interface Pivots {
  identityArns: string[];
  roleArns: string[];
  accessKeyIds: string[];
  principalIds: string[];
}

/** Widen the seeds: the ARNs, roles and access keys of the seed events (a session's role brings every session of it). */
function widen(seeds: EventPivots, seedEvents: readonly StoredEvent[]): Pivots {
  const isKeySeed = (seeds.accessKeyIds?.length ?? 0) > 0 || (seeds.principalIds?.length ?? 0) > 0 || (seeds.eventIds?.length ?? 0) > 0;
  return {
    identityArns: unique([...(seeds.identityArns ?? []), ...(isKeySeed ? seedEvents.map((e) => e.identityArn) : [])]),
    roleArns: unique([...(seeds.roleArns ?? []), ...seedEvents.filter((e) => e.identityType === 'AssumedRole').map((e) => e.roleArn)]),
    accessKeyIds: unique([...(seeds.accessKeyIds ?? []), ...seedEvents.map((e) => e.accessKeyId)]),
    principalIds: unique(seeds.principalIds ?? []),
  };
}

/** Known items of the actors before the window (an API, IP or agent is known when any actor had it). */
function knownBefore(histories: readonly ActorHistory[]): { apis: Set<string>; ips: Set<string>; agents: Set<string> } {
  return {
    apis: new Set(histories.flatMap((h) => h.apis.map((i) => i.value))),
    ips: new Set(histories.flatMap((h) => h.sourceIps.map((i) => i.value))),
    agents: new Set(histories.flatMap((h) => h.userAgents.map((i) => i.value))),
  };
}

/** Denied calls close together (each within BURST_MAX_GAP_MS of the previous), at least BURST_MIN_CALLS of them. */
export function accessDeniedBursts(failed: readonly StoredEvent[]): AccessDeniedBurst[] {
  const denied = failed.filter((e) => e.errorCode !== null && DENIED_CODE.test(e.errorCode)).sort((a, b) => a.eventTimeMs - b.eventTimeMs);
  const bursts: AccessDeniedBurst[] = [];
  let run: StoredEvent[] = [];
  const close = (): void => {
    const first = run[0];
    const last = run[run.length - 1];
    if (first !== undefined && last !== undefined && run.length >= BURST_MIN_CALLS) {
      const apiCounts = new Map<string, number>();
      for (const e of run) {
        const api = `${e.eventSource ?? ''} ${e.eventName ?? ''}`.trim();
        apiCounts.set(api, (apiCounts.get(api) ?? 0) + 1);
      }
      bursts.push({
        fromMs: first.eventTimeMs,
        toMs: last.eventTimeMs,
        count: run.length,
        errorCodes: unique(run.map((e) => e.errorCode)),
        apis: [...apiCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([api]) => api),
      });
    }
    run = [];
  };
  for (const e of denied) {
    const previous = run[run.length - 1];
    if (previous !== undefined && e.eventTimeMs - previous.eventTimeMs > BURST_MAX_GAP_MS) close();
    run.push(e);
  }
  close();
  return bursts;
}

function relatedOf(stored: readonly StoredSignal[], via: string, into: Map<string, RelatedSignal>, exclude: string | undefined): void {
  for (const { signal, status } of stored) {
    if (signal.id === exclude) continue;
    const existing = into.get(signal.id);
    if (existing !== undefined) {
      if (!existing.via.includes(via)) into.set(signal.id, { ...existing, via: [...existing.via, via] });
      continue;
    }
    into.set(signal.id, { id: signal.id, ruleId: signal.ruleId, title: signal.title, severity: signal.severity, status, host: signal.host, lastSeen: signal.lastSeen, via: [via] });
  }
}

/** Build the report: a few index queries, all bounded by the window. */
export async function investigate(store: InvestigationStore, target: InvestigationTarget, options: InvestigateOptions = {}): Promise<InvestigationReport> {
  const { window } = target;
  // 1. The seed events: who exactly the seeds are (their roles, access keys, sessions).
  const signalWindow = target.signal ? { fromMs: Date.parse(target.signal.firstSeen) - 1000, toMs: Date.parse(target.signal.lastSeen) + 1000 } : window;
  const seedQueries: Promise<StoredEvent[]>[] = [];
  const { eventIds, ...identitySeeds } = target.seeds;
  if (eventIds !== undefined && eventIds.length > 0 && Number.isFinite(signalWindow.fromMs) && Number.isFinite(signalWindow.toMs)) {
    seedQueries.push(store.queryEvents({ eventIds, fromMs: signalWindow.fromMs, toMs: signalWindow.toMs, limit: SEED_EVENTS }));
  }
  const hasIdentitySeeds = Object.values(identitySeeds).some((list) => Array.isArray(list) && list.length > 0);
  if (hasIdentitySeeds) seedQueries.push(store.queryEvents({ ...identitySeeds, fromMs: window.fromMs, toMs: window.toMs, limit: SEED_EVENTS }));
  const seedEvents = (await Promise.all(seedQueries)).flat();
  const signalEventIds = new Set(target.signal?.eventIds ?? []);
  const pivots = widen(target.seeds, seedEvents);
  const hosts = unique([...target.hosts, ...seedEvents.filter((e) => e.eventId !== null && signalEventIds.has(e.eventId)).flatMap((e) => e.instanceIds)]);
  const hasPivots = pivots.identityArns.length + pivots.roleArns.length + pivots.accessKeyIds.length + pivots.principalIds.length > 0;

  // 2. The window: timeline (capped), summary (whole), failed calls.
  const limit = options.timelineLimit ?? DEFAULT_TIMELINE_LIMIT;
  const [timeline, summary, failed, indexedRange] = hasPivots
    ? await Promise.all([
        store.queryEvents({ ...pivots, ...window, limit }),
        store.summarizeEvents({ ...pivots, ...window }),
        store.queryEvents({ ...pivots, ...window, isErrorOnly: true, limit: MAX_FAILED_CALLS }),
        store.indexedTimeRange(),
      ])
    : [[], undefined, [], await store.indexedTimeRange()];

  // 3. What the identity (its role, for a session) did before the window.
  const actors: HistoryActor[] = pivots.roleArns.length > 0 ? pivots.roleArns.map((arn) => ({ kind: 'role', arn })) : pivots.identityArns.map((arn) => ({ kind: 'identity', arn }));
  const histories = await Promise.all(actors.map((actor) => store.actorHistory(actor, window.fromMs)));
  const known = knownBefore(histories);
  const hasHistory = indexedRange.oldestMs !== null && indexedRange.oldestMs < window.fromMs;
  const isNew = (set: Set<string>, value: string): boolean | null => (hasHistory ? !set.has(value) : null);

  const services = new Map<string, { count: number; apis: ApiLine[] }>();
  for (const api of summary?.apis ?? []) {
    const service = serviceOf(api.eventSource);
    const entry = services.get(service) ?? { count: 0, apis: [] };
    entry.count += api.count;
    entry.apis.push({ ...api, isNew: isNew(known.apis, `${api.eventSource ?? ''} ${api.eventName ?? ''}`) });
    services.set(service, entry);
  }
  const serviceList = [...services].map(([service, e]) => ({ service, count: e.count, apis: e.apis })).sort((a, b) => b.count - a.count || (a.service < b.service ? -1 : 1));
  const newApis = serviceList.flatMap((s) => s.apis.filter((a) => a.isNew === true).map((a) => `${a.eventSource ?? ''} ${a.eventName ?? ''}`.trim()));

  const instances = new Map<string, InstanceActivity['actions'][number][]>();
  for (const i of summary?.instances ?? []) {
    if (i.eventName === null || !INSTANCE_CHANGING_CALL.test(i.eventName)) continue;
    const list = instances.get(i.instanceId) ?? [];
    list.push({ eventName: i.eventName, count: i.count, errorCount: i.errorCount, firstMs: i.firstMs, lastMs: i.lastMs });
    instances.set(i.instanceId, list);
  }

  // 4. Other signals on the same identities and instances.
  const related = new Map<string, RelatedSignal>();
  const identities = unique([...pivots.identityArns, ...pivots.roleArns, ...pivots.accessKeyIds]);
  const lookups = await Promise.all([
    ...identities.map(async (identity) => ({ via: identity, found: await store.listSignals({ identity, limit: 50 }) })),
    ...hosts.map(async (host) => ({ via: host, found: await store.listSignals({ host, limit: 50 }) })),
  ]);
  for (const { via, found } of lookups) relatedOf(found, via, related, target.signal?.id);

  const signal = target.signal;
  return {
    target: { kind: target.kind, label: target.label, signalId: signal?.id ?? null, ruleId: signal?.ruleId ?? null, title: signal?.title ?? null, severity: signal?.severity ?? null, hosts },
    window,
    pivots,
    indexedRange,
    hasHistory,
    timeline: timeline.map((e) => ({
      timeMs: e.eventTimeMs,
      eventId: e.eventId,
      eventSource: e.eventSource,
      eventName: e.eventName,
      identityArn: e.identityArn,
      sessionName: e.sessionName,
      accessKeyId: e.accessKeyId,
      sourceIp: e.sourceIp,
      userAgent: e.userAgent,
      errorCode: e.errorCode,
      region: e.region,
      instanceIds: e.instanceIds,
      isReadOnly: e.isReadOnly,
      isSignalEvent: e.eventId !== null && signalEventIds.has(e.eventId),
    })),
    total: summary?.total ?? 0,
    summary: {
      errors: summary?.errors ?? 0,
      services: serviceList,
      newApis,
      sourceIps: (summary?.sourceIps ?? []).map((v) => ({ ...v, isNew: isNew(known.ips, v.value) })),
      userAgents: (summary?.userAgents ?? []).map((v) => ({ ...v, isNew: isNew(known.agents, v.value) })),
      identities: summary?.identityArns ?? [],
      accessKeys: summary?.accessKeyIds ?? [],
      instances: [...instances].map(([instanceId, actions]) => ({ instanceId, isSignalHost: hosts.includes(instanceId), actions })).sort((a, b) => Number(b.isSignalHost) - Number(a.isSignalHost) || (a.instanceId < b.instanceId ? -1 : 1)),
      errorCodes: summary?.errorCodes ?? [],
      accessDeniedBursts: accessDeniedBursts(failed),
      otherSignals: [...related.values()].sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : a.id < b.id ? -1 : 1)),
    },
  };
}
