/**
 * A signal change as an AWS Security Finding Format (ASFF) finding, what the `securityhub` sink
 * imports with BatchImportFindings. docs/outputs.md lists every field and where it comes from.
 *
 * Findings are imported with the account's default product (`product/ACCOUNT/default`), which only
 * the account itself may use: `AwsAccountId` is the Security Hub account the sink writes to, and the
 * account the activity happened in shows in the resources. The finding `Id` is the signal id, so an
 * update or a close replaces the finding. Security Hub keeps `Workflow` for its users once a finding
 * exists, so trailhound sets it only when creating one; a closed signal archives its finding
 * (`RecordState: ARCHIVED`). Severity and types are also given as `FindingProviderFields`, the way a
 * provider may change them later. Pure; core-only imports.
 */
import type { JsonObject, JsonValue, Severity } from '../core/types.js';
import type { SignalChange } from './sink.js';
import { epochMs, mitreFromTags, signalAccountId, signalApi, signalIdentity, signalInstance, signalRegion, signalSourceAddress } from './signal-facts.js';

export const ASFF_SCHEMA_VERSION = '2018-10-08';

/** ASFF limits (AWS Security Hub user guide, "ASFF syntax"). */
export const ASFF_LIMITS = { titleChars: 256, descriptionChars: 1024, productFieldValueChars: 2048 } as const;

export interface AsffContext {
  /** The Security Hub account (the caller of BatchImportFindings). */
  readonly accountId: string;
  /** The Security Hub region the findings are imported into. */
  readonly region: string;
  /** trailhound's version (`ProductFields`). */
  readonly productVersion: string;
  /** `UpdatedAt` (default now). */
  readonly nowMs?: number;
}

const SEVERITY_LABELS: Readonly<Record<Severity, string>> = { info: 'INFORMATIONAL', low: 'LOW', medium: 'MEDIUM', high: 'HIGH', critical: 'CRITICAL' };

/** MITRE tactic → the ASFF finding-type taxonomy (namespace/category). */
const TACTIC_TYPES: Readonly<Record<string, string>> = {
  TA0001: 'TTPs/Initial Access',
  TA0002: 'TTPs/Execution',
  TA0003: 'TTPs/Persistence',
  TA0004: 'TTPs/Privilege Escalation',
  TA0005: 'TTPs/Defense Evasion',
  TA0006: 'TTPs/Credential Access',
  TA0007: 'TTPs/Discovery',
  TA0008: 'TTPs/Lateral Movement',
  TA0009: 'TTPs/Collection',
  TA0011: 'TTPs/Command and Control',
  TA0010: 'Effects/Data Exfiltration',
  TA0040: 'Effects',
};

/** The AWS partition of a region (`cn-north-1` → `aws-cn`). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** The default product of an account: the only ARN it may import its own findings under. */
export function defaultProductArn(region: string, accountId: string): string {
  return `arn:${partitionOf(region)}:securityhub:${region}:${accountId}:product/${accountId}/default`;
}

/** At most `max` characters (UTF-16 units, never splitting a surrogate pair), ending with `…` when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** The ASFF finding types of a signal: its MITRE tactics in the ASFF taxonomy, else `Unusual Behaviors`. */
export function asffTypes(tags: readonly string[]): string[] {
  const types = [...new Set(mitreFromTags(tags).tactics.map((t) => TACTIC_TYPES[t.id] ?? 'TTPs'))];
  return types.length > 0 ? types : ['Unusual Behaviors'];
}

function withoutUndefined(entries: Record<string, JsonValue | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) out[key] = value;
  return out;
}

function resources(change: SignalChange, context: AsffContext): JsonObject[] {
  const { signal } = change;
  const accountId = signalAccountId(signal);
  const region = signalRegion(signal);
  const identity = signalIdentity(signal);
  const partition = identity?.arn?.partition ?? partitionOf(region ?? context.region);
  const out: JsonObject[] = [];
  const instance = signalInstance(signal);
  if (instance !== undefined) {
    const id = accountId !== undefined && region !== undefined ? `arn:${partition}:ec2:${region}:${accountId}:instance/${instance}` : instance;
    out.push(withoutUndefined({ Type: 'AwsEc2Instance', Id: id, Partition: partition, Region: region }));
  }
  if (identity !== undefined) {
    const type = identity.arn?.type === 'IAMUser' ? 'AwsIamUser' : 'Other';
    out.push({ Type: type, Id: identity.arnText, Partition: partition });
  }
  if (out.length === 0) {
    const account = accountId ?? context.accountId;
    out.push(withoutUndefined({ Type: 'AwsAccount', Id: `AWS::::Account:${account}`, Partition: partition, Region: region }));
  }
  return out;
}

function action(change: SignalChange): JsonObject | undefined {
  const api = signalApi(change.signal);
  const address = signalSourceAddress(change.signal);
  const isIpv4 = address !== undefined && /^\d{1,3}(?:\.\d{1,3}){3}$/.test(address);
  if (api === undefined && !isIpv4) return undefined;
  return {
    ActionType: 'AWS_API_CALL',
    AwsApiCallAction: withoutUndefined({
      Api: api?.operation,
      ServiceName: api?.service,
      RemoteIpDetails: isIpv4 ? { IpAddressV4: address } : undefined,
    }),
  };
}

function productFields(change: SignalChange, context: AsffContext): JsonObject {
  const { signal } = change;
  const identity = signalIdentity(signal);
  const fields: Record<string, string | undefined> = {
    'trailhound/Version': context.productVersion,
    'trailhound/SignalId': signal.id,
    'trailhound/RuleId': signal.ruleId,
    'trailhound/RuleName': signal.ruleName,
    'trailhound/Case': signal.caseName === '' ? undefined : signal.caseName,
    'trailhound/Updates': String(signal.updates),
    'trailhound/EventCount': String(signal.eventCount),
    'trailhound/EventIds': signal.eventIds.length === 0 ? undefined : signal.eventIds.join(','),
    'trailhound/Identity': identity?.arnText,
    'trailhound/SessionName': identity?.sessionName ?? (identity?.arn?.type === 'AssumedRole' ? identity.arn.name : undefined),
    'trailhound/Tags': signal.tags.length === 0 ? undefined : signal.tags.join(','),
    'trailhound/TriageStatus': change.triage?.status,
    'trailhound/Resolution': change.triage?.resolution ?? undefined,
    'trailhound/Assignee': change.triage?.assignee ?? undefined,
    'trailhound/ReplacedBy': signal.replacedBy === undefined ? undefined : signal.replacedBy.join(','),
  };
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== '') out[key] = clip(value, ASFF_LIMITS.productFieldValueChars);
  return out;
}

function isoTime(ms: number | undefined, fallback: string): string {
  return ms === undefined ? fallback : new Date(ms).toISOString();
}

/** The ASFF finding for one signal change. */
export function asffFinding(change: SignalChange, context: AsffContext): JsonObject {
  const { signal } = change;
  const updatedAt = new Date(context.nowMs ?? Date.now()).toISOString();
  const firstSeen = isoTime(epochMs(signal.firstSeen), updatedAt);
  const lastSeen = isoTime(epochMs(signal.lastSeen), updatedAt);
  const severity = { Label: SEVERITY_LABELS[signal.severity], Original: signal.severity };
  const types = asffTypes(signal.tags);
  const isClosed = change.kind === 'closed' || signal.replacedBy !== undefined;
  const isSuppressed = signal.status === 'suppressed' || change.triage?.status === 'suppressed';
  const title = signal.title.trim() === '' ? signal.ruleName : signal.title;
  const description = signal.message.trim() === '' ? title : signal.message;
  return withoutUndefined({
    SchemaVersion: ASFF_SCHEMA_VERSION,
    Id: signal.id,
    ProductArn: defaultProductArn(context.region, context.accountId),
    ProductName: 'trailhound',
    CompanyName: 'trailhound',
    GeneratorId: `trailhound/${signal.ruleId}`,
    AwsAccountId: context.accountId,
    Types: types,
    CreatedAt: firstSeen,
    UpdatedAt: updatedAt,
    FirstObservedAt: firstSeen,
    LastObservedAt: lastSeen,
    Severity: severity,
    FindingProviderFields: { Severity: severity, Types: types },
    Title: clip(title, ASFF_LIMITS.titleChars),
    Description: clip(description, ASFF_LIMITS.descriptionChars),
    Resources: resources(change, context),
    Action: action(change),
    ProductFields: productFields(change, context),
    RecordState: isClosed ? 'ARCHIVED' : 'ACTIVE',
    Workflow: change.kind === 'created' ? { Status: isSuppressed ? 'SUPPRESSED' : 'NEW' } : undefined,
  });
}

