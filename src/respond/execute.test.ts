import { CreateSnapshotCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client, ModifyInstanceAttributeCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import type { InstanceStateName } from '@aws-sdk/client-ec2';
import { DeleteLoginProfileCommand, GetRoleCommand, IAMClient, ListAccessKeysCommand, NoSuchEntityException, PutRolePolicyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject, Signal } from '../core/types.js';
import { detect, fixtureRecords, stratusAttack } from '../../test/support/detect.js';
import { executePlan, summariseTrustPolicy } from './execute.js';
import type { ExecuteOptions, StepOutcome } from './execute.js';
import { buildResponsePlan } from './plan.js';

const NOW = Date.parse('2024-08-01T13:00:00Z');
const INSTANCE = 'i-DDd6c7B0e18F0E35f';
const USER_DATA = new TextEncoder().encode('#!/bin/bash\necho good\n');

function signalOf(records: readonly unknown[], ruleId: string): Signal {
  const signal = detect(records).find((s) => s.ruleId === ruleId);
  if (signal === undefined) throw new Error(`no ${ruleId} signal`);
  return signal;
}

const flagship = signalOf(stratusAttack().all, 'bd9-8o0-553');
const enumeration = signalOf(fixtureRecords('stratus-detonation-logs/aws.discovery.ec2-download-user-data.json'), 'ec2-user-data-enumeration');

/** Every SDK call, in order, across both clients: [command name, input]. */
let calls: [string, unknown][];
const iam = new IAMClient({ region: 'us-east-1' });
const ec2 = new EC2Client({ region: 'us-east-1' });
const iamMock = mockClient(iam);
const ec2Mock = mockClient(ec2);
let files: Map<string, string>;
let sleeps: number[];

function record(name: string) {
  return (input: unknown) => {
    calls.push([name, input]);
  };
}

function describeReply(state: InstanceStateName) {
  return {
    Reservations: [
      {
        Instances: [
          {
            InstanceId: INSTANCE,
            State: { Name: state },
            BlockDeviceMappings: [
              { DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0aaa' } },
              { DeviceName: '/dev/xvdb', Ebs: { VolumeId: 'vol-0bbb' } },
            ],
          },
        ],
      },
    ],
  };
}

beforeEach(() => {
  calls = [];
  files = new Map();
  sleeps = [];
  iamMock.reset();
  ec2Mock.reset();
  iamMock.on(ListAccessKeysCommand).callsFake((input) => {
    record('ListAccessKeys')(input);
    return {
      AccessKeyMetadata: [
        { UserName: 'christophe', AccessKeyId: 'AKIAZI86ACIZ2J9CV86Z', Status: 'Active', CreateDate: new Date('2024-07-01T00:00:00Z') },
        { UserName: 'christophe', AccessKeyId: 'AKIAZI86ACIZ2J9CV86Y', Status: 'Inactive', CreateDate: new Date('2023-01-01T00:00:00Z') },
      ],
    };
  });
  iamMock.on(UpdateAccessKeyCommand).callsFake((input) => record('UpdateAccessKey')(input) ?? {});
  iamMock.on(DeleteLoginProfileCommand).callsFake((input) => record('DeleteLoginProfile')(input) ?? {});
  iamMock.on(PutRolePolicyCommand).callsFake((input) => record('PutRolePolicy')(input) ?? {});
  iamMock.on(GetRoleCommand).callsFake((input) => {
    record('GetRole')(input);
    const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::321848314756:root' }, Action: 'sts:AssumeRole', Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } } }] };
    return { Role: { RoleName: 'stratus-red-team-get-usr-data-role', Path: '/', RoleId: 'AROAUF4S4NNXFP6WTHD73', Arn: 'arn:aws:iam::321848314756:role/stratus-red-team-get-usr-data-role', CreateDate: new Date(), AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)) } };
  });
  ec2Mock.on(DescribeInstanceAttributeCommand).callsFake((input) => {
    record('DescribeInstanceAttribute')(input);
    return { InstanceId: INSTANCE, UserData: { Value: 'IyEvYmluL2Jhc2gKY3VybCBldmlsLmV4YW1wbGUgfCBzaA==' } };
  });
  ec2Mock.on(StopInstancesCommand).callsFake((input) => {
    record('StopInstances')(input);
    return { StoppingInstances: [{ InstanceId: INSTANCE, PreviousState: { Name: 'running' }, CurrentState: { Name: 'stopping' } }] };
  });
  ec2Mock.on(DescribeInstancesCommand).callsFake((input) => {
    record('DescribeInstances')(input);
    return describeReply('stopped');
  });
  ec2Mock.on(CreateSnapshotCommand).callsFake((input: { VolumeId?: string }) => {
    record('CreateSnapshot')(input);
    return { SnapshotId: `snap-of-${input.VolumeId ?? '?'}` };
  });
  ec2Mock.on(ModifyInstanceAttributeCommand).callsFake((input) => record('ModifyInstanceAttribute')(input) ?? {});
});

afterEach(() => {
  iamMock.reset();
  ec2Mock.reset();
});

function options(extra: Partial<ExecuteOptions> = {}): ExecuteOptions {
  return {
    clients: { iam, ec2 },
    readFile: (path) => (path === 'good.sh' ? Promise.resolve(USER_DATA) : Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }))),
    writeNewFile: (path, text) => {
      if (files.has(path)) return Promise.resolve(false);
      files.set(path, text);
      return Promise.resolve(true);
    },
    pollMs: 1000,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...extra,
  };
}

describe('executePlan on the Stratus user-data run (IAM user christophe)', () => {
  const plan = buildResponsePlan(flagship, { nowMs: NOW, userDataFile: 'good.sh', evidenceDir: 'evidence' });

  it('calls exactly the expected commands, in order, with the expected inputs', async () => {
    const report = await executePlan(plan, options());
    expect(report.isComplete).toBe(true);
    expect(calls).toEqual([
      ['ListAccessKeys', { UserName: 'christophe' }],
      ['ListAccessKeys', { UserName: 'christophe' }],
      ['UpdateAccessKey', { UserName: 'christophe', AccessKeyId: 'AKIAZI86ACIZ2J9CV86Z', Status: 'Inactive' }],
      ['DeleteLoginProfile', { UserName: 'christophe' }],
      ['DescribeInstanceAttribute', { InstanceId: INSTANCE, Attribute: 'userData' }],
      ['StopInstances', { InstanceIds: [INSTANCE] }],
      ['DescribeInstances', { InstanceIds: [INSTANCE] }],
      ['DescribeInstances', { InstanceIds: [INSTANCE] }],
      [
        'CreateSnapshot',
        {
          VolumeId: 'vol-0aaa',
          Description: `trailhound signal 2031dab62c1e3f43: forensic copy of /dev/xvda of ${INSTANCE}`,
          TagSpecifications: [
            {
              ResourceType: 'snapshot',
              Tags: [
                { Key: 'trailhound:signal', Value: '2031dab62c1e3f43' },
                { Key: 'trailhound:instance', Value: INSTANCE },
              ],
            },
          ],
        },
      ],
      ['CreateSnapshot', expect.objectContaining({ VolumeId: 'vol-0bbb' })],
      ['ModifyInstanceAttribute', { InstanceId: INSTANCE, UserData: { Value: USER_DATA } }],
    ]);
    expect(report.outcomes.map((o) => [o.step.id, o.status])).toEqual(plan.steps.map((s) => [s.id, s.action === null ? 'manual' : 'ok']));
    const detail = (suffix: string) => report.outcomes.find((o) => o.step.id.endsWith(suffix))?.detail;
    expect(detail('deactivate-access-keys')).toBe('deactivated AKIAZI86ACIZ2J9CV86Z (already inactive: AKIAZI86ACIZ2J9CV86Y)');
    expect(detail(':snapshot')).toBe(`started snap-of-vol-0aaa of vol-0aaa (${INSTANCE} /dev/xvda), snap-of-vol-0bbb of vol-0bbb (${INSTANCE} /dev/xvdb)`);
    // The attacker's user data is kept as evidence, as EC2 returned it.
    expect(files.get(`evidence/trailhound-2031dab62c1e3f43-${INSTANCE}-user-data.b64`)).toBe('IyEvYmluL2Jhc2gKY3VybCBldmlsLmV4YW1wbGUgfCBzaA==\n');
    expect(sleeps).toEqual([]);
  });

  it('stops at the first failure with its AWS error code and runs nothing after it', async () => {
    iamMock.on(UpdateAccessKeyCommand).rejects(Object.assign(new Error('User: arn:aws:iam::309303190113:user/responder is not authorized to perform: iam:UpdateAccessKey'), { name: 'AccessDenied', $fault: 'client', $metadata: {} }));
    const seen: StepOutcome[] = [];
    const report = await executePlan(plan, options({ onOutcome: (o) => void seen.push(o) }));
    expect(report.isComplete).toBe(false);
    expect(report.outcomes.map((o) => o.status)).toEqual(['ok', 'failed', 'not-run', 'not-run', 'not-run', 'not-run', 'not-run']);
    expect(report.outcomes[1]).toMatchObject({ errorCode: 'AccessDenied', detail: expect.stringContaining('not authorized') as string });
    expect(calls.map(([name]) => name)).toEqual(['ListAccessKeys', 'ListAccessKeys']);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(seen.map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('counts a user without a login profile as done', async () => {
    iamMock.on(DeleteLoginProfileCommand).rejects(new NoSuchEntityException({ message: 'Login Profile for User christophe cannot be found.', $metadata: {} }));
    const report = await executePlan(plan, options());
    expect(report.isComplete).toBe(true);
    expect(report.outcomes[2]).toMatchObject({ status: 'ok', detail: 'christophe has no login profile (no console password): nothing to delete' });
  });

  it('waits for the instance to stop, polling', async () => {
    let polls = 0;
    ec2Mock.on(DescribeInstancesCommand).callsFake(() => describeReply(++polls < 3 ? 'stopping' : 'stopped'));
    const report = await executePlan(plan, options());
    expect(report.isComplete).toBe(true);
    expect(sleeps).toEqual([1000, 1000]);
  });

  it('fails the stop step when the instance does not stop in time, before any snapshot', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(describeReply('stopping'));
    const report = await executePlan(plan, options({ stopTimeoutMs: 3000 }));
    const stop = report.outcomes.find((o) => o.step.id.endsWith(':stop'));
    expect(stop).toMatchObject({ status: 'failed', errorCode: 'E_STOP_TIMEOUT' });
    expect(sleeps).toEqual([1000, 1000, 1000]);
    expect(calls.some(([name]) => name === 'CreateSnapshot' || name === 'ModifyInstanceAttribute')).toBe(false);
  });

  it('reports the snapshots made before one failed', async () => {
    ec2Mock.on(CreateSnapshotCommand, { VolumeId: 'vol-0bbb' }).rejects(Object.assign(new Error('quota'), { name: 'SnapshotLimitExceeded', $metadata: {} }));
    const report = await executePlan(plan, options());
    const snapshot = report.outcomes.find((o) => o.step.id.endsWith(':snapshot'));
    expect(snapshot).toMatchObject({ status: 'failed', errorCode: 'SnapshotLimitExceeded', detail: 'snapshot of vol-0bbb failed after snap-of-vol-0aaa of vol-0aaa (i-DDd6c7B0e18F0E35f /dev/xvda): quota' });
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(0);
  });

  it('does not overwrite the user data saved by an earlier run', async () => {
    files.set(`evidence/trailhound-2031dab62c1e3f43-${INSTANCE}-user-data.b64`, 'first copy\n');
    const report = await executePlan(plan, options());
    expect(files.get(`evidence/trailhound-2031dab62c1e3f43-${INSTANCE}-user-data.b64`)).toBe('first copy\n');
    expect(report.outcomes[3]?.detail).toContain('already exists');
  });

  it('fails the restore step when the user-data file cannot be read', async () => {
    const other = buildResponsePlan(flagship, { nowMs: NOW, userDataFile: 'missing.sh' });
    const report = await executePlan(other, options());
    expect(report.outcomes.at(-1)).toMatchObject({ status: 'failed', errorCode: 'ENOENT' });
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(0);
  });
});

describe('executePlan on an assumed role (the Stratus user-data enumeration)', () => {
  it('puts the deny policy on the role and summarises its trust policy', async () => {
    const plan = buildResponsePlan(enumeration, { nowMs: NOW, parts: ['identity'] });
    const report = await executePlan(plan, options());
    expect(calls).toEqual([
      [
        'PutRolePolicy',
        {
          RoleName: 'stratus-red-team-get-usr-data-role',
          PolicyName: 'AWSRevokeOlderSessions',
          PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2024-08-01T13:00:00.000Z"}}}]}',
        },
      ],
      ['GetRole', { RoleName: 'stratus-red-team-get-usr-data-role' }],
    ]);
    expect(report.outcomes[1]?.detail).toBe('stratus-red-team-get-usr-data-role can be assumed by: AWS arn:aws:iam::321848314756:root; conditions: Bool aws:MultiFactorAuthPresent');
  });
});

describe('summariseTrustPolicy', () => {
  it.each([
    [{ Statement: { Effect: 'Allow', Principal: { Service: ['ec2.amazonaws.com', 'lambda.amazonaws.com'] }, Action: 'sts:AssumeRole' } }, ['Service ec2.amazonaws.com', 'Service lambda.amazonaws.com']],
    [{ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' }] }, ['anyone (*)']],
    [{ Statement: [{ Effect: 'Deny', Principal: { AWS: '*' } }, { Effect: 'Allow', Principal: { Federated: 'arn:aws:iam::1:saml-provider/okta' } }] }, ['Federated arn:aws:iam::1:saml-provider/okta']],
  ])('lists the principals of %j', (document, principals) => {
    expect(summariseTrustPolicy(encodeURIComponent(JSON.stringify(document as JsonObject)))?.principals).toEqual(principals);
  });

  it('gives up on a document that is not JSON', () => {
    expect(summariseTrustPolicy('%E0%A4%A')).toBeUndefined();
  });
});
