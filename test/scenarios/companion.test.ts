/**
 * The companion rule `aws-ec2-user-data-modified-then-started` (a sequence rule keyed by the target
 * instance) on real records and on variants built from them, next to the flagship bd9-8o0-553.
 */
import { basename, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIXTURES, allFixtureFiles, at, builtinRules, detect, fixtureRecords, stratusAttack } from '../support/detect.js';
import type { Rec } from '../support/detect.js';

const RULE = 'aws-ec2-user-data-modified-then-started';
const FLAGSHIP = 'bd9-8o0-553';
const rules = builtinRules();
const companion = (records: readonly unknown[]) => detect(records, rules).filter((s) => s.ruleId === RULE);

const INSTANCE = 'i-DDd6c7B0e18F0E35f';
const OTHER = 'i-0a1b2c3d4e5f60718';
const THIRD = 'i-0f1e2d3c4b5a69788';
const GROUP = { '@recipientAccountId': '309303190113', '@awsRegion': 'ca-northsouth-2r', '@target.instance_ids': INSTANCE };

type Role = 'stop' | 'modify' | 'start';

/** The real attack re-timed: each step `seconds` after T0, each record patched at the top level. */
function attack(steps: readonly (readonly [Role, number, Rec?])[], prefix = 'a', t0 = '2024-08-01T12:00:00Z'): Rec[] {
  const records = stratusAttack();
  const base = Date.parse(t0);
  return steps.map(([role, seconds, patch], i) => at(records[role], new Date(base + seconds * 1000).toISOString(), `${prefix}-${i}-${role}`, patch ?? {}));
}

const IN_ORDER: readonly (readonly [Role, number])[] = [['stop', 0], ['modify', 48], ['start', 49]];

const onInstances = (...ids: string[]): Rec => ({ requestParameters: { instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } });
const userDataOf = (instanceId: string): Rec => ({ requestParameters: { instanceId, userData: '<sensitiveDataRemoved>' } });
const attributeForm = (attribute: string): Rec => ({ requestParameters: { instanceId: INSTANCE, attribute, value: '<sensitiveDataRemoved>' } });
const FAILED = { errorCode: 'Client.UnauthorizedOperation', errorMessage: 'You are not authorized to perform this operation.', responseElements: null };

function identity(patch: Rec): Rec {
  return { userIdentity: { ...(stratusAttack().stop.userIdentity as Rec), ...patch } };
}

function role(session: string): Rec {
  return {
    userIdentity: {
      type: 'AssumedRole',
      principalId: `AROAEXAMPLEROLE:${session}`,
      arn: `arn:aws:sts::309303190113:assumed-role/ec2-admin/${session}`,
      accountId: '309303190113',
      accessKeyId: 'ASIAEXAMPLEKEY',
      sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEROLE', arn: 'arn:aws:iam::309303190113:role/ec2-admin', accountId: '309303190113', userName: 'ec2-admin' } },
    },
  };
}

describe('the companion rule on the real Stratus run', () => {
  const { all, stop, modify, start } = stratusAttack();
  const signals = companion(all);
  const [signal] = signals;

  it('raises exactly one high signal for the attacked instance', () => {
    expect(signals).toHaveLength(1);
    expect(signal?.severity).toBe('high');
    expect(signal?.caseName).toBe('');
    expect(signal?.group).toEqual(GROUP);
    expect(signal?.host).toBe(INSTANCE);
  });

  it('carries the three attack events, step by step, and not the DescribeInstances polls', () => {
    expect(signal?.eventIds).toEqual([stop.eventID, modify.eventID, start.eventID]);
    expect(signal?.steps).toEqual({ stopped: [stop.eventID], user_data_changed: [modify.eventID], started: [start.eventID] });
    expect(signal?.firstSeen).toBe('2024-08-01T12:03:30.000Z');
    expect(signal?.lastSeen).toBe('2024-08-01T12:04:19.000Z');
  });

  it('lists the caller and renders the triage text for the instance', () => {
    expect(signal?.actors).toEqual([{ arn: 'arn:aws:iam::309303190113:user/christophe', sessionName: 'christophe' }]);
    expect(signal?.title).toBe('AWS EC2 instance stopped, its user data modified, then started');
    expect(signal?.message).toContain(`--instance-id ${INSTANCE}`);
    expect(signal?.message).toContain('## Triage and response');
    expect(signal?.message).not.toContain('This is an attempt');
    expect(signal?.tags).toEqual(['source:cloudtrail', 'security:attack', 'tactic:TA0004-privilege-escalation', 'technique:T1037-boot-or-logon-initialization-scripts', 'technique:T1059']);
  });

  it('fires beside the flagship, which sees the same run', () => {
    expect(detect(all, rules).filter((s) => s.ruleId === FLAGSHIP)).toHaveLength(1);
  });
});

describe('the companion rule fires', () => {
  it.each<[string, Rec[]]>([
    ['on the blob form of the user-data change', attack(IN_ORDER)],
    ['on the attribute/value form of the user-data change', attack([['stop', 0], ['modify', 48, attributeForm('userData')], ['start', 49]])],
    ['with each step exactly 900 s after the previous one', attack([['stop', 0], ['modify', 900], ['start', 1800]])],
    ['with the three calls in the same second', attack([['stop', 7], ['modify', 7], ['start', 7]])],
    ['with the change and the Start in the same second', attack([['stop', 0], ['modify', 30], ['start', 30]])],
    ['when each step is made by a different identity', attack([['stop', 0, role('alice')], ['modify', 48, role('mallory')], ['start', 49]])],
  ])('%s', (_name, records) => {
    const signals = companion(records);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.severity).toBe('high');
    expect(signals[0]?.group).toEqual(GROUP);
  });

  it('lists every caller and session when the steps have different callers', () => {
    const [signal] = companion(attack([['stop', 0, role('alice')], ['modify', 48, role('mallory')], ['start', 49]]));
    expect(signal?.actors).toEqual([
      { arn: 'arn:aws:sts::309303190113:assumed-role/ec2-admin/alice', sessionName: 'alice' },
      { arn: 'arn:aws:sts::309303190113:assumed-role/ec2-admin/mallory', sessionName: 'mallory' },
      { arn: 'arn:aws:iam::309303190113:user/christophe', sessionName: 'christophe' },
    ]);
  });

  it('once, for the changed instance, when the Stop named three instances', () => {
    const records = attack([['stop', 0, onInstances(OTHER, INSTANCE, THIRD)], ['modify', 48], ['start', 49]]);
    const signals = companion(records);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.group).toEqual(GROUP);
    expect(signals[0]?.host).toBe(INSTANCE);
    expect(signals[0]?.steps?.['stopped']).toEqual(['a-0-stop']);
  });

  it('for each instance changed and started, when one Stop and one Start named them all', () => {
    const records = attack([['stop', 0, onInstances(OTHER, INSTANCE, THIRD)], ['modify', 40, userDataOf(THIRD)], ['modify', 48], ['start', 49, onInstances(OTHER, INSTANCE, THIRD)]]);
    const signals = companion(records);
    expect(signals.map((s) => [s.group['@target.instance_ids'], s.host, s.eventIds]).sort()).toEqual(
      [
        [INSTANCE, INSTANCE, ['a-0-stop', 'a-2-modify', 'a-3-start']],
        [THIRD, THIRD, ['a-0-stop', 'a-1-modify', 'a-3-start']],
      ].sort(),
    );
  });
});

describe('the companion rule does not fire', () => {
  it.each<[string, Rec[]]>([
    ['when another attribute is changed', attack([['stop', 0], ['modify', 48, attributeForm('disableApiTermination')], ['start', 49]])],
    ['when the user data of another instance is changed', attack([['stop', 0], ['modify', 48, userDataOf(OTHER)], ['start', 49]])],
    ['when another instance is started', attack([['stop', 0], ['modify', 48], ['start', 49, onInstances(OTHER)]])],
    ['in the order Modify → Stop → Start', attack([['modify', 0], ['stop', 48], ['start', 49]])],
    ['in the order Stop → Start → Modify', attack([['stop', 0], ['start', 48], ['modify', 49]])],
    ['when the change comes 900 s + 1 s after the Stop', attack([['stop', 0], ['modify', 901], ['start', 902]])],
    ['when the Start comes 900 s + 1 s after the change', attack([['stop', 0], ['modify', 48], ['start', 949]])],
    ['for an AWSService identity', attack(IN_ORDER.map(([r, t]) => [r, t, { userIdentity: { type: 'AWSService', invokedBy: 'autoscaling.amazonaws.com' } }] as const))],
    ['for calls invoked by a service on the caller\'s behalf', attack(IN_ORDER.map(([r, t]) => [r, t, identity({ invokedBy: 'ssm.amazonaws.com' })] as const))],
    ['through CloudFormation (user agent)', attack(IN_ORDER.map(([r, t]) => [r, t, { userAgent: 'cloudformation.amazonaws.com' }] as const))],
    ['through OpsWorks (user agent)', attack(IN_ORDER.map(([r, t]) => [r, t, { userAgent: 'opsworks.amazonaws.com' }] as const))],
    ['when only the change is made by a service (no user-data step left)', attack([['stop', 0], ['modify', 48, identity({ invokedBy: 'cloudformation.amazonaws.com' })], ['start', 49]])],
  ])('%s', (_name, records) => {
    expect(companion(records)).toEqual([]);
  });
});

describe('failed user-data changes', () => {
  const records = attack([['stop', 0], ['modify', 48, FAILED], ['start', 49]]);
  const signals = companion(records);

  it('give one low signal of the attempt case, titled and explained as an attempt', () => {
    expect(signals).toHaveLength(1);
    expect(signals[0]?.severity).toBe('low');
    expect(signals[0]?.caseName).toBe('attempt');
    expect(signals[0]?.title).toBe('AWS EC2 instance stopped, its user data modified, then started (attempt)');
    expect(signals[0]?.message).toContain('This is an attempt: the user-data change failed');
    expect(signals[0]?.queryCounts).toEqual({ stop_instance: 1, user_data_change: 0, failed_user_data_change: 1, start_instance: 1 });
  });

  it('a successful retry inside the same signal raises it to high', () => {
    const retried = [...records, ...attack([['stop', 300], ['modify', 320], ['start', 330]], 'b')];
    const [signal] = companion(retried);
    expect(companion(retried)).toHaveLength(1);
    expect([signal?.severity, signal?.caseName, signal?.updates]).toEqual(['high', '', 1]);
  });
});

describe('order does not matter', () => {
  const { all } = stratusAttack();
  const records = [
    ...all,
    ...attack([['stop', 0, onInstances(OTHER, THIRD)], ['modify', 48, userDataOf(OTHER)], ['start', 49, onInstances(OTHER)]], 'other', '2024-08-01T12:10:00Z'),
    ...attack([['stop', 5], ['modify', 5, FAILED], ['start', 5]], 'same-second', '2024-08-01T15:00:00Z'),
    ...attack([['modify', 0], ['stop', 10], ['start', 20]], 'wrong-order', '2024-08-01T18:00:00Z'),
  ];
  const expected = companion(records);

  it('the mixed input raises signals (so the properties compare something)', () => {
    expect(expected.map((s) => [s.group['@target.instance_ids'], s.severity])).toEqual([
      [INSTANCE, 'high'],
      [OTHER, 'high'],
      [INSTANCE, 'low'],
    ]);
  });

  it('any order of the same records gives the same signals', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }), (shuffled) => {
        expect(companion(shuffled)).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('same-second steps fire whatever their eventIDs, in any order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.uuid(), { minLength: 3, maxLength: 3 }), fc.boolean(), ([stopId, modifyId, startId], isReversed) => {
        const { stop, modify, start } = stratusAttack();
        const time = '2024-08-01T12:00:00Z';
        const sameSecond = [at(stop, time, stopId ?? 's'), at(modify, time, modifyId ?? 'm'), at(start, time, startId ?? 'st')];
        const signals = companion(isReversed ? sameSecond.reverse() : sameSecond);
        expect(signals).toHaveLength(1);
        expect(signals[0]?.steps).toEqual({ stopped: [stopId], user_data_changed: [modifyId], started: [startId] });
      }),
      { numRuns: 40 },
    );
  });
});

describe('real corpora without the attack', () => {
  const flagships = (records: readonly unknown[]) => detect(records, rules).filter((s) => s.ruleId === RULE || s.ruleId === FLAGSHIP);
  const corpus = (folder: string) => allFixtureFiles().filter((f) => relative(FIXTURES, f).startsWith(folder)).flatMap((f) => fixtureRecords(relative(FIXTURES, f)));

  it.each([
    ['invictus-aws-dataset', 2500],
    ['traildiscover-log-examples', 500],
  ])('%s gives no signal from either EC2 user-data rule', (folder, atLeast) => {
    const records = corpus(folder);
    expect(records.length).toBeGreaterThan(atLeast);
    expect(flagships(records)).toEqual([]);
  });

  const others = allFixtureFiles().filter((f) => basename(f) !== 'aws.execution.ec2-user-data.json');
  it.each(others.map((f) => [relative(FIXTURES, f)]))('%s alone gives no companion signal', (file) => {
    expect(companion(fixtureRecords(file))).toEqual([]);
  });
});
