/**
 * Response playbooks: a signal and the identities behind it (identity.ts) become an ordered list of
 * steps, each with a title, why it is there, the exact AWS CLI commands (every value shell-quoted)
 * and, when it can be automated, the SDK action `trailhound respond --execute` performs (execute.ts).
 *
 * Order: contain the credentials first (so the attacker cannot undo the rest), then the instance:
 * keep the attacker's user data as evidence, stop it, snapshot its volumes, find the last good user
 * data and put it back. Steps that need a human (root, IAM Identity Center, an identity provider,
 * choosing the good user data) are printed with `action: null` and never run.
 *
 * Pure: the time comes in as `nowMs`, files are only named.
 */
import type { Severity, Signal } from '../core/types.js';
import { identitiesOf } from './identity.js';
import type { AssumedRoleIdentity, ConsoleUse, FederatedUserIdentity, IamUserIdentity, ResponseEvidence, ResponseIdentity, RootIdentity, SsoIdentity } from './identity.js';
import { raw, shellCommand } from './shell-quote.js';
import type { ShellWord } from './shell-quote.js';

/** What `--execute` performs for a step, with the SDK (execute.ts). Plain data. */
export type ResponseAction =
  | { readonly kind: 'iam:list-access-keys'; readonly userName: string }
  | { readonly kind: 'iam:deactivate-access-keys'; readonly userName: string }
  | { readonly kind: 'iam:delete-login-profile'; readonly userName: string }
  | { readonly kind: 'iam:revoke-role-sessions'; readonly roleName: string; readonly policyName: string; readonly policyDocument: string }
  | { readonly kind: 'iam:revoke-user-sessions'; readonly userName: string; readonly policyName: string; readonly policyDocument: string }
  | { readonly kind: 'iam:show-role-trust'; readonly roleName: string }
  | { readonly kind: 'ec2:save-user-data'; readonly instanceId: string; readonly file: string }
  | { readonly kind: 'ec2:stop-instances'; readonly instanceIds: readonly string[] }
  | { readonly kind: 'ec2:snapshot-volumes'; readonly instanceIds: readonly string[]; readonly signalId: string }
  | { readonly kind: 'ec2:restore-user-data'; readonly instanceId: string; readonly file: string };

export interface ResponseStep {
  /** Stable within a plan: `iam-user:NAME:deactivate-access-keys`, `instance:ID:stop`… */
  readonly id: string;
  /** What the step acts on: `IAM user christophe`, `instance i-…`. */
  readonly target: string;
  readonly title: string;
  readonly why: string;
  /** The AWS CLI (or shell) commands doing it by hand, values quoted; may be empty for a checklist item. */
  readonly commands: readonly string[];
  /** The SDK calls `--execute` makes, in words; null for a manual step. */
  readonly sdk: string | null;
  /** null: a manual step (printed, never executed). */
  readonly action: ResponseAction | null;
}

export interface ResponsePlan {
  readonly signalId: string;
  readonly ruleId: string;
  readonly title: string;
  readonly severity: Severity;
  /** The account the signal's resources are in (the instance's), when known. */
  readonly accountId: string | null;
  /** The region EC2 steps run in (`--region`, else the signal's). */
  readonly region: string | null;
  readonly identities: readonly ResponseIdentity[];
  readonly instanceIds: readonly string[];
  /** Things the analyst must know before running anything (untrusted values inside). */
  readonly notes: readonly string[];
  readonly steps: readonly ResponseStep[];
}

export type PlanPart = 'identity' | 'instance';

export interface ResponsePlanOptions {
  /** "Now" for the session-revocation policies (`aws:TokenIssueTime` before it). */
  readonly nowMs: number;
  readonly evidence?: ResponseEvidence;
  /** Region for the EC2 steps (default: the signal's `@awsRegion`, else its events'). */
  readonly region?: string;
  /** AWS CLI / SDK profile, added to every command. */
  readonly profile?: string;
  /** The last good user data (as the instance should see it, not base64); makes the restore step automatic. */
  readonly userDataFile?: string;
  /** Restrict the instance steps to these instances (each must be one of the signal's). */
  readonly instanceIds?: readonly string[];
  /** Only these parts (default both). */
  readonly parts?: readonly PlanPart[];
  /** Folder (as the user wrote it) where evidence files are written (default the current one). */
  readonly evidenceDir?: string;
}

/** The inline policy name the IAM console uses for "Revoke active sessions". */
export const REVOKE_POLICY_NAME = 'AWSRevokeOlderSessions';

const INSTANCE_ID = /^i-[0-9a-zA-Z]{1,64}$/;
const USER_DATA_TECHNIQUE = 'technique:T1037';

/** Deny everything to credentials issued before `nowMs` (the AWSRevokeOlderSessions pattern). */
export function revokeOlderSessionsPolicy(nowMs: number): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { DateLessThan: { 'aws:TokenIssueTime': new Date(nowMs).toISOString() } } }],
  });
}

/** The signal's instances: its host and the values of group fields about instances, when they look like instance ids. */
export function signalInstanceIds(signal: Signal): string[] {
  const ids: string[] = [];
  const add = (v: string | null | undefined) => {
    if (v && INSTANCE_ID.test(v) && !ids.includes(v)) ids.push(v);
  };
  add(signal.host);
  for (const [field, value] of Object.entries(signal.group)) if (/instance/i.test(field)) add(value);
  return ids;
}

function signalRegion(signal: Signal, evidence: ResponseEvidence | undefined): string | null {
  const grouped = Object.entries(signal.group).find(([field]) => /awsRegion$/i.test(field))?.[1];
  if (grouped) return grouped;
  const ids = new Set(signal.eventIds);
  const regions = (evidence?.records ?? []).filter((r) => typeof r.eventID === 'string' && ids.has(r.eventID)).map((r) => r.awsRegion);
  const first = regions.find((r): r is string => typeof r === 'string' && r !== '');
  return first ?? null;
}

function signalAccount(signal: Signal, evidence: ResponseEvidence | undefined, identities: readonly ResponseIdentity[]): string | null {
  const grouped = Object.entries(signal.group).find(([field]) => /recipientAccountId$|userIdentity\.accountId$/i.test(field))?.[1];
  if (grouped) return grouped;
  const ids = new Set(signal.eventIds);
  const fromEvents = (evidence?.records ?? []).filter((r) => typeof r.eventID === 'string' && ids.has(r.eventID)).map((r) => r.recipientAccountId);
  const first = fromEvents.find((a): a is string => typeof a === 'string' && a !== '');
  return first ?? identities.find((i) => i.accountId !== null)?.accountId ?? null;
}

/** Whether the signal is about a user-data change (so the user-data steps belong in the plan). */
function isAboutUserData(signal: Signal, evidence: ResponseEvidence | undefined): boolean {
  if (signal.tags.some((t) => t.startsWith(USER_DATA_TECHNIQUE))) return true;
  const ids = new Set(signal.eventIds);
  return (evidence?.records ?? []).some((r) => {
    if (typeof r.eventID !== 'string' || !ids.has(r.eventID) || r.eventName !== 'ModifyInstanceAttribute') return false;
    const params = r.requestParameters;
    return typeof params === 'object' && params !== null && !Array.isArray(params) && ('userData' in params || params.attribute === 'userData');
  });
}

interface CommandContext {
  readonly profile: string | undefined;
  readonly region: string | null;
  /** "Now" of the plan, for the session-revocation policies. */
  readonly nowMs: number;
}

/** An AWS CLI command: `aws SERVICE …words` with --region (EC2 only) and --profile appended. */
function aws(context: CommandContext, service: 'iam' | 'ec2' | 'sso-admin' | 'identitystore', words: readonly ShellWord[], tail: readonly ShellWord[] = []): string {
  const extra: ShellWord[] = [];
  if (service === 'ec2' && context.region !== null) extra.push('--region', context.region);
  if (context.profile !== undefined) extra.push('--profile', context.profile);
  return shellCommand(['aws', service, ...words, ...extra, ...tail]);
}

function consoleSentence(use: ConsoleUse): string {
  if (use.state === 'seen') return `The console was used: ${use.detail}.`;
  if (use.state === 'unknown') return `Whether the console was used is unknown: ${use.detail}; the password is removed to be safe.`;
  return `The console was not seen in use (${use.detail}).`;
}

function iamUserSteps(identity: IamUserIdentity, context: CommandContext): ResponseStep[] {
  const user = identity.userName;
  const target = `IAM user ${user}`;
  const base = `iam-user:${user}`;
  const seenKeys = identity.accessKeyIds.length > 0 ? ` The signal's events used ${identity.accessKeyIds.join(', ')}.` : '';
  const steps: ResponseStep[] = [
    {
      id: `${base}:list-access-keys`,
      target,
      title: `List the access keys of IAM user ${user}`,
      why: `Shows every key the user has, with its status and creation date, before anything changes.${seenKeys}`,
      commands: [aws(context, 'iam', ['list-access-keys', '--user-name', user])],
      sdk: 'IAM ListAccessKeys',
      action: { kind: 'iam:list-access-keys', userName: user },
    },
    {
      id: `${base}:deactivate-access-keys`,
      target,
      title: `Deactivate every active access key of IAM user ${user}`,
      why:
        'A deactivated key stops working at once but is kept (not deleted), so its id stays in the investigation and it can be turned back on if it was not the one abused. ' +
        (identity.hasTemporaryCredentials
          ? 'Temporary credentials already issued (GetSessionToken, console sessions) keep working until they expire: the next step denies them.'
          : 'Temporary credentials already issued (GetSessionToken, console sessions) would keep working until they expire; the events known here used none.'),
      commands: [
        `for key in $(${aws(context, 'iam', ['list-access-keys', '--user-name', user, '--query', 'AccessKeyMetadata[?Status==`Active`].AccessKeyId', '--output', 'text'])}); do ${aws(context, 'iam', ['update-access-key', '--user-name', user, '--access-key-id', raw('"$key"'), '--status', 'Inactive'])}; done`,
      ],
      sdk: 'IAM ListAccessKeys, then UpdateAccessKey (Status Inactive) for each Active key',
      action: { kind: 'iam:deactivate-access-keys', userName: user },
    },
  ];
  if (identity.hasTemporaryCredentials) steps.push(revokeUserSessionsStep(user, context, base, `The signal's events used temporary credentials of ${user} (an ASIA… key: a console or GetSessionToken session), which deactivating keys does not end.`));
  const deleteProfile = aws(context, 'iam', ['delete-login-profile', '--user-name', user]);
  steps.push(
    identity.console.state === 'not-seen'
      ? {
          id: `${base}:delete-login-profile`,
          target,
          title: `Remove the console password of IAM user ${user} if it should not have one`,
          why: `${consoleSentence(identity.console)} Removing a password nobody abused only locks the owner out, so this is left to you.`,
          commands: [deleteProfile],
          sdk: null,
          action: null,
        }
      : {
          id: `${base}:delete-login-profile`,
          target,
          title: `Delete the login profile (console password) of IAM user ${user}`,
          why: `${consoleSentence(identity.console)} Without a login profile nobody can sign in to the console as ${user}; a user without one is left as it is. Create a new password later with \`aws iam create-login-profile\`.`,
          commands: [deleteProfile],
          sdk: 'IAM DeleteLoginProfile (none to delete counts as done)',
          action: { kind: 'iam:delete-login-profile', userName: user },
        },
  );
  return steps;
}

function revokeUserSessionsStep(user: string, context: CommandContext, base: string, why: string): ResponseStep {
  const policy = revokeOlderSessionsPolicy(context.nowMs);
  return {
    id: `${base}:revoke-sessions`,
    target: `IAM user ${user}`,
    title: `Deny the temporary credentials IAM user ${user} obtained before now`,
    why: `${why} The inline policy ${REVOKE_POLICY_NAME} denies every request signed with credentials issued before ${new Date(context.nowMs).toISOString()}; remove it once the user's keys are rotated.`,
    commands: [aws(context, 'iam', ['put-user-policy', '--user-name', user, '--policy-name', REVOKE_POLICY_NAME, '--policy-document', policy])],
    sdk: `IAM PutUserPolicy (${REVOKE_POLICY_NAME})`,
    action: { kind: 'iam:revoke-user-sessions', userName: user, policyName: REVOKE_POLICY_NAME, policyDocument: policy },
  };
}

function assumedRoleSteps(identity: AssumedRoleIdentity, context: CommandContext): ResponseStep[] {
  const role = identity.roleName;
  const target = `IAM role ${role}`;
  const base = `role:${role}`;
  const session = identity.sessionName !== null ? ` (session ${identity.sessionName})` : '';
  const trust: ResponseStep = {
    id: `${base}:show-trust`,
    target,
    title: `See who can assume IAM role ${role}`,
    why: `Revoking sessions does not stop whoever assumed the role from assuming it again. Its trust policy lists the principals (accounts, users, roles, services, identity providers) allowed to; whoever got in${session} came through one of them, and that is where the access has to be cut.`,
    commands: [aws(context, 'iam', ['get-role', '--role-name', role, '--query', 'Role.AssumeRolePolicyDocument'])],
    sdk: 'IAM GetRole (the trust policy is decoded and summarised)',
    action: { kind: 'iam:show-role-trust', roleName: role },
  };
  const steps: ResponseStep[] = [];
  if (identity.isServiceLinked) {
    steps.push({
      id: `${base}:revoke-sessions`,
      target,
      title: `Sessions of service-linked role ${role} cannot be revoked`,
      why: 'AWS does not allow policies on a service-linked role. Find what used the service to act, and respond on that identity instead.',
      commands: [],
      sdk: null,
      action: null,
    });
  } else {
    const policy = revokeOlderSessionsPolicy(context.nowMs);
    const instanceNote = identity.instanceProfileOf !== null ? ` These are the instance-profile credentials of ${identity.instanceProfileOf}: applications on every instance using this role are denied too until the instance metadata service hands them new credentials.` : '';
    steps.push({
      id: `${base}:revoke-sessions`,
      target,
      title: `Revoke every active session of IAM role ${role}`,
      why: `The inline policy ${REVOKE_POLICY_NAME} (what the IAM console's "Revoke active sessions" adds) denies every request made with credentials of this role issued before ${new Date(context.nowMs).toISOString()}, including the attacker's${session}. Whoever may still assume the role gets fresh credentials that work: see the next step.${instanceNote}`,
      commands: [aws(context, 'iam', ['put-role-policy', '--role-name', role, '--policy-name', REVOKE_POLICY_NAME, '--policy-document', policy])],
      sdk: `IAM PutRolePolicy (${REVOKE_POLICY_NAME})`,
      action: { kind: 'iam:revoke-role-sessions', roleName: role, policyName: REVOKE_POLICY_NAME, policyDocument: policy },
    });
  }
  steps.push(trust);
  if (identity.federationProvider !== null) {
    steps.push({
      id: `${base}:identity-provider`,
      target: `identity provider ${identity.federationProvider}`,
      title: `Disable the user at identity provider ${identity.federationProvider}`,
      why: `The session came through federation (${identity.federationProvider}): the role trusts the provider, so anyone it signs in can assume the role again. Suspend the user there and revoke their sessions and refresh tokens, then check the provider's own sign-in log for how the account was used.`,
      commands: [],
      sdk: null,
      action: null,
    });
  }
  return steps;
}

function ssoSteps(identity: SsoIdentity, context: CommandContext): ResponseStep[] {
  const user = identity.sessionName ?? 'USER_NAME';
  const target = `IAM Identity Center user ${user}`;
  const base = `sso:${user}`;
  const permissionSet = identity.permissionSetName !== null ? `permission set ${identity.permissionSetName}` : 'the permission set';
  const denyUser = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { StringLike: { 'aws:userid': `*:${user}` } } }] });
  return [
    {
      id: `${base}:find-user`,
      target,
      title: `Find the IAM Identity Center user ${user}`,
      why: `The session came from IAM Identity Center through role ${identity.roleName} (${permissionSet}); its session name is the user's name. Identity Center roles cannot be changed in IAM: the response happens in Identity Center and the identity source. Replace IDENTITY_STORE_ID with the IdentityStoreId the first command prints.`,
      commands: [
        aws(context, 'sso-admin', ['list-instances']),
        aws(context, 'identitystore', ['get-user-id', '--identity-store-id', raw('IDENTITY_STORE_ID'), '--alternate-identifier', JSON.stringify({ UniqueAttribute: { AttributePath: 'userName', AttributeValue: user } })]),
      ],
      sdk: null,
      action: null,
    },
    {
      id: `${base}:disable-user`,
      target,
      title: `Disable ${user} in the identity source and end their sessions`,
      why: 'In the IAM Identity Center console, open the user, delete their active sessions and disable the user (or, with an external identity provider such as Okta or Entra ID, suspend the user there and revoke their sessions, which also stops provisioning them back). Existing role credentials stay valid until they expire: the next step denies them.',
      commands: [],
      sdk: null,
      action: null,
    },
    {
      id: `${base}:deny-sessions`,
      target,
      title: `Deny ${user}'s existing sessions through ${permissionSet}`,
      why: 'An inline policy on the permission set that denies this user name ends the role sessions already issued to them in every account it is provisioned to. put-inline-policy-to-permission-set replaces the existing inline policy: merge this statement into it (get-inline-policy-for-permission-set) first. Replace INSTANCE_ARN and PERMISSION_SET_ARN (sso-admin list-permission-sets).',
      commands: [
        aws(context, 'sso-admin', ['put-inline-policy-to-permission-set', '--instance-arn', raw('INSTANCE_ARN'), '--permission-set-arn', raw('PERMISSION_SET_ARN'), '--inline-policy', denyUser]),
        aws(context, 'sso-admin', ['provision-permission-set', '--instance-arn', raw('INSTANCE_ARN'), '--permission-set-arn', raw('PERMISSION_SET_ARN'), '--target-type', 'ALL_PROVISIONED_ACCOUNTS']),
      ],
      sdk: null,
      action: null,
    },
  ];
}

function federatedUserSteps(identity: FederatedUserIdentity, context: CommandContext): ResponseStep[] {
  const base = `federated-user:${identity.name}`;
  if (identity.issuerUserName === null) {
    return [
      {
        id: `${base}:find-issuer`,
        target: `federated user ${identity.name}`,
        title: `Find the IAM user who issued federated user ${identity.name}`,
        why: 'Credentials from GetFederationToken cannot be revoked on their own: their permissions are those of the IAM user that called it, so the response is on that user (deny its older sessions, deactivate its keys). The events here do not name it: look for GetFederationToken calls with this name (trailhound investigate, or the CloudTrail console).',
        commands: [],
        sdk: null,
        action: null,
      },
    ];
  }
  const issuer = identity.issuerUserName;
  return [
    revokeUserSessionsStep(
      issuer,
      context,
      `iam-user:${issuer}`,
      `Federated user ${identity.name} got its credentials from IAM user ${issuer} (GetFederationToken): they cannot be revoked on their own, but a deny on ${issuer} applies to them.`,
    ),
    ...iamUserSteps({ kind: 'iam-user', arn: `issuer of ${identity.arn}`, accountId: identity.accountId, userName: issuer, accessKeyIds: [], hasTemporaryCredentials: false, console: { state: 'unknown', detail: `${issuer} is the issuer of federated user ${identity.name}` } }, context),
  ];
}

function rootSteps(identity: RootIdentity, context: CommandContext): ResponseStep[] {
  const account = identity.accountId ?? 'the account';
  const target = `root user of ${account}`;
  const base = `root:${account}`;
  const manual = (id: string, title: string, why: string, commands: readonly string[] = []): ResponseStep => ({ id: `${base}:${id}`, target, title, why, commands, sdk: null, action: null });
  return [
    manual(
      'secure-sign-in',
      `Take back the root user of account ${account}`,
      `Root cannot be restricted by IAM policies and nothing here is automated. Sign in as root (reset the password through the account email if it was changed), set a new strong password, and check its MFA devices: remove any you do not know and keep at least one of yours. ${consoleSentence(identity.console)}`,
      [aws(context, 'iam', ['get-account-summary', '--query', 'SummaryMap.{MFA:AccountMFAEnabled,RootAccessKeys:AccountAccessKeysPresent}'])],
    ),
    manual(
      'access-keys',
      'Delete every root access key',
      'Root access keys can only be deleted while signed in as root (Security credentials page), or, in an AWS Organizations member account with centralized root access, from the management account through sts assume-root. Credentials from GetSessionToken called as root cannot be revoked: they expire on their own.',
    ),
    manual(
      'contacts',
      'Check the account email, contacts and payment settings',
      'An attacker with root can change the account email, alternate contacts and payment methods to keep the account. Put back anything you did not change.',
      [aws(context, 'iam', ['list-account-aliases'])],
    ),
    manual(
      'persistence',
      'Look for what the root user created',
      'New IAM users, access keys, roles with outside trust, login profiles: the credential report lists every user and key with their last use. Also run trailhound investigate on this identity.',
      [aws(context, 'iam', ['generate-credential-report']), shellCommand([raw(aws(context, 'iam', ['get-credential-report', '--query', 'Content', '--output', 'text'])), raw('| base64 -d')])],
    ),
    manual('support', 'Contact AWS Support if you cannot sign in as root', 'AWS Support can help recover an account whose root user was taken over.'),
  ];
}

function identitySteps(identity: ResponseIdentity, context: CommandContext): ResponseStep[] {
  switch (identity.kind) {
    case 'iam-user':
      return iamUserSteps(identity, context);
    case 'assumed-role':
      return assumedRoleSteps(identity, context);
    case 'sso':
      return ssoSteps(identity, context);
    case 'federated-user':
      return federatedUserSteps(identity, context);
    case 'root':
      return rootSteps(identity, context);
    case 'other':
      return [{ id: `other:${identity.arn}`, target: identity.arn, title: `No playbook for ${identity.arn}`, why: identity.reason, commands: [], sdk: null, action: null }];
  }
}

function joinPath(dir: string | undefined, file: string): string {
  if (dir === undefined || dir === '' || dir === '.') return file;
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

function instanceSteps(signal: Signal, instanceIds: readonly string[], context: CommandContext, options: ResponsePlanOptions, isUserData: boolean): ResponseStep[] {
  const steps: ResponseStep[] = [];
  const list = instanceIds.join(', ');
  const many = instanceIds.length > 1;
  const target = `instance${many ? 's' : ''} ${list}`;
  if (isUserData) {
    for (const id of instanceIds) {
      const file = joinPath(options.evidenceDir, `trailhound-${signal.id}-${id}-user-data.b64`);
      steps.push({
        id: `instance:${id}:save-user-data`,
        target: `instance ${id}`,
        title: `Keep the current user data of ${id} as evidence`,
        why: "CloudTrail records user data as <sensitiveDataRemoved>, so the script the attacker set is only in the instance attribute: save it (base64, as EC2 returns it; decode with base64 -d) before it is replaced. This is the attacker's version, not a copy to restore.",
        commands: [shellCommand([raw(aws(context, 'ec2', ['describe-instance-attribute', '--instance-id', id, '--attribute', 'userData', '--query', 'UserData.Value', '--output', 'text'])), raw('>'), file])],
        sdk: 'EC2 DescribeInstanceAttribute (userData), written to the file',
        action: { kind: 'ec2:save-user-data', instanceId: id, file },
      });
    }
  }
  steps.push({
    id: `instance:${instanceIds.join('+')}:stop`,
    target,
    title: `Stop ${target}`,
    why: `A stopped instance runs nothing more of the attacker's and keeps its disks for the snapshots. Stopping loses memory: if you need a memory capture, take it first and run the plan from the next step. ${isUserData ? 'User data can only be replaced while the instance is stopped. ' : ''}--execute waits until the instance is stopped.`,
    commands: [aws(context, 'ec2', ['stop-instances', '--instance-ids', ...instanceIds]), aws(context, 'ec2', ['wait', 'instance-stopped', '--instance-ids', ...instanceIds])],
    sdk: 'EC2 StopInstances, then DescribeInstances until every instance is stopped',
    action: { kind: 'ec2:stop-instances', instanceIds },
  });
  steps.push({
    id: `instance:${instanceIds.join('+')}:snapshot`,
    target,
    title: `Snapshot every EBS volume attached to ${target} for forensics`,
    why: `Snapshots keep the disks as they are now (what the script installed, logs, tooling) for analysis away from the instance; each is tagged with the signal id ${signal.id}.`,
    commands: instanceIds.map((id) => {
      const volumes = aws(context, 'ec2', ['describe-instances', '--instance-ids', id, '--query', 'Reservations[].Instances[].BlockDeviceMappings[].Ebs.VolumeId', '--output', 'text']);
      const snapshot = aws(context, 'ec2', [
        'create-snapshot',
        '--volume-id',
        raw('"$volume"'),
        '--description',
        `trailhound signal ${signal.id}: forensic copy of a volume of ${id}`,
        '--tag-specifications',
        `ResourceType=snapshot,Tags=[{Key=trailhound:signal,Value=${signal.id}},{Key=trailhound:instance,Value=${id}}]`,
      ]);
      return `for volume in $(${volumes}); do ${snapshot}; done`;
    }),
    sdk: 'EC2 DescribeInstances (attached EBS volumes), then CreateSnapshot for each volume',
    action: { kind: 'ec2:snapshot-volumes', instanceIds, signalId: signal.id },
  });
  if (!isUserData && options.userDataFile === undefined) return steps;

  const first = instanceIds[0] ?? 'INSTANCE_ID';
  if (options.userDataFile === undefined) steps.push({
    id: `instance:${instanceIds.join('+')}:find-good-user-data`,
    target,
    title: 'Find the last good user data',
    why:
      'CloudTrail never records user data, so the good version has to come from elsewhere: the launch template version the instance was launched from (its aws:ec2launchtemplate:id and :version tags, first command; the second prints that version\'s user data already base64-encoded), ' +
      'the AMI or configuration pipeline that builds the instance (infrastructure code, a user-data file in a repository), or a describe-instance-attribute output saved before the change, if anyone kept one. Replace LAUNCH_TEMPLATE_ID and VERSION.',
    commands: [
      aws(context, 'ec2', ['describe-instances', '--instance-ids', first, '--query', 'Reservations[].Instances[].Tags[?starts_with(Key, `aws:ec2launchtemplate`)]']),
      shellCommand([
        raw(aws(context, 'ec2', ['describe-launch-template-versions', '--launch-template-id', raw('LAUNCH_TEMPLATE_ID'), '--versions', raw('VERSION'), '--query', 'LaunchTemplateVersions[0].LaunchTemplateData.UserData', '--output', 'text'])),
        raw('>'),
        'good-user-data.b64',
      ]),
    ],
    sdk: null,
    action: null,
  });
  for (const id of instanceIds) {
    const file = options.userDataFile;
    const encoded = file !== undefined ? joinPath(options.evidenceDir, `trailhound-${signal.id}-${id}-good-user-data.b64`) : 'good-user-data.b64';
    const commands = [
      ...(file !== undefined ? [shellCommand([raw('base64 <'), file, raw("| tr -d '\\n' >"), encoded])] : []),
      aws(context, 'ec2', ['modify-instance-attribute', '--instance-id', id, '--attribute', 'userData', '--value', `file://${encoded}`]),
    ];
    steps.push({
      id: `instance:${id}:restore-user-data`,
      target: `instance ${id}`,
      title: `Put the last good user data back on ${id}`,
      why:
        (file !== undefined
          ? `From ${file}, which --execute sends with the SDK (it base64-encodes it). By hand, encode it first: with --attribute userData, --value is sent as written, so the file must hold base64. `
          : 'From the file the previous step produced (good-user-data.b64), or your own; give the script with --user-data FILE to let --execute do this step. With --attribute userData, --value is sent as written, so the file must hold the user data base64-encoded (the launch template output already is). ') +
        'The instance stays stopped: start it once the investigation is done and the snapshots are complete.',
      commands,
      sdk: file !== undefined ? 'EC2 ModifyInstanceAttribute (UserData from the file; the SDK base64-encodes it)' : null,
      action: file !== undefined ? { kind: 'ec2:restore-user-data', instanceId: id, file } : null,
    });
  }
  return steps;
}

/** Thrown by buildResponsePlan for options that do not fit the signal (the CLI turns it into a usage error). */
export class PlanOptionError extends Error {
  override readonly name = 'PlanOptionError';
}

/** The response plan for `signal`. */
export function buildResponsePlan(signal: Signal, options: ResponsePlanOptions): ResponsePlan {
  const evidence = options.evidence;
  const parts = new Set<PlanPart>(options.parts ?? ['identity', 'instance']);
  const identities = identitiesOf(signal, evidence);
  const allInstances = signalInstanceIds(signal);
  let instanceIds = allInstances;
  if (options.instanceIds !== undefined && options.instanceIds.length > 0) {
    const unknown = options.instanceIds.filter((id) => !allInstances.includes(id));
    if (unknown.length > 0) throw new PlanOptionError(`signal ${signal.id} is not about ${unknown.join(', ')} (its instances: ${allInstances.join(', ') || 'none'})`);
    instanceIds = allInstances.filter((id) => options.instanceIds?.includes(id));
  }
  if (options.userDataFile !== undefined && instanceIds.length !== 1) {
    throw new PlanOptionError(
      instanceIds.length === 0 ? `signal ${signal.id} names no instance to restore user data on` : `signal ${signal.id} names ${instanceIds.length} instances (${instanceIds.join(', ')}): pick the one to restore with --instance ID`,
    );
  }
  const region = options.region ?? signalRegion(signal, evidence);
  const context: CommandContext = { profile: options.profile, region, nowMs: options.nowMs };
  const accountId = signalAccount(signal, evidence, identities);

  const notes: string[] = [];
  if (parts.has('identity') && identities.length === 0) notes.push('The signal names no identity (no userIdentity.arn in its group or actors, and no stored events): respond on the credentials by hand.');
  if (parts.has('instance') && instanceIds.length === 0) notes.push('The signal names no EC2 instance: there is nothing to stop or snapshot.');
  for (const identity of identities) {
    if (identity.accountId !== null && accountId !== null && identity.accountId !== accountId) {
      notes.push(`${identity.arn} belongs to account ${identity.accountId} but acted in ${accountId}: run its steps with credentials of ${identity.accountId}, the instance steps with credentials of ${accountId}.`);
    }
  }
  if (region === null && parts.has('instance') && instanceIds.length > 0) notes.push('No region is known for the instance: pass --region.');

  const steps: ResponseStep[] = [];
  if (parts.has('identity')) for (const identity of identities) steps.push(...identitySteps(identity, context));
  if (parts.has('instance') && instanceIds.length > 0) steps.push(...instanceSteps(signal, instanceIds, context, options, isAboutUserData(signal, evidence)));
  // A step id appears once even when two identities lead to the same action (a federated user's issuer also acting itself).
  const seen = new Set<string>();
  const unique = steps.filter((s) => (seen.has(s.id) ? false : (seen.add(s.id), true)));
  return { signalId: signal.id, ruleId: signal.ruleId, title: signal.title, severity: signal.severity, accountId, region, identities, instanceIds, notes, steps: unique };
}
