import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client, ModifyInstanceAttributeCommand, StopInstancesCommand, CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { DeleteLoginProfileCommand, IAMClient, ListAccessKeysCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Capture, runCli } from '../../test/support/cli.js';
import { FIXTURES } from '../../test/support/detect.js';
import { useScratch } from '../../test/support/scratch.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import { main } from './main.js';

const RUN = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
const FLAGSHIP = '2031dab62c1e3f43';
const SEQUENCE = 'cd5392e1df05a9c6';
const INSTANCE = 'i-DDd6c7B0e18F0E35f';

const scratch = useScratch('respond');
const iamMock = mockClient(IAMClient);
const ec2Mock = mockClient(EC2Client);

/** A state folder holding the run's signals and, when asked, its events in the index (scan --state, or --no-index). */
async function stateWithRun(isIndexed: boolean): Promise<string> {
  const dir = scratch.freshDir();
  const scanned = await runCli(['scan', join(FIXTURES, RUN), '--state', dir, '--format', 'jsonl', '-q', ...(isIndexed ? [] : ['--no-index'])]);
  expect(scanned.code).toBe(0);
  return dir;
}

async function notesOf(dir: string, id: string): Promise<string[]> {
  const store = await openSqliteStateStore({ dir, access: 'shared' });
  try {
    const detail = await store.getSignal(id);
    return (detail?.triage ?? []).filter((t) => t.action === 'note').map((t) => `${t.actor}: ${t.note ?? ''}`);
  } finally {
    await store.close();
  }
}


/** The CLI with a terminal on standard input (where --execute asks for the signal id). */
async function runOnTerminal(argv: readonly string[], typed: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  stdin.end(typed);
  const code = await main(argv, { stdout, stderr, stdin });
  return { code, out: stdout.text, err: stderr.text };
}

function mockHappyAws(): void {
  iamMock.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [{ UserName: 'christophe', AccessKeyId: 'AKIAZI86ACIZ2J9CV86Z', Status: 'Active', CreateDate: new Date('2024-07-01T00:00:00Z') }] });
  iamMock.on(UpdateAccessKeyCommand).resolves({});
  iamMock.on(DeleteLoginProfileCommand).resolves({});
  ec2Mock.on(DescribeInstanceAttributeCommand).resolves({ InstanceId: INSTANCE, UserData: { Value: 'IyEvYmluL3NoCmV2aWwK' } });
  ec2Mock.on(StopInstancesCommand).resolves({ StoppingInstances: [{ InstanceId: INSTANCE, PreviousState: { Name: 'running' }, CurrentState: { Name: 'stopping' } }] });
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: INSTANCE, State: { Name: 'stopped' }, BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0aaa' } }] }] }] });
  ec2Mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-0123' });
  ec2Mock.on(ModifyInstanceAttributeCommand).resolves({});
}

let indexed: string;
let plain: string;

beforeAll(async () => {
  indexed = await stateWithRun(true);
  plain = await stateWithRun(false);
});

beforeEach(() => {
  iamMock.reset();
  ec2Mock.reset();
});

afterAll(() => {
  iamMock.restore();
  ec2Mock.restore();
});

describe('trailhound respond (dry run)', () => {
  it('prints the IAM-user and instance plan of the flagship signal, from a unique id prefix', async () => {
    const run = await runCli(['respond', FLAGSHIP.slice(0, 8), '--state', plain, '--region', 'us-east-1']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`Response plan for signal ${FLAGSHIP} · low · bd9-8o0-553`);
    expect(run.out).toContain('identity: IAM user christophe (arn:aws:iam::309303190113:user/christophe); console use unknown');
    expect(run.out).toContain('   $ aws iam list-access-keys --user-name christophe\n');
    expect(run.out).toContain(`   $ aws ec2 modify-instance-attribute --instance-id ${INSTANCE} --attribute userData --value file://good-user-data.b64 --region us-east-1\n`);
    expect(run.out).toContain(`   $ trailhound respond ${FLAGSHIP} --state ${plain} --region us-east-1 --execute\n`);
    expect(iamMock.calls()).toHaveLength(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('uses the event index: the region and the key of the events, and no console use seen', async () => {
    const run = await runCli(['respond', FLAGSHIP, '--state', indexed, '--format', 'json']);
    expect(run.code).toBe(0);
    const { plan } = JSON.parse(run.out) as { plan: { region: string; identities: { accessKeyIds: string[]; console: { state: string } }[]; steps: { id: string; action: unknown }[] } };
    expect(plan.region).toBe('ca-northsouth-2r');
    expect(plan.identities[0]?.accessKeyIds).toEqual(['AKIAZI86ACIZ2J9CV86Z']);
    expect(plan.identities[0]?.console.state).toBe('not-seen');
    expect(plan.steps.find((s) => s.id === 'iam-user:christophe:delete-login-profile')?.action).toBeNull();
  });

  it('takes the signal from scan output with --signals', async () => {
    const dir = scratch.freshDir();
    const scanned = await runCli(['scan', join(FIXTURES, RUN), '--format', 'jsonl', '-q']);
    const file = scratch.put(dir, 'signals.jsonl', scanned.out);
    const run = await runCli(['respond', SEQUENCE, '--signals', file, '--format', 'json']);
    expect(run.code).toBe(0);
    const { plan } = JSON.parse(run.out) as { plan: { signalId: string; ruleId: string; region: string } };
    expect(plan).toMatchObject({ signalId: SEQUENCE, ruleId: 'aws-ec2-user-data-modified-then-started', region: 'ca-northsouth-2r' });
  });

  it.each([
    [['respond', FLAGSHIP], /needs --state DIR .* or --signals FILE/],
    [['respond', 'ffffffffffff', '--state', 'STATE'], /E_SIGNAL_NOT_FOUND/],
    [['respond', FLAGSHIP, '--state', 'STATE', '--yes'], /--yes only confirms --execute/],
    [['respond', FLAGSHIP, '--state', 'STATE', '--user-data', 'missing-user-data.sh'], /cannot read --user-data/],
    [['respond', FLAGSHIP, '--state', 'STATE', '--instance', 'i-0123456789abcdef0'], /not about i-0123456789abcdef0/],
  ])('refuses %j with a clear message', async (argv, message) => {
    const run = await runCli(argv.map((a) => (a === 'STATE' ? plain : a)));
    expect(run.code).toBe(1);
    expect(run.err).toMatch(message);
  });
});

describe('trailhound respond --execute', () => {
  it('refuses without --yes when standard input is not a terminal, and calls nothing', async () => {
    mockHappyAws();
    const run = await runCli(['respond', FLAGSHIP, '--state', plain, '--execute'], `${FLAGSHIP}\n`);
    expect(run.code).toBe(1);
    expect(run.err).toContain('--execute changes your AWS account: run it on a terminal and type the signal id when asked, or add --yes');
    expect(iamMock.calls()).toHaveLength(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('does nothing when the id typed at the prompt is not the signal id', async () => {
    mockHappyAws();
    const run = await runOnTerminal(['respond', FLAGSHIP, '--state', plain, '--execute'], 'yes\n');
    expect(run.code).toBe(1);
    expect(run.err).toContain(`Type the signal id (${FLAGSHIP}) to go on: `);
    expect(run.err).toContain('not confirmed: nothing was changed');
    expect(iamMock.calls()).toHaveLength(0);
  });

  it('runs every automated step once the signal id is typed, and logs each in the notes', async () => {
    mockHappyAws();
    const dir = await stateWithRun(false);
    const userData = scratch.put(scratch.freshDir(), 'good.sh', '#!/bin/sh\necho good\n');
    const evidence = join(scratch.freshDir(), 'evidence');
    const run = await runOnTerminal(['respond', FLAGSHIP, '--state', dir, '--execute', '--user-data', userData, '--evidence-dir', evidence, '--actor', 'alice'], `${FLAGSHIP}\n`);
    expect(run.err).toContain('About to run 7 automated steps against AWS (account 309303190113).');
    expect(run.code).toBe(0);
    expect(run.out).toContain('Done: 7 automated steps succeeded.');
    expect(iamMock.commandCalls(UpdateAccessKeyCommand).map((c) => c.args[0].input)).toEqual([{ UserName: 'christophe', AccessKeyId: 'AKIAZI86ACIZ2J9CV86Z', Status: 'Inactive' }]);
    expect(ec2Mock.commandCalls(StopInstancesCommand).map((c) => c.args[0].input)).toEqual([{ InstanceIds: [INSTANCE] }]);
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand).map((c) => c.args[0].input)).toEqual([{ InstanceId: INSTANCE, UserData: { Value: new Uint8Array(readFileSync(userData)) } }]);
    expect(readFileSync(join(evidence, `trailhound-${FLAGSHIP}-${INSTANCE}-user-data.b64`), 'utf8')).toBe('IyEvYmluL3NoCmV2aWwK\n');
    const notes = await notesOf(dir, FLAGSHIP);
    expect(notes[0]).toMatch(/^alice: respond --execute started by alice: 7 automated step\(s\) of 7/);
    expect(notes.slice(1).map((n) => n.replace(/": .*/s, '"'))).toEqual([
      'alice: respond --execute, step 1/7 "List the access keys of IAM user christophe"',
      'alice: respond --execute, step 2/7 "Deactivate every active access key of IAM user christophe"',
      'alice: respond --execute, step 3/7 "Delete the login profile (console password) of IAM user christophe"',
      `alice: respond --execute, step 4/7 "Keep the current user data of ${INSTANCE} as evidence"`,
      `alice: respond --execute, step 5/7 "Stop instance ${INSTANCE}"`,
      `alice: respond --execute, step 6/7 "Snapshot every EBS volume attached to instance ${INSTANCE} for forensics"`,
      `alice: respond --execute, step 7/7 "Put the last good user data back on ${INSTANCE}"`,
    ]);
    expect(notes[6]).toContain('ok: started snap-0123 of vol-0aaa');
  });

  it('stops at a failed step, exits 1, and logs the failure with its AWS error code', async () => {
    mockHappyAws();
    iamMock.on(UpdateAccessKeyCommand).rejects(Object.assign(new Error('not authorized to perform: iam:UpdateAccessKey'), { name: 'AccessDenied', $metadata: {} }));
    const dir = await stateWithRun(false);
    const run = await runCli(['respond', FLAGSHIP, '--state', dir, '--execute', '--yes', '--actor', 'bot', '--format', 'json']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('step 2 failed (AccessDenied); the steps after it were not run');
    const { execution } = JSON.parse(run.out) as { execution: { isComplete: boolean; outcomes: { status: string; errorCode?: string }[] } };
    expect(execution.isComplete).toBe(false);
    expect(execution.outcomes.map((o) => o.status)).toEqual(['ok', 'failed', 'not-run', 'not-run', 'not-run', 'not-run', 'not-run', 'not-run']);
    expect(iamMock.commandCalls(DeleteLoginProfileCommand)).toHaveLength(0);
    expect(ec2Mock.calls()).toHaveLength(0);
    const notes = await notesOf(dir, FLAGSHIP);
    expect(notes).toHaveLength(3);
    expect(notes[2]).toBe('bot: respond --execute, step 2/8 "Deactivate every active access key of IAM user christophe": failed (AccessDenied): not authorized to perform: iam:UpdateAccessKey');
  });

  it('escapes attacker-controlled text of a signal file in the printed plan', async () => {
    const dir = scratch.freshDir();
    const scanned = await runCli(['scan', join(FIXTURES, RUN), '--format', 'jsonl', '-q']);
    const hostile = scanned.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { ruleId: string; group: Record<string, string> })
      .filter((s) => s.ruleId === 'bd9-8o0-553')
      .map((s) => ({ ...s, group: { '@userIdentity.arn': "arn:aws:iam::309303190113:user/x\u001b[31m'$(id)" } }));
    const file = join(dir, 'hostile.json');
    writeFileSync(file, JSON.stringify(hostile));
    const run = await runCli(['respond', FLAGSHIP, '--signals', file, '--only', 'identity']);
    expect(run.code).toBe(0);
    expect(run.out).not.toContain('\u001b');
    expect(run.out).toContain("$ aws iam list-access-keys --user-name $'x\\x1b[31m\\'$(id)'");
  });
});
