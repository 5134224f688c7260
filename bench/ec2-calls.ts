/**
 * The EC2 instance calls of the flagship rules, built from the real Stratus Red Team records
 * (StopInstances, ModifyInstanceAttribute with `userData`, StartInstances) and Terraform's
 * ModifyInstanceAttribute of the invictus files, in both request shapes AWS logs:
 * `{instanceId, userData: "<sensitiveDataRemoved>"}` and `{instanceId, attribute, value}`.
 */
import { inCloudTrailOrder } from './templates.js';
import type { TemplateLibrary } from './templates.js';

export type Ec2Call = 'stop' | 'start' | 'modify-user-data' | 'modify-user-data-attribute' | 'modify-other-attribute' | 'modify-termination';

export interface Ec2CallSpec {
  readonly call: Ec2Call;
  readonly account: string;
  readonly region: string;
  readonly instanceIds: readonly string[];
  /** The caller's `userIdentity`, serialised. */
  readonly identityJson: string;
  readonly sourceIp: string;
  readonly userAgent: string;
  readonly timeMs: number;
  readonly eventId: string;
  readonly requestId: string;
  /** StopInstances with `force` (as the Stratus attack does). */
  readonly force?: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

const REDACTED = '<sensitiveDataRemoved>';

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

function stateChange(ids: readonly string[], requestId: string, current: [number, string], previous: [number, string]) {
  return {
    requestId,
    instancesSet: { items: ids.map((instanceId) => ({ instanceId, currentState: { code: current[0], name: current[1] }, previousState: { code: previous[0], name: previous[1] } })) },
  };
}

function requestOf(spec: Ec2CallSpec, terminationTemplate: unknown): Record<string, unknown> {
  const [first = ''] = spec.instanceIds;
  const items = { items: spec.instanceIds.map((instanceId) => ({ instanceId })) };
  switch (spec.call) {
    case 'stop':
      return { instancesSet: items, force: spec.force === true };
    case 'start':
      return { instancesSet: items };
    case 'modify-user-data':
      return { instanceId: first, userData: REDACTED };
    case 'modify-user-data-attribute':
      return { instanceId: first, attribute: 'userData', value: REDACTED };
    case 'modify-other-attribute':
      return { instanceId: first, attribute: 'instanceType', value: REDACTED };
    case 'modify-termination': {
      const params = typeof terminationTemplate === 'object' && terminationTemplate !== null ? { ...(terminationTemplate as Record<string, unknown>) } : {};
      return { ...params, instanceId: first };
    }
  }
}

function responseOf(spec: Ec2CallSpec): unknown {
  if (spec.error) return null;
  switch (spec.call) {
    case 'stop':
      return stateChange(spec.instanceIds, spec.requestId, [64, 'stopping'], [16, 'running']);
    case 'start':
      return stateChange(spec.instanceIds, spec.requestId, [0, 'pending'], [80, 'stopped']);
    default:
      return { requestId: spec.requestId, _return: true };
  }
}

/** One EC2 call as a CloudTrail record, keys in CloudTrail's order, serialised. */
export function ec2CallJson(spec: Ec2CallSpec, library: TemplateLibrary): string {
  const base =
    spec.call === 'stop' ? library.ec2.stop : spec.call === 'start' ? library.ec2.start : spec.call === 'modify-termination' ? library.ec2.modifyTermination : library.ec2.modifyUserData;
  const record: Record<string, unknown> = {
    ...base,
    userIdentity: '~~IDENTITY~~',
    eventTime: isoSeconds(spec.timeMs),
    awsRegion: spec.region,
    sourceIPAddress: spec.sourceIp,
    userAgent: spec.userAgent,
    requestParameters: requestOf(spec, library.ec2.modifyTermination['requestParameters']),
    responseElements: responseOf(spec),
    requestID: spec.requestId,
    eventID: spec.eventId,
    recipientAccountId: spec.account,
    tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `ec2.${spec.region}.amazonaws.com` },
  };
  delete record['errorCode'];
  delete record['errorMessage'];
  if (spec.error) {
    record['errorCode'] = spec.error.code;
    record['errorMessage'] = spec.error.message;
  }
  return JSON.stringify(inCloudTrailOrder(record)).replace('"~~IDENTITY~~"', spec.identityJson);
}

/** The calls both flagship rules read, as jq and DuckDB are asked to select them. */
export const FLAGSHIP_FILTER_TEXT =
  'eventSource = ec2.amazonaws.com and (eventName in (StopInstances, StartInstances) or (eventName = ModifyInstanceAttribute and (requestParameters.userData is set or requestParameters.attribute = userData)))';

/** Whether a parsed record is one of the calls the flagship filter selects (the truth for jq and DuckDB). */
export function isFlagshipCall(record: unknown): boolean {
  if (typeof record !== 'object' || record === null) return false;
  const r = record as Record<string, unknown>;
  if (r['eventSource'] !== 'ec2.amazonaws.com') return false;
  const name = r['eventName'];
  if (name === 'StopInstances' || name === 'StartInstances') return true;
  if (name !== 'ModifyInstanceAttribute') return false;
  const params = r['requestParameters'];
  if (typeof params !== 'object' || params === null) return false;
  const p = params as Record<string, unknown>;
  return (p['userData'] !== undefined && p['userData'] !== null) || p['attribute'] === 'userData';
}
