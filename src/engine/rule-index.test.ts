import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { compileQueryOrThrow } from '../query/compile.js';
import type { CompiledQuery } from '../query/types.js';
import { buildRuleIndex, eventNames, queryEventNames, ruleEventNames } from './rule-index.js';
import { isJsonObject } from './test-support.js';

const sorted = (names: ReadonlySet<string> | null): string[] | null => (names === null ? null : [...names].sort());

describe('the event names a query can match', () => {
  it.each<[string, string, string[] | null]>([
    ['a single @evt.name term', '@evt.name:StopInstances', ['StopInstances']],
    ['an @eventName term', '@eventName:StartInstances', ['StartInstances']],
    ['a disjunction of names', '@evt.name:StopInstances OR @evt.name:StartInstances', ['StartInstances', 'StopInstances']],
    ['a name and another condition', '@evt.name:ModifyInstanceAttribute @requestParameters.attribute:userData', ['ModifyInstanceAttribute']],
    ['constraints on both fields (union)', '@evt.name:A AND @eventName:B', ['A', 'B']],
    ['a wildcard name', '@evt.name:Stop*', null],
    ['a negated name', '-@evt.name:StopInstances', null],
    ['no name at all', '@userIdentity.type:IAMUser', null],
    ['match-all', '*', null],
    ['a name OR something unprovable', '@evt.name:StopInstances OR @userIdentity.type:Root', null],
  ])('%s: %s', (_name, text, expected) => {
    expect(sorted(queryEventNames(compileQueryOrThrow(text)))).toEqual(expected);
  });

  it('a rule is unindexed as soon as one of its queries is', () => {
    const stop = compileQueryOrThrow('@evt.name:StopInstances');
    const start = compileQueryOrThrow('@evt.name:StartInstances');
    const any = compileQueryOrThrow('@userIdentity.type:IAMUser');
    expect(sorted(ruleEventNames([stop, start]))).toEqual(['StartInstances', 'StopInstances']);
    expect(ruleEventNames([stop, any, start])).toBeNull();
  });

  it('an analyser that throws makes the query unprovable instead of crashing', () => {
    const broken: CompiledQuery = { text: 'x', ast: null as unknown as CompiledQuery['ast'], matches: () => false };
    expect(queryEventNames(broken)).toBeNull();
  });
});

describe('the names an event is looked up under', () => {
  it.each<[string, JsonObject, string[]]>([
    ['evt.name and eventName agreeing', { eventName: 'StopInstances', evt: { name: 'StopInstances' } }, ['StopInstances']],
    ['evt.name and eventName disagreeing', { eventName: 'A', evt: { name: 'B' } }, ['B', 'A']],
    ['a raw record without evt', { eventName: 'A' }, ['A']],
    ['a numeric name', { eventName: 5 }, ['5']],
    ['an object name', { eventName: { a: 1 } }, []],
    ['no name', {}, []],
  ])('%s', (_name, fields, expected) => {
    expect(eventNames(fields)).toEqual(expected);
  });
});

describe('the rule index', () => {
  interface TestRule {
    readonly id: string;
    readonly queries: readonly CompiledQuery[];
  }
  const rule = (id: string, ...texts: string[]): TestRule => ({ id, queries: texts.map(compileQueryOrThrow) });
  const rules = [
    rule('stop', '@evt.name:StopInstances'),
    rule('any-iam', '@userIdentity.type:IAMUser'),
    rule('stop-or-start', '@evt.name:StopInstances', '@evt.name:StartInstances'),
    rule('modify', '@eventName:ModifyInstanceAttribute'),
  ];
  const index = buildRuleIndex(rules, (r) => r.queries);
  const ids = (fields: JsonObject): string[] => index.candidates(fields).map((r) => r.id);

  it.each<[string, JsonObject, string[]]>([
    ['StopInstances reaches its rules and the unindexed one, in rule order', { eventName: 'StopInstances', evt: { name: 'StopInstances' } }, ['stop', 'any-iam', 'stop-or-start']],
    ['StartInstances', { eventName: 'StartInstances', evt: { name: 'StartInstances' } }, ['any-iam', 'stop-or-start']],
    ['a name no rule names reaches only the unindexed rule', { eventName: 'DescribeInstances', evt: { name: 'DescribeInstances' } }, ['any-iam']],
    ['an event without a name reaches only the unindexed rule', {}, ['any-iam']],
    ['disagreeing evt.name and eventName reach both buckets once', { eventName: 'ModifyInstanceAttribute', evt: { name: 'StopInstances' } }, ['stop', 'any-iam', 'stop-or-start', 'modify']],
    ['a name spelled like an Object.prototype member', { eventName: 'constructor', evt: { name: '__proto__' } }, ['any-iam']],
  ])('%s', (_name, fields, expected) => {
    expect(ids(fields)).toEqual(expected);
  });

  it('lists the unindexed rules', () => {
    expect(index.unindexed.map((r) => r.id)).toEqual(['any-iam']);
  });

  // Every real record of the Stratus detonations, with evt.name derived as the normaliser does.
  const dir = new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/', import.meta.url);
  const records: JsonObject[] = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      const parsed: unknown = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
      return Array.isArray(parsed) ? parsed.filter(isJsonObject) : [];
    })
    .map((r) => ({ ...r, evt: { name: r.eventName ?? null } }));
  const queryTexts = [
    '@evt.name:StopInstances',
    '@evt.name:(StartInstances OR StopInstances)',
    '@eventName:CreateUser @userIdentity.type:IAMUser',
    '@evt.name:Get* @eventSource:ssm.amazonaws.com',
    '@userIdentity.type:AssumedRole',
    '-@evt.name:DescribeInstances',
    '@evt.name:PutBucketPolicy OR @evt.name:DeleteTrail',
    '@evt.name:GetPasswordData',
  ];

  it('never hides a rule from an event it matches (real records, random rule sets)', () => {
    expect(records.length).toBeGreaterThan(300);
    fc.assert(
      fc.property(fc.array(fc.array(fc.constantFrom(...queryTexts), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }), (ruleTexts) => {
        const set = ruleTexts.map((texts, i) => rule(`r${i}`, ...texts));
        const idx = buildRuleIndex(set, (r) => r.queries);
        for (const fields of records) {
          const candidates = new Set(idx.candidates(fields));
          for (const r of set) if (r.queries.some((q) => q.matches(fields))) expect(candidates.has(r)).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('narrows the real records: most of them reach no indexed rule', () => {
    const narrow = buildRuleIndex([rule('stop', '@evt.name:StopInstances')], (r) => r.queries);
    const reached = records.filter((fields) => narrow.candidates(fields).length > 0);
    expect(reached.length).toBe(records.filter((r) => r.eventName === 'StopInstances').length);
    expect(reached.length).toBeGreaterThan(0);
  });
});
