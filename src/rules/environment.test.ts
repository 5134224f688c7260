import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonObject, Severity } from '../core/types.js';
import { SEVERITIES, severityRank } from '../core/types.js';
import { accountOf, compileEnvironmentResolver, isNonProductionEnvironment, lowerSeverity } from './environment.js';

const STRATUS = new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url);
const records = JSON.parse(readFileSync(STRATUS, 'utf8')) as JsonObject[];
const modify = records.find((r) => r['eventName'] === 'ModifyInstanceAttribute') ?? {};
/** The real record's account: 309303190113. */
const ACCOUNT = typeof modify['recipientAccountId'] === 'string' ? modify['recipientAccountId'] : '';

function variant(patch: JsonObject, remove: readonly string[] = []): JsonObject {
  const copy: JsonObject = { ...structuredClone(modify), ...patch };
  for (const key of remove) delete copy[key];
  return copy;
}

describe('accountOf', () => {
  it.each([
    { name: 'the recipient account of a real record', fields: modify, expected: ACCOUNT },
    { name: 'the recipient account even when the caller is in another account', fields: variant({ userIdentity: { accountId: '999999999999' } }), expected: ACCOUNT },
    { name: "the caller's account when the record has no recipient", fields: variant({ userIdentity: { accountId: '111122223333' } }, ['recipientAccountId']), expected: '111122223333' },
    { name: 'nothing when neither is there', fields: variant({ userIdentity: { type: 'AWSService' } }, ['recipientAccountId']), expected: undefined },
    { name: 'nothing for a non-string recipient and identity', fields: variant({ recipientAccountId: 42, userIdentity: 'x' }), expected: undefined },
  ])('finds $name', ({ fields, expected }) => {
    expect(accountOf(fields)).toBe(expected);
  });
});

describe('compileEnvironmentResolver', () => {
  const settings = { environments: { [ACCOUNT]: 'staging-eu', '111122223333': 'production' }, defaultEnvironment: 'dev' };
  it.each([
    { name: 'the map by account', settings, fields: modify, expected: 'staging-eu' },
    { name: 'the map before the env attribute', settings, fields: variant({ env: 'production' }), expected: 'staging-eu' },
    { name: 'the env attribute for an account not in the map', settings, fields: variant({ recipientAccountId: '444455556666', env: 'test' }), expected: 'test' },
    { name: 'the default for an account not in the map and no env', settings, fields: variant({ recipientAccountId: '444455556666' }), expected: 'dev' },
    { name: 'an empty env attribute is no env', settings, fields: variant({ recipientAccountId: '444455556666', env: '' }), expected: 'dev' },
    { name: 'only the env attribute without settings', settings: {}, fields: variant({ env: 'staging' }), expected: 'staging' },
    { name: 'nothing without settings or env', settings: {}, fields: modify, expected: undefined },
    { name: 'a non-string env is ignored', settings: {}, fields: variant({ env: { name: 'dev' } }), expected: undefined },
  ])('uses $name', ({ settings: s, fields, expected }) => {
    expect(compileEnvironmentResolver(s)(fields)).toBe(expected);
  });
});

describe('isNonProductionEnvironment', () => {
  it.each([
    ['staging', true],
    ['staging-eu', true],
    ['Test', true],
    ['testing', true],
    ['dev', true],
    ['development', true],
    [' DEV ', true],
    ['production', false],
    ['prod', false],
    ['sandbox', false],
    ['qa', false],
    ['', false],
    [undefined, false],
  ])('%j → %s', (env, expected) => {
    expect(isNonProductionEnvironment(env)).toBe(expected);
  });
});

describe('lowerSeverity', () => {
  it.each<[Severity, Severity]>([
    ['critical', 'high'],
    ['high', 'medium'],
    ['medium', 'low'],
    ['low', 'info'],
    ['info', 'info'],
  ])('%s → %s', (from, to) => {
    expect(lowerSeverity(from)).toBe(to);
  });

  it('never raises a severity and lowers by at most one step', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEVERITIES), (s) => {
        const diff = severityRank(s) - severityRank(lowerSeverity(s));
        expect(diff === 1 || (s === 'info' && diff === 0)).toBe(true);
      }),
    );
  });
});
