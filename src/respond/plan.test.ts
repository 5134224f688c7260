import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { JsonObject, Signal } from '../core/types.js';
import { detect, fixtureRecords, stratusAttack, variant } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { identityOf } from './identity.js';
import type { ResponseEvidence } from './identity.js';
import { PlanOptionError, REVOKE_POLICY_NAME, buildResponsePlan } from './plan.js';
import type { ResponsePlan, ResponseStep } from './plan.js';

const NOW = Date.parse('2024-08-01T13:00:00Z');
const USER_DATA_RUN = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
const USER_DATA_READS = 'stratus-detonation-logs/aws.discovery.ec2-download-user-data.json';
const SERIAL_CONSOLE = 'stratus-detonation-logs/aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json';
const FEDERATION = 'stratus-detonation-logs/aws.persistence.sts-federation-token.json';

function signalOf(records: readonly unknown[], ruleId: string): Signal {
  const signal = detect(records).find((s) => s.ruleId === ruleId);
  if (signal === undefined) throw new Error(`no ${ruleId} signal`);
  return signal;
}

function evidenceOf(records: readonly Rec[], isIndexed = true): ResponseEvidence {
  return { records: records as JsonObject[], isIndexed };
}

function stepIds(plan: ResponsePlan): string[] {
  return plan.steps.map((s) => s.id);
}

function step(plan: ResponsePlan, suffix: string): ResponseStep {
  const found = plan.steps.find((s) => s.id.endsWith(suffix));
  if (found === undefined) throw new Error(`no step ${suffix} in ${stepIds(plan).join(', ')}`);
  return found;
}

/**
 * The argument lists bash passes to `aws` when it runs `command`: `aws` is replaced by a function
 * that records its arguments (on stderr) and prints `listing` when asked to list access keys.
 */
function awsCalls(command: string, listing = ''): string[][] {
  const script = `aws() { printf '%s\\0' "$@" >&2; printf '\\1' >&2; if [ "$2" = list-access-keys ]; then printf '%s' "$LISTING"; fi; }; ${command}`;
  const run = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, LISTING: listing } });
  return run.stderr
    .split('\u0001')
    .filter((c) => c !== '')
    .map((c) => c.split('\u0000').slice(0, -1));
}

/** The identity of the Stratus user-data run replaced by `identity` in every record. */
function asIdentity(identity: Rec, patch: Rec = {}): Rec[] {
  return fixtureRecords(USER_DATA_RUN).map((r, i) => variant(r, { userIdentity: identity, ...patch }, `${String(r.eventID)}-${i}`));
}

describe('an IAM user: the Stratus user-data run (bd9-8o0-553)', () => {
  const { all } = stratusAttack();
  const signal = signalOf(all, 'bd9-8o0-553');

  it('lists and deactivates the keys, deletes the password when console use is unknown, then handles the instance', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW, region: 'us-east-1' });
    expect(plan.identities).toMatchObject([{ kind: 'iam-user', userName: 'christophe', accountId: '309303190113', console: { state: 'unknown' } }]);
    expect(plan.instanceIds).toEqual(['i-DDd6c7B0e18F0E35f']);
    expect(stepIds(plan)).toEqual([
      'iam-user:christophe:list-access-keys',
      'iam-user:christophe:deactivate-access-keys',
      'iam-user:christophe:delete-login-profile',
      'instance:i-DDd6c7B0e18F0E35f:save-user-data',
      'instance:i-DDd6c7B0e18F0E35f:stop',
      'instance:i-DDd6c7B0e18F0E35f:snapshot',
      'instance:i-DDd6c7B0e18F0E35f:find-good-user-data',
      'instance:i-DDd6c7B0e18F0E35f:restore-user-data',
    ]);
    expect(plan.steps.map((s) => s.action?.kind ?? null)).toEqual([
      'iam:list-access-keys',
      'iam:deactivate-access-keys',
      'iam:delete-login-profile',
      'ec2:save-user-data',
      'ec2:stop-instances',
      'ec2:snapshot-volumes',
      null,
      null, // no --user-data file: restoring is manual
    ]);
    expect(step(plan, 'list-access-keys').commands).toEqual(['aws iam list-access-keys --user-name christophe']);
    expect(step(plan, 'delete-login-profile').why).toContain('unknown');
    expect(step(plan, ':stop').commands).toEqual(['aws ec2 stop-instances --instance-ids i-DDd6c7B0e18F0E35f --region us-east-1', 'aws ec2 wait instance-stopped --instance-ids i-DDd6c7B0e18F0E35f --region us-east-1']);
    expect(step(plan, 'restore-user-data').commands).toEqual(['aws ec2 modify-instance-attribute --instance-id i-DDd6c7B0e18F0E35f --attribute userData --value file://good-user-data.b64 --region us-east-1']);
    // The restore step says where the last good copy comes from, since CloudTrail redacts it.
    expect(step(plan, 'find-good-user-data').why).toMatch(/launch template.*AMI.*describe-instance-attribute/s);
  });

  it('deactivates every active key in one shell loop that bash runs as two aws calls', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW });
    const [loop] = step(plan, 'deactivate-access-keys').commands;
    expect(awsCalls(loop ?? '', 'AKIAZI86ACIZ2J9CV86Z\tAKIAZI86ACIZ2J9CV86Y\n')).toEqual([
      ['iam', 'list-access-keys', '--user-name', 'christophe', '--query', 'AccessKeyMetadata[?Status==`Active`].AccessKeyId', '--output', 'text'],
      ['iam', 'update-access-key', '--user-name', 'christophe', '--access-key-id', 'AKIAZI86ACIZ2J9CV86Z', '--status', 'Inactive'],
      ['iam', 'update-access-key', '--user-name', 'christophe', '--access-key-id', 'AKIAZI86ACIZ2J9CV86Y', '--status', 'Inactive'],
    ]);
  });

  it('takes the region from the sequence signal and the keys and account from the events', () => {
    const sequence = signalOf(all, 'aws-ec2-user-data-modified-then-started');
    const plan = buildResponsePlan(sequence, { nowMs: NOW, evidence: evidenceOf(all, false) });
    expect(plan.region).toBe('ca-northsouth-2r');
    expect(plan.accountId).toBe('309303190113');
    expect(plan.identities).toMatchObject([{ kind: 'iam-user', userName: 'christophe', accessKeyIds: ['AKIAZI86ACIZ2J9CV86Z'], hasTemporaryCredentials: false }]);
    expect(step(plan, ':snapshot').commands[0]).toContain('--region ca-northsouth-2r');
  });

  it('keeps the password step manual when the event index shows no console use', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW, evidence: evidenceOf(all, true) });
    const profile = step(plan, 'delete-login-profile');
    expect(profile.action).toBeNull();
    expect(profile.why).toContain(`among the ${all.length} stored events`);
  });

  it('deletes the password when the index holds a console sign-in of the user', () => {
    const [login] = fixtureRecords('stratus-detonation-logs/aws.initial-access.console-login-without-mfa.json');
    const christophesLogin = variant(login ?? {}, { userIdentity: all[0]?.userIdentity ?? null }, 'login-1');
    const plan = buildResponsePlan(signal, { nowMs: NOW, evidence: evidenceOf([...all, christophesLogin], true) });
    const profile = step(plan, 'delete-login-profile');
    expect(profile.action).toEqual({ kind: 'iam:delete-login-profile', userName: 'christophe' });
    expect(profile.why).toContain(`ConsoleLogin (Success) at ${String(login?.eventTime)}`);
  });

  it('makes restoring automatic with --user-data, encoding the file for the printed command', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW, userDataFile: 'good.sh', evidenceDir: 'evidence' });
    expect(stepIds(plan)).not.toContain('instance:i-DDd6c7B0e18F0E35f:find-good-user-data');
    const restore = step(plan, 'restore-user-data');
    expect(restore.action).toEqual({ kind: 'ec2:restore-user-data', instanceId: 'i-DDd6c7B0e18F0E35f', file: 'good.sh' });
    expect(restore.commands).toEqual([
      "base64 < good.sh | tr -d '\\n' > evidence/trailhound-2031dab62c1e3f43-i-DDd6c7B0e18F0E35f-good-user-data.b64",
      'aws ec2 modify-instance-attribute --instance-id i-DDd6c7B0e18F0E35f --attribute userData --value file://evidence/trailhound-2031dab62c1e3f43-i-DDd6c7B0e18F0E35f-good-user-data.b64',
    ]);
    expect(step(plan, 'save-user-data').action).toEqual({ kind: 'ec2:save-user-data', instanceId: 'i-DDd6c7B0e18F0E35f', file: 'evidence/trailhound-2031dab62c1e3f43-i-DDd6c7B0e18F0E35f-user-data.b64' });
  });

  it('adds --profile to every command and keeps to one part when asked', () => {
    const identityOnly = buildResponsePlan(signal, { nowMs: NOW, profile: 'incident response', parts: ['identity'] });
    expect(stepIds(identityOnly).every((id) => id.startsWith('iam-user:'))).toBe(true);
    for (const s of identityOnly.steps) for (const c of s.commands) expect(c).toContain("--profile 'incident response'");
    const instanceOnly = buildResponsePlan(signal, { nowMs: NOW, parts: ['instance'] });
    expect(stepIds(instanceOnly).every((id) => id.startsWith('instance:'))).toBe(true);
  });

  it.each([
    [{ userDataFile: 'good.sh', instanceIds: ['i-0123456789abcdef0'] }, /not about i-0123456789abcdef0/],
    [{ userDataFile: 'good.sh', parts: ['identity'] as const }, undefined],
  ])('checks the options against the signal: %j', (options, error) => {
    const build = () => buildResponsePlan(signal, { nowMs: NOW, ...options, parts: 'parts' in options ? [...options.parts] : ['identity', 'instance'] });
    if (error === undefined) expect(build).not.toThrow();
    else expect(build).toThrow(error);
  });

  it('refuses --user-data when the signal has no instance', () => {
    const noHost: Signal = { ...signal, host: null };
    expect(() => buildResponsePlan(noHost, { nowMs: NOW, userDataFile: 'good.sh' })).toThrow(PlanOptionError);
  });

  it('adds a deny on older sessions when the user worked with temporary credentials', () => {
    const temporary = asIdentity({ ...(all[0]?.userIdentity as Rec), accessKeyId: 'ASIAZI86ACIZ2J9CV86Z' });
    const plan = buildResponsePlan(signalOf(temporary, 'bd9-8o0-553'), { nowMs: NOW, evidence: evidenceOf(temporary, false) });
    const revoke = step(plan, 'iam-user:christophe:revoke-sessions');
    expect(revoke.action).toMatchObject({ kind: 'iam:revoke-user-sessions', userName: 'christophe', policyName: REVOKE_POLICY_NAME });
    expect(stepIds(plan).indexOf(revoke.id)).toBe(2);
  });
});

describe('an assumed role: the Stratus user-data enumeration (ec2-user-data-enumeration)', () => {
  const records = fixtureRecords(USER_DATA_READS);
  const signal = signalOf(records, 'ec2-user-data-enumeration');

  it('revokes the role sessions issued before now, then shows who may assume the role', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW, evidence: evidenceOf(records, false) });
    expect(plan.identities).toMatchObject([{ kind: 'assumed-role', roleName: 'stratus-red-team-get-usr-data-role', sessionName: 'aws-go-sdk-1722455550269043000', isServiceLinked: false }]);
    expect(stepIds(plan).slice(0, 2)).toEqual(['role:stratus-red-team-get-usr-data-role:revoke-sessions', 'role:stratus-red-team-get-usr-data-role:show-trust']);
    const revoke = step(plan, 'revoke-sessions');
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { DateLessThan: { 'aws:TokenIssueTime': '2024-08-01T13:00:00.000Z' } } }],
    });
    expect(revoke.action).toEqual({ kind: 'iam:revoke-role-sessions', roleName: 'stratus-red-team-get-usr-data-role', policyName: 'AWSRevokeOlderSessions', policyDocument: policy });
    expect(awsCalls(revoke.commands[0] ?? '')).toEqual([['iam', 'put-role-policy', '--role-name', 'stratus-red-team-get-usr-data-role', '--policy-name', 'AWSRevokeOlderSessions', '--policy-document', policy]]);
    expect(step(plan, 'show-trust').commands).toEqual(['aws iam get-role --role-name stratus-red-team-get-usr-data-role --query Role.AssumeRolePolicyDocument']);
  });

  it('stops and snapshots the instance, without user-data steps: its user data was read, not changed', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW });
    expect(plan.instanceIds).toEqual(['i-eacdbb0b']);
    expect(stepIds(plan).filter((id) => id.startsWith('instance:'))).toEqual(['instance:i-eacdbb0b:stop', 'instance:i-eacdbb0b:snapshot']);
  });
});

describe('IAM Identity Center: the Stratus serial-console run (ec2-serial-console-ssh-key-pushed)', () => {
  const records = fixtureRecords(SERIAL_CONSOLE);
  const signal = signalOf(records, 'ec2-serial-console-ssh-key-pushed');

  it('reads the permission set and the user from the events and gives identity-provider steps only', () => {
    const plan = buildResponsePlan(signal, { nowMs: NOW, evidence: evidenceOf(records, false), parts: ['identity'] });
    expect(plan.identities).toEqual([
      {
        kind: 'sso',
        arn: 'arn:aws:sts::844015365555:assumed-role/AWSReservedSSOrandoml3I7nL6f7BmB@gmail.com',
        accountId: '844015365555',
        roleName: 'AWSReservedSSO_account-admin_599c9e90e350d2ff',
        permissionSetName: 'account-admin',
        sessionName: 'randomca0L529zwNAY@gmail.com',
      },
    ]);
    expect(plan.steps.every((s) => s.action === null)).toBe(true);
    expect(stepIds(plan)).toEqual(['sso:randomca0L529zwNAY@gmail.com:find-user', 'sso:randomca0L529zwNAY@gmail.com:disable-user', 'sso:randomca0L529zwNAY@gmail.com:deny-sessions']);
    const lookup = awsCalls(step(plan, 'find-user').commands[1] ?? '');
    expect(lookup).toEqual([['identitystore', 'get-user-id', '--identity-store-id', 'IDENTITY_STORE_ID', '--alternate-identifier', '{"UniqueAttribute":{"AttributePath":"userName","AttributeValue":"randomca0L529zwNAY@gmail.com"}}']]);
  });

  it('still knows it is Identity Center from the ARN alone', () => {
    expect(identityOf('arn:aws:sts::844015365555:assumed-role/AWSReservedSSOrandoml3I7nL6f7BmB@gmail.com')).toMatchObject({ kind: 'sso', sessionName: null });
  });
});

describe('a federated user (GetFederationToken) and root: the user-data run under other identities', () => {
  const federated = fixtureRecords(FEDERATION).find((r) => (r.userIdentity as Rec | undefined)?.type === 'FederatedUser');
  if (federated === undefined) throw new Error('the federation fixture lost its FederatedUser record');

  it('denies the issuing IAM user older sessions and deactivates its keys', () => {
    const records = asIdentity(federated.userIdentity as Rec, { recipientAccountId: '742491224508' });
    const plan = buildResponsePlan(signalOf(records, 'bd9-8o0-553'), { nowMs: NOW, evidence: evidenceOf(records, false), parts: ['identity'] });
    expect(plan.identities).toMatchObject([{ kind: 'federated-user', name: 'stratus_red_team', issuerUserName: 'stratus-red-team-user-federation-user' }]);
    expect(stepIds(plan)).toEqual([
      'iam-user:stratus-red-team-user-federation-user:revoke-sessions',
      'iam-user:stratus-red-team-user-federation-user:list-access-keys',
      'iam-user:stratus-red-team-user-federation-user:deactivate-access-keys',
      'iam-user:stratus-red-team-user-federation-user:delete-login-profile',
    ]);
    expect(step(plan, 'revoke-sessions').action).toMatchObject({ kind: 'iam:revoke-user-sessions', userName: 'stratus-red-team-user-federation-user' });
  });

  it('gives root the checklist with nothing automated', () => {
    const root = { type: 'Root', principalId: '309303190113', arn: 'arn:aws:iam::309303190113:root', accountId: '309303190113', accessKeyId: 'ASIAZI86ACIZ2J9CV86Z' };
    const records = asIdentity(root);
    const plan = buildResponsePlan(signalOf(records, 'bd9-8o0-553'), { nowMs: NOW, evidence: evidenceOf(records, false) });
    expect(plan.identities).toMatchObject([{ kind: 'root', accountId: '309303190113' }]);
    const rootSteps = plan.steps.filter((s) => s.id.startsWith('root:'));
    expect(rootSteps.map((s) => s.id)).toEqual(['root:309303190113:secure-sign-in', 'root:309303190113:access-keys', 'root:309303190113:contacts', 'root:309303190113:persistence', 'root:309303190113:support']);
    expect(rootSteps.every((s) => s.action === null)).toBe(true);
    // The instance steps are still there: root changed its user data.
    expect(plan.steps.filter((s) => s.action !== null).map((s) => s.action?.kind)).toEqual(['ec2:save-user-data', 'ec2:stop-instances', 'ec2:snapshot-volumes']);
  });

  it('has no playbook for an AWS service', () => {
    const [record] = fixtureRecords('samples/fp__awsservice-identity-assumerole-ec2__invictus.json');
    const identity = record?.userIdentity as Rec;
    const arn = typeof identity.arn === 'string' ? identity.arn : 'arn:aws:iam::123456789012:service';
    expect(identityOf(arn, evidenceOf([{ ...record, userIdentity: { ...identity, arn } }], false))).toMatchObject({ kind: 'other' });
  });
});

describe('hostile values in a printed command', () => {
  const hostileSession = "x$(touch /tmp/pwned)`id`'\"\nrm -rf ~ \u001b[2J";
  const serial = fixtureRecords(SERIAL_CONSOLE);

  it('an Identity Center session name reaches aws as one exact argument and prints on one line', () => {
    const arn = `arn:aws:sts::844015365555:assumed-role/AWSReservedSSO_account-admin_599c9e90e350d2ff/${hostileSession}`;
    const records = serial.map((r, i) => variant(r, { userIdentity: { ...(r.userIdentity as Rec), arn, principalId: `AROAEMHZD694LU95MUYOP:${hostileSession}` } }, `h-${i}`));
    const plan = buildResponsePlan(signalOf(records, 'ec2-serial-console-ssh-key-pushed'), { nowMs: NOW, evidence: evidenceOf(records, false), parts: ['identity'] });
    expect(plan.identities).toMatchObject([{ kind: 'sso', sessionName: hostileSession }]);
    for (const s of plan.steps) {
      for (const c of s.commands) {
        // eslint-disable-next-line no-control-regex
        expect(c).not.toMatch(/[\u0000-\u001f\u007f]/);
      }
    }
    const [lookup] = awsCalls(step(plan, 'find-user').commands[1] ?? '');
    expect(JSON.parse(lookup?.at(-1) ?? '')).toEqual({ UniqueAttribute: { AttributePath: 'userName', AttributeValue: hostileSession } });
    const [deny] = awsCalls(step(plan, 'deny-sessions').commands[0] ?? '');
    expect(JSON.parse(deny?.at(-1) ?? '')).toMatchObject({ Statement: [{ Condition: { StringLike: { 'aws:userid': `*:${hostileSession}` } } }] });
  });

  it('a role name with quotes and a command substitution is one argument of put-role-policy', () => {
    const role = "evil'role$(id)";
    const records = fixtureRecords(USER_DATA_READS).map((r, i) => variant(r, { userIdentity: { ...(r.userIdentity as Rec), arn: `arn:aws:sts::321848314756:assumed-role/${role}/s`, sessionContext: null } }, `r-${i}`));
    const plan = buildResponsePlan(signalOf(records, 'ec2-user-data-enumeration'), { nowMs: NOW, evidence: evidenceOf(records, false), parts: ['identity'] });
    const [call] = awsCalls(step(plan, 'revoke-sessions').commands[0] ?? '');
    expect(call?.slice(0, 4)).toEqual(['iam', 'put-role-policy', '--role-name', role]);
  });
});
