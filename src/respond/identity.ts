/**
 * Who a signal is about, as far as responding goes: the identities behind its events, each with the
 * type that decides the playbook (IAM user, assumed role, IAM Identity Center, federated user, root).
 *
 * The signal alone gives the ARNs (its `@userIdentity.arn` group value, a sequence signal's `actors`);
 * the raw CloudTrail records of its events and of the identity's other activity, when an event index
 * has them, add what the ARN does not say: the access keys used, whether the console was used, the
 * role behind an anonymised or IAM Identity Center session, the IAM user that issued a federation
 * token. Pure: no I/O, every string is untrusted data.
 */
import type { JsonObject, JsonValue, Signal } from '../core/types.js';

/** Raw CloudTrail records that tell more about a signal's identities. */
export interface ResponseEvidence {
  /** The signal's own events and, from an event index, other events of its identities. */
  readonly records: readonly JsonObject[];
  /**
   * True when `records` come from an event index holding the identities' activity, so that not
   * finding a console sign-in in them means "not seen", not "unknown".
   */
  readonly isIndexed: boolean;
  /** From the event index: each identity's activity over everything stored (not limited to `records`). */
  readonly activity?: readonly IdentityActivity[];
}

/** What the event index holds about one identity ARN. */
export interface IdentityActivity {
  readonly arn: string;
  readonly eventCount: number;
  /** Its ConsoleLogin calls, when any. */
  readonly consoleLogins: { readonly count: number; readonly lastMs: number } | null;
  /** Access key ids it used, most used first. */
  readonly accessKeyIds: readonly string[];
}

export interface ConsoleUse {
  readonly state: 'seen' | 'not-seen' | 'unknown';
  /** One sentence for the analyst (untrusted values inside; escape before printing). */
  readonly detail: string;
}

interface IdentityBase {
  readonly arn: string;
  readonly accountId: string | null;
}

export interface IamUserIdentity extends IdentityBase {
  readonly kind: 'iam-user';
  readonly userName: string;
  /** Access key ids seen in the evidence, in order of first appearance. */
  readonly accessKeyIds: readonly string[];
  /** A temporary (ASIA…) key was used: a console or GetSessionToken session, which keys do not end. */
  readonly hasTemporaryCredentials: boolean;
  readonly console: ConsoleUse;
}

export interface AssumedRoleIdentity extends IdentityBase {
  readonly kind: 'assumed-role';
  readonly roleName: string;
  readonly sessionName: string | null;
  /** The SAML or OIDC provider the session came from (AssumeRoleWithSAML / WithWebIdentity), if known. */
  readonly federationProvider: string | null;
  /** A service-linked role: its sessions cannot be revoked. */
  readonly isServiceLinked: boolean;
  /** The instance whose instance-profile credentials these are (the session name is its id). */
  readonly instanceProfileOf: string | null;
}

export interface SsoIdentity extends IdentityBase {
  readonly kind: 'sso';
  /** The AWSReservedSSO_… role IAM Identity Center created for the permission set. */
  readonly roleName: string;
  /** The permission set's name, read from the role name (AWSReservedSSO_NAME_HASH). */
  readonly permissionSetName: string | null;
  /** The session name: the Identity Center user name. */
  readonly sessionName: string | null;
}

export interface FederatedUserIdentity extends IdentityBase {
  readonly kind: 'federated-user';
  readonly name: string;
  /** The IAM user who called GetFederationToken, from the events' session issuer. */
  readonly issuerUserName: string | null;
}

export interface RootIdentity extends IdentityBase {
  readonly kind: 'root';
  readonly console: ConsoleUse;
}

export interface OtherIdentity extends IdentityBase {
  readonly kind: 'other';
  /** userIdentity.type when known (AWSService, AWSAccount…). */
  readonly type: string | null;
  readonly reason: string;
}

export type ResponseIdentity = IamUserIdentity | AssumedRoleIdentity | SsoIdentity | FederatedUserIdentity | RootIdentity | OtherIdentity;

/** At most this many identities get a playbook (a sequence signal lists every caller). */
export const MAX_IDENTITIES = 10;

/** The parts of an ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. */
export interface ParsedArn {
  readonly partition: string;
  readonly service: string;
  readonly accountId: string;
  readonly resource: string;
}

export function parseArn(arn: string): ParsedArn | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition = '', service = '', , accountId = ''] = parts;
  return { partition, service, accountId, resource: parts.slice(5).join(':') };
}

function objectAt(value: JsonValue | undefined): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

function stringAt(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function userIdentityOf(record: JsonObject): JsonObject | undefined {
  return objectAt(record.userIdentity);
}

/** The ARNs a signal names, in order: group values of userIdentity.arn fields, then its actors, then its events' callers. */
export function signalIdentityArns(signal: Signal, evidence?: ResponseEvidence): string[] {
  const arns: string[] = [];
  const add = (arn: string | null | undefined) => {
    if (arn && parseArn(arn) && !arns.includes(arn)) arns.push(arn);
  };
  for (const [field, value] of Object.entries(signal.group)) {
    if (/useridentity\.arn$/i.test(field)) add(value);
  }
  for (const actor of signal.actors ?? []) add(actor.arn);
  if (evidence) {
    const ids = new Set(signal.eventIds);
    for (const record of evidence.records) {
      if (typeof record.eventID === 'string' && ids.has(record.eventID)) add(stringAt(userIdentityOf(record)?.arn));
    }
  }
  return arns.slice(0, MAX_IDENTITIES);
}

/** Identities of `signal`, each typed for its playbook. */
export function identitiesOf(signal: Signal, evidence?: ResponseEvidence): ResponseIdentity[] {
  return signalIdentityArns(signal, evidence).map((arn) => identityOf(arn, evidence));
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = v;
  return best;
}

function defined(values: readonly (string | undefined)[]): string[] {
  return values.filter((v): v is string => v !== undefined);
}

function distinct(values: readonly (string | undefined)[]): string[] {
  return [...new Set(defined(values))];
}

function consoleUseOf(arn: string, records: readonly JsonObject[], evidence: ResponseEvidence | undefined): ConsoleUse {
  const own = records.filter((r) => stringAt(userIdentityOf(r)?.arn) === arn);
  const login = own.find((r) => r.eventName === 'ConsoleLogin');
  if (login) {
    const outcome = stringAt(objectAt(login.responseElements)?.ConsoleLogin) ?? 'unknown outcome';
    return { state: 'seen', detail: `ConsoleLogin (${outcome}) at ${stringAt(login.eventTime) ?? '?'} from ${stringAt(login.sourceIPAddress) ?? '?'}` };
  }
  const consoleCall = own.find((r) => r.sessionCredentialFromConsole === 'true' || r.sessionCredentialFromConsole === true);
  if (consoleCall) return { state: 'seen', detail: `${stringAt(consoleCall.eventName) ?? 'a call'} at ${stringAt(consoleCall.eventTime) ?? '?'} was made from a console session` };
  const activity = evidence?.activity?.find((a) => a.arn === arn);
  if (activity?.consoleLogins) {
    const { count, lastMs } = activity.consoleLogins;
    return { state: 'seen', detail: `${count} ConsoleLogin event${count === 1 ? '' : 's'} stored, the last at ${new Date(lastMs).toISOString()}` };
  }
  if (evidence?.isIndexed === true) {
    const stored = activity?.eventCount ?? own.length;
    return { state: 'not-seen', detail: `no ConsoleLogin or console session among the ${stored} stored event${stored === 1 ? '' : 's'} of this identity` };
  }
  return { state: 'unknown', detail: 'no stored events of this identity to tell (watch, serve and scan --state keep them in the event index)' };
}

/** The identity behind `arn`, typed with what the ARN and the evidence records tell. */
export function identityOf(arn: string, evidence?: ResponseEvidence): ResponseIdentity {
  const records = evidence?.records ?? [];
  const own = records.filter((r) => stringAt(userIdentityOf(r)?.arn) === arn);
  const identities = own.map(userIdentityOf).filter((u): u is JsonObject => u !== undefined);
  const type = mostCommon(defined(identities.map((u) => stringAt(u.type)))) ?? null;
  const parsed = parseArn(arn);
  const accountId = (parsed?.accountId || mostCommon(defined(identities.map((u) => stringAt(u.accountId))))) ?? null;
  const resource = parsed?.resource ?? '';
  const issuer = identities.map((u) => objectAt(objectAt(u.sessionContext)?.sessionIssuer)).find((i) => i !== undefined);

  if (resource === 'root' || type === 'Root') return { kind: 'root', arn, accountId, console: consoleUseOf(arn, records, evidence) };

  if (parsed?.service === 'iam' && resource.startsWith('user/')) {
    const userName = identities.map((u) => stringAt(u.userName)).find((n) => n !== undefined) ?? resource.split('/').at(-1) ?? resource;
    const accessKeyIds = distinct([...identities.map((u) => stringAt(u.accessKeyId)), ...(evidence?.activity?.find((a) => a.arn === arn)?.accessKeyIds ?? [])]);
    return { kind: 'iam-user', arn, accountId, userName, accessKeyIds, hasTemporaryCredentials: accessKeyIds.some((k) => k.startsWith('ASIA')), console: consoleUseOf(arn, records, evidence) };
  }

  if (parsed?.service === 'sts' && resource.startsWith('assumed-role/')) {
    const [, roleFromArn = '', ...sessionParts] = resource.split('/');
    const issuerArn = stringAt(issuer?.arn) ?? '';
    const roleName = stringAt(issuer?.userName) ?? roleFromArn;
    const principalSession = identities.map((u) => stringAt(u.principalId)?.split(':').slice(1).join(':')).find((s) => s !== undefined && s !== '');
    const sessionName = sessionParts.length > 0 ? sessionParts.join('/') : (principalSession ?? null);
    if (issuerArn.includes('/aws-reserved/sso.amazonaws.com/') || roleName.startsWith('AWSReservedSSO')) {
      const permissionSet = /^AWSReservedSSO_(.+)_[0-9a-f]{16}$/.exec(roleName)?.[1] ?? null;
      return { kind: 'sso', arn, accountId, roleName, permissionSetName: permissionSet, sessionName };
    }
    const federation = identities.map((u) => stringAt(objectAt(objectAt(u.sessionContext)?.webIdFederationData)?.federatedProvider)).find((p) => p !== undefined);
    const samlOrWeb = type === 'SAMLUser' || type === 'WebIdentityUser' ? type : undefined;
    return {
      kind: 'assumed-role',
      arn,
      accountId,
      roleName,
      sessionName,
      federationProvider: federation ?? samlOrWeb ?? null,
      isServiceLinked: issuerArn.includes(':role/aws-service-role/') || roleName.startsWith('AWSServiceRoleFor'),
      instanceProfileOf: sessionName !== null && /^i-[0-9a-zA-Z]{8,32}$/.test(sessionName) ? sessionName : null,
    };
  }

  if (parsed?.service === 'sts' && resource.startsWith('federated-user/')) {
    const issuerUser = stringAt(issuer?.type) === 'IAMUser' ? (stringAt(issuer?.userName) ?? null) : null;
    return { kind: 'federated-user', arn, accountId, name: resource.slice('federated-user/'.length), issuerUserName: issuerUser };
  }

  const reason =
    type === 'AWSService'
      ? 'an AWS service acting for the account: nothing to revoke, look at what asked it to act'
      : parsed && accountId !== null && type === 'AWSAccount'
        ? 'a principal of another AWS account: its owner must act; remove the access your resource policies grant it'
        : 'not an IAM user, role session, federated user or root: respond by hand';
  return { kind: 'other', arn, accountId, type, reason };
}
