/**
 * The benchmark's comparisons with truth.json: any missing, extra or repeated finding fails the
 * check, and the companion rule is matched by its target whatever its group-by fields are called.
 */
import { describe, expect, it } from 'vitest';
import { checkEventIds, checkSignals, parseSignalLines } from './check.js';
import type { SignalLike } from './check.js';
import type { CorpusTruth } from './corpus.js';
import { COMPANION_RULE_ID, DATADOG_RULE_ID } from './scenarios.js';

const ALICE = 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com';
const BOB = 'arn:aws:iam::111122223333:user/bob';
const TARGET = { account: '111122223333', region: 'eu-west-1', instanceId: 'i-0123456789abcdef0' };

const TRUTH: CorpusTruth = {
  key: 'test',
  records: 10,
  flagshipFilter: 'test',
  flagshipCallIds: ['id-1', 'id-2', 'id-3'],
  expectedSignals: [
    { ruleId: DATADOG_RULE_ID, group: { '@userIdentity.arn': ALICE }, scenario: 'a#1' },
    { ruleId: DATADOG_RULE_ID, group: { '@userIdentity.arn': BOB }, scenario: 'b#1' },
  ],
  expectedTargetSignals: [{ ruleId: COMPANION_RULE_ID, target: TARGET, scenario: 'a#1' }],
  scenarios: [],
  skippedScenarios: [],
};

const bd9 = (arn: string): SignalLike => ({ ruleId: DATADOG_RULE_ID, group: { '@userIdentity.arn': arn } });
const companion = (group: Record<string, string>): SignalLike => ({ ruleId: COMPANION_RULE_ID, group });
const COMPANION_OK = companion({ '@recipientAccountId': TARGET.account, '@awsRegion': TARGET.region, '@target.instance_ids': TARGET.instanceId });

describe('checkEventIds', () => {
  it.each([
    ['the same set in another order passes', ['id-3', 'id-1', 'id-2'], true],
    ['a missing id fails', ['id-1', 'id-2'], false],
    ['an extra id fails', ['id-1', 'id-2', 'id-3', 'id-4'], false],
    ['an id selected twice fails', ['id-1', 'id-2', 'id-3', 'id-3'], false],
    ['nothing selected fails', [], false],
  ])('%s', (_name, got, ok) => {
    const result = checkEventIds('tool', got, TRUTH);
    expect(result.ok).toBe(ok);
    expect(result.details.length === 0).toBe(ok);
  });
});

describe('checkSignals', () => {
  it.each([
    ['exactly the expected signals pass', [bd9(BOB), bd9(ALICE), COMPANION_OK], true],
    ['a missing bd9-8o0-553 signal fails', [bd9(ALICE), COMPANION_OK], false],
    ['an extra bd9-8o0-553 signal fails', [bd9(ALICE), bd9(BOB), bd9('arn:aws:iam::111122223333:user/eve'), COMPANION_OK], false],
    ['a second signal for the same group fails', [bd9(ALICE), bd9(ALICE), bd9(BOB), COMPANION_OK], false],
    ['a missing companion signal fails when the rule is loaded', [bd9(ALICE), bd9(BOB)], false],
    ['a companion signal for another instance fails', [bd9(ALICE), bd9(BOB), companion({ i: 'i-0fffffffffffffff0', a: TARGET.account })], false],
    ['a companion group naming something besides account, region and instance fails', [bd9(ALICE), bd9(BOB), companion({ i: TARGET.instanceId, who: ALICE })], false],
    ['a companion group with other field names but the same values passes', [bd9(ALICE), bd9(BOB), companion({ host: TARGET.instanceId })], true],
  ])('%s', (_name, signals, ok) => {
    expect(checkSignals(signals, TRUTH, { isCompanionLoaded: true }).ok).toBe(ok);
  });

  it('does not judge the companion rule when it is not in the pack and raised nothing', () => {
    const result = checkSignals([bd9(ALICE), bd9(BOB)], TRUTH, { isCompanionLoaded: false });
    expect(result.ok).toBe(true);
    expect(result.summary).toContain('not in the rule pack');
  });

  it('counts the signals of other rules without judging them', () => {
    const result = checkSignals([bd9(ALICE), bd9(BOB), COMPANION_OK, { ruleId: 'root-user-activity', group: {} }, { ruleId: 'root-user-activity', group: {} }], TRUTH, { isCompanionLoaded: true });
    expect(result.ok).toBe(true);
    expect(result.otherSignals).toEqual({ 'root-user-activity': 2 });
  });
});

describe('parseSignalLines', () => {
  it.each([
    ['a signal line', `${JSON.stringify({ id: 'x', ruleId: 'r', group: { a: 'b' } })}\n`, 1, 0],
    ['blank lines are skipped', '\n\n', 0, 0],
    ['a line that is not JSON is counted', 'trailhound: oops\n', 0, 1],
    ['an object without a ruleId is counted', '{"group":{}}\n', 0, 1],
    ['a group with a non-string value is counted', '{"ruleId":"r","group":{"a":1}}\n', 0, 1],
  ])('%s', (_name, text, signals, bad) => {
    const parsed = parseSignalLines(text);
    expect(parsed.signals).toHaveLength(signals);
    expect(parsed.badLines).toBe(bad);
  });
});
