import { basename, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIXTURES, allFixtureFiles, at, builtinRules, detect, fixtureRecords, stratusAttack, variant } from '../support/detect.js';
import type { Rec } from '../support/detect.js';

const RULE = 'bd9-8o0-553';
const rules = builtinRules();
const flagship = (records: readonly unknown[]) => detect(records, rules).filter((s) => s.ruleId === RULE);

/** The real attack re-timed: Stop at `t0`, Modify `modifyAfter` s later, Start one second after that. */
function attack(t0: string, opts: { modifyAfter?: number; startAfter?: number; prefix?: string; patch?: Partial<Record<'stop' | 'modify' | 'start', Rec>> } = {}): Rec[] {
  const { stop, modify, start } = stratusAttack();
  const base = Date.parse(t0);
  const iso = (s: number) => new Date(base + s * 1000).toISOString();
  const p = opts.prefix ?? t0;
  const modifyAt = opts.modifyAfter ?? 48;
  const startAt = opts.startAfter ?? modifyAt + 1;
  return [
    at(stop, iso(0), `${p}-stop`, opts.patch?.stop ?? {}),
    at(modify, iso(modifyAt), `${p}-modify`, opts.patch?.modify ?? {}),
    at(start, iso(startAt), `${p}-start`, opts.patch?.start ?? {}),
  ];
}

describe('bd9-8o0-553 on real records', () => {
  it('the Stratus user-data detonation gives exactly one signal for christophe with the three attack events', () => {
    const { all, stop, modify, start } = stratusAttack();
    const signals = flagship(all);
    expect(signals).toHaveLength(1);
    const [s] = signals;
    expect(s?.group).toEqual({ '@userIdentity.arn': 'arn:aws:iam::309303190113:user/christophe' });
    expect(s?.eventCount).toBe(3);
    expect([...(s?.eventIds ?? [])].sort()).toEqual([stop.eventID, modify.eventID, start.eventID].sort());
    expect(s?.severity).toBe('low');
    expect(s?.queryCounts).toEqual({ stop_instance: 1, modify_instance_attribute: 1, start_instance: 1 });
    expect(s?.firstSeen).toBe('2024-08-01T12:03:30.000Z');
    expect(s?.lastSeen).toBe('2024-08-01T12:04:19.000Z');
    expect(s?.host).toBe('i-DDd6c7B0e18F0E35f');
    // The analyst's question is filled in from the latest event.
    expect(s?.message).toContain('christophe');
    expect(s?.message).toContain('i-DDd6c7B0e18F0E35f');
    expect(s?.tags).toEqual(expect.arrayContaining(['source:cloudtrail', 'security:attack', 'tactic:TA0004-privilege-escalation', 'technique:T1037-boot-or-logon-initialization-scripts']));
  });

  const others = allFixtureFiles().filter((f) => basename(f) !== 'aws.execution.ec2-user-data.json');
  it.each(others.map((f) => [relative(FIXTURES, f), f]))('%s gives no bd9-8o0-553 signal and does not crash', (_name, file) => {
    const records = fixtureRecords(relative(FIXTURES, file));
    expect(flagship(records)).toEqual([]);
  });

  // samples/ holds single-record copies of the Stratus attack (seq__/tp__ files), so it is left out here.
  it('every other corpus together (invictus, traildiscover, panther, other Stratus runs) gives no flagship signal', () => {
    const records = others.filter((f) => !relative(FIXTURES, f).startsWith('samples')).flatMap((f) => fixtureRecords(relative(FIXTURES, f)));
    expect(records.length).toBeGreaterThan(3000);
    expect(flagship(records)).toEqual([]);
  });
});

describe('bd9-8o0-553 near misses and lifecycle', () => {
  const t0 = '2024-08-01T12:00:00Z';
  it.each<[string, Rec[], number]>([
    ['the attack as is', attack(t0), 1],
    ['Stop, Modify and Start in the same second', attack(t0, { modifyAfter: 0, startAfter: 0 }), 1],
    ['Start exactly 900 s after Stop (window is inclusive)', attack(t0, { modifyAfter: 10, startAfter: 900 }), 1],
    ['Start 901 s after Stop (spread over more than 15 minutes)', attack(t0, { modifyAfter: 10, startAfter: 901 }), 0],
    ['through CloudFormation (user agent)', attack(t0, { patch: { stop: { userAgent: 'cloudformation.amazonaws.com' } } }), 0],
    [
      'through OpsWorks (invokedBy)',
      attack(t0).map((r) => ({ ...r, userIdentity: { ...(r.userIdentity as Rec), invokedBy: 'opsworks.amazonaws.com' } })),
      0,
    ],
    [
      'split between two callers',
      attack(t0, {
        patch: {
          start: { userIdentity: { type: 'IAMUser', accountId: '309303190113', arn: 'arn:aws:iam::309303190113:user/someone-else', userName: 'someone-else', principalId: 'AIDAOTHER' } },
        },
      }),
      0,
    ],
    [
      'changing another attribute (the --attribute form, not user data)',
      attack(t0, { patch: { modify: { requestParameters: { instanceId: 'i-DDd6c7B0e18F0E35f', attribute: 'disableApiTermination', value: '<sensitiveDataRemoved>' } } } }),
      0,
    ],
    ['a failed user-data change still counts for the Datadog rule (it does not filter on errors)', attack(t0, { patch: { modify: { errorCode: 'Client.UnauthorizedOperation' } } }), 1],
  ])('%s → %i signal(s)', (_name, records, expected) => {
    expect(flagship(records)).toHaveLength(expected);
  });

  it('a second attack by the same caller inside the hour updates the signal', () => {
    const signals = flagship([...attack(t0, { prefix: 'one' }), ...attack('2024-08-01T12:30:00Z', { prefix: 'two' })]);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.eventCount).toBe(6);
    expect(signals[0]?.lastSeen).toBe('2024-08-01T12:30:49.000Z');
    expect(signals[0]?.updates).toBeGreaterThan(0);
  });

  it('an attack after the signal has lasted an hour opens a new one', () => {
    const signals = flagship([...attack(t0, { prefix: 'one' }), ...attack('2024-08-01T13:10:00Z', { prefix: 'two' })]);
    expect(signals).toHaveLength(2);
    expect(signals.map((s) => s.eventCount)).toEqual([3, 3]);
    expect(new Set(signals.map((s) => s.id)).size).toBe(2);
  });

  it('the same file delivered twice (same eventIDs) raises the same single signal', () => {
    const records = attack(t0);
    expect(flagship([...records, ...records])).toEqual(flagship(records));
  });
});

describe('order independence on real records', () => {
  const { all } = stratusAttack();
  const invictus = fixtureRecords('invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_1dM7GQM67kudSyGD.json');
  const records = [...all, ...attack('2024-08-01T12:20:00Z', { prefix: 'again' }), ...invictus];
  const expected = detect(records, rules);

  it('the mixed corpus raises signals (so the property below compares something)', () => {
    expect(expected.filter((s) => s.ruleId === RULE).length).toBeGreaterThan(0);
  });

  it('any order of the same records gives the same signals', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }), (shuffled) => {
        expect(detect(shuffled, rules)).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });
});

describe('variant helper', () => {
  it('keeps the base record intact', () => {
    const { stop } = stratusAttack();
    const copy = variant(stop, { eventName: 'X' }, 'id');
    expect(copy.eventName).toBe('X');
    expect(stop.eventName).toBe('StopInstances');
  });
});
