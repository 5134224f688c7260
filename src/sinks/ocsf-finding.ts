/**
 * A signal change as an OCSF Detection Finding (class_uid 2004, category Findings), the document the
 * `ocsf:PATH` sink writes one per line and the webhook sink can post. docs/outputs.md lists every
 * field and where it comes from.
 *
 * One document per change: `created` → activity Create (1), `updated` → Update (2), `closed` → Close
 * (3). The finding's uid is the signal id, so a consumer keeps the latest document per
 * `finding_info.uid`; `metadata.uid` names the change itself and is the same when a change is
 * delivered again. Fields the signal does not carry are left out, never guessed.
 */
import { isIP } from 'node:net';
import type { JsonObject, JsonValue, Severity, Signal } from '../core/types.js';
import type { SignalChange } from './sink.js';
import { epochMs, mitreFromTags, signalAccountId, signalApi, signalIamTargets, signalIdentity, signalInstance, signalRegion, signalSourceAddress, slugTitle } from './signal-facts.js';
import type { IdentityArn } from './signal-facts.js';

/** The OCSF schema version the documents follow (test/fixtures/ocsf-schema/version.json). */
export const OCSF_SCHEMA_VERSION = '1.9.0-dev';

export const OCSF_DETECTION_FINDING = { classUid: 2004, className: 'Detection Finding', categoryUid: 2, categoryName: 'Findings' } as const;

export interface OcsfContext {
  /** trailhound's version, for `metadata.product.version`. */
  readonly productVersion: string;
  /** When the document is made (`time`, and `finding_info.created_time` / `modified_time`); default now. */
  readonly nowMs?: number;
}

const ACTIVITIES = {
  created: { id: 1, name: 'Create' },
  updated: { id: 2, name: 'Update' },
  closed: { id: 3, name: 'Close' },
} as const;

const SEVERITY_IDS: Readonly<Record<Severity, { readonly id: number; readonly name: string }>> = {
  info: { id: 1, name: 'Informational' },
  low: { id: 2, name: 'Low' },
  medium: { id: 3, name: 'Medium' },
  high: { id: 4, name: 'High' },
  critical: { id: 5, name: 'Critical' },
};

/** Triage status → the Finding's `status_id`. */
const STATUS_IDS: Readonly<Record<string, { readonly id: number; readonly name: string }>> = {
  open: { id: 1, name: 'New' },
  acknowledged: { id: 2, name: 'In Progress' },
  suppressed: { id: 3, name: 'Suppressed' },
  resolved: { id: 4, name: 'Resolved' },
};

/** Triage resolution → the Incident profile's `verdict_id`. */
const VERDICT_IDS: Readonly<Record<string, { readonly id: number; readonly name: string }>> = {
  'false-positive': { id: 1, name: 'False Positive' },
  'true-positive': { id: 2, name: 'True Positive' },
  benign: { id: 5, name: 'Benign' },
};

/** The finding's lifecycle status: a withdrawn (replaced) signal, else the triage state, else what the signal says. */
export function ocsfStatus(change: SignalChange): { readonly id: number; readonly name: string } {
  if (change.signal.replacedBy !== undefined) return { id: 99, name: 'Replaced' };
  const triage = change.triage?.status;
  if (triage !== undefined) return STATUS_IDS[triage] ?? { id: 99, name: triage };
  if (change.signal.status === 'suppressed') return { id: 3, name: 'Suppressed' };
  if (change.kind === 'closed') return { id: 4, name: 'Resolved' };
  return { id: 1, name: 'New' };
}

function withoutUndefined(entries: Record<string, JsonValue | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) out[key] = value;
  return out;
}

function accountObject(accountId: string): JsonObject {
  return { uid: accountId, type_id: 10, type: 'AWS Account' };
}

/** OCSF user `type_id` for a CloudTrail identity type: IAM user → User, root → Admin, others → Other with the CloudTrail name. */
function userType(type: IdentityArn['type']): JsonObject {
  if (type === 'IAMUser') return { type_id: 1, type: 'User' };
  if (type === 'Root') return { type_id: 2, type: 'Admin' };
  if (type === undefined) return {};
  return { type_id: 99, type };
}

function actorObject(signal: Signal): JsonObject | undefined {
  const identity = signalIdentity(signal);
  if (identity === undefined) return undefined;
  const arn = identity.arn;
  const user = withoutUndefined({
    uid: identity.arnText,
    name: arn?.name ?? identity.sessionName,
    ...userType(arn?.type),
    account: arn?.accountId === undefined ? undefined : accountObject(arn.accountId),
  });
  const session = arn?.type === 'AssumedRole' && arn.roleName !== undefined ? { issuer: arn.roleName } : undefined;
  return withoutUndefined({ user, session });
}

function attacks(signal: Signal): JsonObject[] {
  const { tactics, techniques } = mitreFromTags(signal.tags);
  const tacticObject = (t: (typeof tactics)[number]): JsonObject => withoutUndefined({ uid: t.id, name: t.name, src_url: `https://attack.mitre.org/tactics/${t.id}/` });
  const techniqueParts = (t: (typeof techniques)[number]): JsonObject => {
    if (t.subId === undefined) {
      return { technique: withoutUndefined({ uid: t.id, name: t.slug === undefined ? undefined : slugTitle(t.slug), src_url: `https://attack.mitre.org/techniques/${t.id}/` }) };
    }
    return {
      technique: { uid: t.id, src_url: `https://attack.mitre.org/techniques/${t.id}/` },
      sub_technique: withoutUndefined({ uid: t.subId, name: t.slug === undefined ? undefined : slugTitle(t.slug), src_url: `https://attack.mitre.org/techniques/${t.subId.replace('.', '/')}/` }),
    };
  };
  const [onlyTactic] = tactics;
  if (tactics.length === 1 && onlyTactic !== undefined && techniques.length > 0) {
    return techniques.map((t) => ({ tactic: tacticObject(onlyTactic), ...techniqueParts(t) }));
  }
  // Several tactics: the tags do not say which technique goes with which, so each stands alone.
  return [...tactics.map((t) => ({ tactic: tacticObject(t) })), ...techniques.map(techniqueParts)];
}

function resources(signal: Signal, accountId: string | undefined, region: string | undefined): JsonObject[] {
  const out: JsonObject[] = [];
  const instance = signalInstance(signal);
  if (instance !== undefined) out.push(withoutUndefined({ uid: instance, type: 'AWS::EC2::Instance', role_id: 1, role: 'Target', region, owner: accountId === undefined ? undefined : { account: accountObject(accountId) } }));
  for (const target of signalIamTargets(signal)) {
    out.push({ name: target.name, type: target.kind === 'user' ? 'AWS::IAM::User' : 'AWS::IAM::Role', role_id: 1, role: 'Target' });
  }
  return out;
}

function evidences(signal: Signal): JsonObject[] | undefined {
  const address = signalSourceAddress(signal);
  if (address === undefined) return undefined;
  return [{ src_endpoint: isIP(address) !== 0 ? { ip: address } : { hostname: address } }];
}

function unmapped(signal: Signal): JsonObject {
  return withoutUndefined({
    case_name: signal.caseName === '' ? undefined : signal.caseName,
    group: { ...signal.group },
    query_counts: { ...signal.queryCounts },
    updates: signal.updates,
    steps: signal.steps === undefined ? undefined : Object.fromEntries(Object.entries(signal.steps).map(([step, ids]) => [step, [...ids]])),
    actors: signal.actors?.map((a) => ({ arn: a.arn, session_name: a.sessionName })),
    suppression: signal.suppression === undefined ? undefined : withoutUndefined({ ...signal.suppression }),
    replaced_by: signal.replacedBy === undefined ? undefined : [...signal.replacedBy],
  });
}

/** The id of one change's document: the same for the same change delivered twice. */
function documentUid(change: SignalChange): string {
  const activity = ACTIVITIES[change.kind].name.toLowerCase();
  const status = change.kind === 'closed' ? `:${change.triage?.status ?? 'closed'}` : '';
  return `${change.signal.id}:${activity}${status}:${change.signal.updates}`;
}

/** The OCSF Detection Finding for one signal change. */
export function ocsfDetectionFinding(change: SignalChange, context: OcsfContext): JsonObject {
  const { signal } = change;
  const nowMs = context.nowMs ?? Date.now();
  const activity = ACTIVITIES[change.kind];
  const severity = SEVERITY_IDS[signal.severity];
  const status = ocsfStatus(change);
  const accountId = signalAccountId(signal);
  const region = signalRegion(signal);
  const actor = actorObject(signal);
  const api = signalApi(signal);
  const triage = change.triage;
  const verdict = triage?.resolution === null || triage?.resolution === undefined ? undefined : VERDICT_IDS[triage.resolution];
  const profiles = ['cloud', ...(actor === undefined ? [] : ['host']), ...(triage === undefined ? [] : ['incident'])];
  const mitre = attacks(signal);
  const affected = resources(signal, accountId, region);
  const firstSeen = epochMs(signal.firstSeen);
  const lastSeen = epochMs(signal.lastSeen);
  return withoutUndefined({
    activity_id: activity.id,
    activity_name: activity.name,
    category_uid: OCSF_DETECTION_FINDING.categoryUid,
    category_name: OCSF_DETECTION_FINDING.categoryName,
    class_uid: OCSF_DETECTION_FINDING.classUid,
    class_name: OCSF_DETECTION_FINDING.className,
    type_uid: OCSF_DETECTION_FINDING.classUid * 100 + activity.id,
    type_name: `${OCSF_DETECTION_FINDING.className}: ${activity.name}`,
    severity_id: severity.id,
    severity: severity.name,
    status_id: status.id,
    status: status.name,
    time: nowMs,
    message: signal.title,
    is_alert: change.kind !== 'closed' && status.id !== 3 && status.id !== 99,
    metadata: withoutUndefined({
      product: { name: 'trailhound', vendor_name: 'trailhound', version: context.productVersion },
      version: OCSF_SCHEMA_VERSION,
      uid: documentUid(change),
      profiles,
      labels: signal.tags.length === 0 ? undefined : [...signal.tags],
    }),
    finding_info: withoutUndefined({
      uid: signal.id,
      title: signal.title,
      desc: signal.message,
      created_time: change.kind === 'created' ? nowMs : undefined,
      modified_time: change.kind === 'created' ? undefined : nowMs,
      first_seen_time: firstSeen,
      last_seen_time: lastSeen,
      analytic: { uid: signal.ruleId, name: signal.ruleName, type_id: 1, type: 'Rule' },
      attacks: mitre.length === 0 ? undefined : mitre,
      related_events: signal.eventIds.length === 0 ? undefined : signal.eventIds.map((uid) => ({ uid })),
      related_events_count: signal.eventCount,
    }),
    cloud: withoutUndefined({ provider: 'AWS', account: accountId === undefined ? undefined : accountObject(accountId), region }),
    actor,
    api: api === undefined ? undefined : withoutUndefined({ operation: api.operation, service: api.service === undefined ? undefined : { name: api.service } }),
    resources: affected.length === 0 ? undefined : affected,
    evidences: evidences(signal),
    verdict_id: verdict?.id,
    verdict: verdict?.name,
    assignee: triage?.assignee === null || triage?.assignee === undefined ? undefined : { name: triage.assignee },
    unmapped: unmapped(signal),
  });
}
