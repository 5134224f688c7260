import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { MISSING_GROUP_VALUE, compileGroupBy, groupByPath, groupKeyOf, groupRecord, groupValueOf, groupValuesOf } from './group.js';
import { STRATUS_USER_DATA_FIXTURE, attackRecords } from './test-support.js';

const { stop } = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));

describe('group-by values of the real StopInstances record', () => {
  it.each<[string, string, string | undefined]>([
    ['a string attribute as is', '@userIdentity.arn', 'arn:aws:iam::309303190113:user/christophe'],
    ['a field written without @', 'awsRegion', 'ca-northsouth-2r'],
    ['a boolean as JSON text', '@requestParameters.force', 'true'],
    ['the first value of a fanned-out array', '@requestParameters.instancesSet.items.instanceId', 'i-DDd6c7B0e18F0E35f'],
    ['a number as JSON text', '@responseElements.instancesSet.items.currentState.code', '64'],
    ['an object as compact JSON', '@responseElements.instancesSet.items.previousState', '{"code":16,"name":"running"}'],
    ['a missing attribute', '@userIdentity.sessionContext.sessionIssuer.arn', undefined],
  ])('%s (%s)', (_name, field, expected) => {
    expect(groupValueOf(stop, field)).toBe(expected);
  });
});

describe('missing group-by fields', () => {
  const cases: [string, JsonObject][] = [
    ['absent', { other: 'x' }],
    ['null', { user: null }],
    ['an empty string', { user: '' }],
    ['an empty array', { user: [] }],
  ];

  it.each(cases)('a field that is %s drops the event for a rule without optional group-by', (_name, fields) => {
    expect(groupValuesOf(fields, ['@user'], false)).toBeUndefined();
  });

  it.each(cases)('a field that is %s is N/A for a rule with optional group-by', (_name, fields) => {
    expect(groupValuesOf(fields, ['@user', '@other'], true)).toEqual([MISSING_GROUP_VALUE, 'other' in fields ? 'x' : MISSING_GROUP_VALUE]);
  });

  it('an empty object is a present value', () => {
    expect(groupValuesOf({ user: {} }, ['@user'], false)).toEqual(['{}']);
  });

  it('a rule without group-by fields puts every event in one group', () => {
    expect(compileGroupBy([], false)({})).toEqual([]);
    expect(groupRecord([], [])).toEqual({});
  });
});

describe('group keys and records', () => {
  it.each<[string, string[], string[]]>([
    ['values that would collide if joined', ['a,b', 'c'], ['a', 'b,c']],
    ['values that would collide if concatenated', ['ab', ''], ['a', 'b']],
    ['a value with a quote', ['a"', 'b'], ['a', '"b']],
  ])('%s get different keys', (_name, a, b) => {
    expect(groupKeyOf(a)).not.toBe(groupKeyOf(b));
  });

  it('keys the record by the fields as written, keeping a __proto__ field a plain key', () => {
    const record = groupRecord(['@userIdentity.arn', '__proto__'], ['arn', 'x']);
    expect(Object.keys(record)).toEqual(['@userIdentity.arn', '__proto__']);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(JSON.stringify(record)).toBe('{"@userIdentity.arn":"arn","__proto__":"x"}');
  });

  it.each([
    ['@userIdentity.arn', 'userIdentity.arn'],
    ['host', 'host'],
    ['@@odd', '@odd'],
  ])('the path of %s is %s', (field, path) => {
    expect(groupByPath(field)).toBe(path);
  });
});
