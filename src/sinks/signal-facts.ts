/**
 * What the finding formats (OCSF, ASFF) read from a signal beyond its own fields: the identity, the
 * account, the region, the API and the resources its group-by values name, and the MITRE ATT&CK
 * tactics and techniques its rule's tags name. Only what the signal carries: a fact the signal does
 * not hold is `undefined`, never guessed. Pure; core-only imports.
 */
import type { Signal } from '../core/types.js';

/** The parts of an AWS principal ARN (`userIdentity.arn`). */
export interface IdentityArn {
  readonly arn: string;
  /** `aws`, `aws-cn`, `aws-us-gov`… */
  readonly partition: string;
  readonly accountId: string | undefined;
  /** CloudTrail's `userIdentity.type` spelling, when the ARN shows it. */
  readonly type: 'IAMUser' | 'Root' | 'AssumedRole' | 'FederatedUser' | 'Role' | undefined;
  /** The user name, the role session name or `root`. */
  readonly name: string | undefined;
  /** Assumed roles: the role's name (the ARN of a session drops the role's path). */
  readonly roleName: string | undefined;
}

const ACCOUNT = /^\d{12}$/;

/** Reads a principal ARN; undefined when the text is not an ARN at all. Never throws. */
export function parseIdentityArn(arn: string): IdentityArn | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const partition = parts[1] ?? '';
  const service = parts[2] ?? '';
  const account = parts[4] ?? '';
  const resource = parts.slice(5).join(':');
  const accountId = ACCOUNT.test(account) ? account : undefined;
  const segments = resource.split('/');
  const head = segments[0];
  const last = segments.length > 1 ? segments[segments.length - 1] : undefined;
  const base = { arn, partition, accountId };
  if (service === 'iam' && resource === 'root') return { ...base, type: 'Root', name: 'root', roleName: undefined };
  if (service === 'iam' && head === 'user' && last !== undefined && last !== '') return { ...base, type: 'IAMUser', name: last, roleName: undefined };
  if (service === 'iam' && head === 'role' && last !== undefined && last !== '') return { ...base, type: 'Role', name: undefined, roleName: last };
  if (service === 'sts' && head === 'assumed-role') {
    const roleName = segments[1] !== undefined && segments[1] !== '' ? segments[1] : undefined;
    const sessionName = segments.length > 2 ? segments.slice(2).join('/') : undefined;
    return { ...base, type: 'AssumedRole', name: sessionName === '' ? undefined : sessionName, roleName };
  }
  if (service === 'sts' && head === 'federated-user' && last !== undefined && last !== '') return { ...base, type: 'FederatedUser', name: last, roleName: undefined };
  return { ...base, type: undefined, name: undefined, roleName: undefined };
}

/** A group-by value by field name, written with or without the leading `@`. */
export function groupValue(signal: Signal, ...fields: string[]): string | undefined {
  for (const field of fields) {
    const value = signal.group[`@${field}`] ?? signal.group[field];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * The identity the signal is about: its `@userIdentity.arn` group-by value, else the one caller of a
 * sequence rule's events (undefined when there were several, or none is known).
 */
export function signalIdentity(signal: Signal): { readonly arn: IdentityArn | undefined; readonly arnText: string; readonly sessionName: string | undefined } | undefined {
  const grouped = groupValue(signal, 'userIdentity.arn');
  if (grouped !== undefined) {
    const actor = signal.actors?.find((a) => a.arn === grouped);
    return { arn: parseIdentityArn(grouped), arnText: grouped, sessionName: actor?.sessionName ?? undefined };
  }
  const callers = new Set((signal.actors ?? []).map((a) => a.arn).filter((arn): arn is string => arn !== null && arn !== ''));
  if (callers.size !== 1) return undefined;
  const [arnText] = [...callers];
  if (arnText === undefined) return undefined;
  const actor = signal.actors?.find((a) => a.arn === arnText);
  return { arn: parseIdentityArn(arnText), arnText, sessionName: actor?.sessionName ?? undefined };
}

/** The account the activity happened in: `recipientAccountId`, the caller's account, else the identity ARN's. */
export function signalAccountId(signal: Signal): string | undefined {
  const grouped = groupValue(signal, 'recipientAccountId', 'userIdentity.accountId', 'usr.account_id');
  if (grouped !== undefined && ACCOUNT.test(grouped)) return grouped;
  return signalIdentity(signal)?.arn?.accountId;
}

export function signalRegion(signal: Signal): string | undefined {
  return groupValue(signal, 'awsRegion');
}

/** The API call, when the rule groups by it. */
export function signalApi(signal: Signal): { readonly operation: string; readonly service: string | undefined } | undefined {
  const operation = groupValue(signal, 'eventName', 'evt.name');
  if (operation === undefined) return undefined;
  return { operation, service: groupValue(signal, 'eventSource') };
}

/** The EC2 instance the signal is about. */
export function signalInstance(signal: Signal): string | undefined {
  return signal.host ?? groupValue(signal, 'target.instance_ids');
}

/** The caller's network address, when the rule groups by it. */
export function signalSourceAddress(signal: Signal): string | undefined {
  return groupValue(signal, 'network.client.ip', 'sourceIPAddress');
}

/** IAM users and roles a rule groups by as the target of the calls (`requestParameters.userName`…). */
export function signalIamTargets(signal: Signal): { readonly kind: 'user' | 'role'; readonly name: string }[] {
  const out: { kind: 'user' | 'role'; name: string }[] = [];
  const user = groupValue(signal, 'requestParameters.userName');
  if (user !== undefined) out.push({ kind: 'user', name: user });
  const role = groupValue(signal, 'requestParameters.roleName');
  if (role !== undefined) out.push({ kind: 'role', name: role });
  return out;
}

/** The MITRE ATT&CK enterprise tactics, by id. */
export const MITRE_TACTICS: Readonly<Record<string, string>> = {
  TA0043: 'Reconnaissance',
  TA0042: 'Resource Development',
  TA0001: 'Initial Access',
  TA0002: 'Execution',
  TA0003: 'Persistence',
  TA0004: 'Privilege Escalation',
  TA0005: 'Defense Evasion',
  TA0006: 'Credential Access',
  TA0007: 'Discovery',
  TA0008: 'Lateral Movement',
  TA0009: 'Collection',
  TA0011: 'Command and Control',
  TA0010: 'Exfiltration',
  TA0040: 'Impact',
};

export interface MitreTactic {
  readonly id: string;
  /** From the table above; undefined for an id it lacks. */
  readonly name: string | undefined;
}

export interface MitreTechnique {
  /** `T1037`, or the parent of a sub-technique. */
  readonly id: string;
  /** `T1021.008` for a sub-technique. */
  readonly subId: string | undefined;
  /** The rule author's slug after the id (`boot-or-logon-initialization-scripts`), when given. */
  readonly slug: string | undefined;
}

const TACTIC_TAG = /^tactic:(TA\d{4})(?:-([a-z0-9-]+))?$/i;
const TECHNIQUE_TAG = /^technique:(T\d{4})(?:\.(\d{3}))?(?:-([a-z0-9-]+))?$/i;

/** The tactics and techniques a rule's tags name (`tactic:TA0004-privilege-escalation`, `technique:T1037-…`). */
export function mitreFromTags(tags: readonly string[]): { readonly tactics: MitreTactic[]; readonly techniques: MitreTechnique[] } {
  const tactics: MitreTactic[] = [];
  const techniques: MitreTechnique[] = [];
  for (const tag of tags) {
    const tactic = TACTIC_TAG.exec(tag);
    if (tactic?.[1] !== undefined) {
      const id = tactic[1].toUpperCase();
      if (!tactics.some((t) => t.id === id)) tactics.push({ id, name: MITRE_TACTICS[id] });
      continue;
    }
    const technique = TECHNIQUE_TAG.exec(tag);
    if (technique?.[1] !== undefined) {
      const id = technique[1].toUpperCase();
      const subId = technique[2] !== undefined ? `${id}.${technique[2]}` : undefined;
      if (!techniques.some((t) => t.id === id && t.subId === subId)) techniques.push({ id, subId, slug: technique[3]?.toLowerCase() });
    }
  }
  return { tactics, techniques };
}

const SMALL_WORDS = new Set(['a', 'an', 'and', 'as', 'at', 'by', 'for', 'from', 'in', 'of', 'on', 'or', 'the', 'to', 'via', 'with']);
const ACRONYMS: Readonly<Record<string, string>> = { api: 'API', aws: 'AWS', ec2: 'EC2', iam: 'IAM', ssh: 'SSH', ssm: 'SSM', vm: 'VM', dns: 'DNS', mfa: 'MFA', sso: 'SSO' };

/** A slug as a title: `direct-cloud-vm-connections` → `Direct Cloud VM Connections`. */
export function slugTitle(slug: string): string {
  return slug
    .split('-')
    .filter((word) => word !== '')
    .map((word, index) => ACRONYMS[word] ?? (index > 0 && SMALL_WORDS.has(word) ? word : `${word.charAt(0).toUpperCase()}${word.slice(1)}`))
    .join(' ');
}

/** ISO 8601 → epoch milliseconds (undefined when unreadable). */
export function epochMs(iso: string): number | undefined {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}
