import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Signal } from '../core/types.js';
import { createEngine } from '../engine/engine.js';
import { stratusAttack } from '../../test/support/detect.js';
import type { CompiledRule } from './model.js';
import { ruleSchema } from './schema.js';
import {
  RULE_TEST_DIAGNOSTIC_CODES,
  buildRuleTestRecords,
  checkRuleTestBases,
  cloneRecordValue,
  loadRuleTestBases,
  loadRulesWithTests,
  mergePatch,
  runRuleTests,
} from './tests.js';
import type { RuleTest, RuleTestEvent } from './tests.js';

type Rec = Record<string, unknown>;

const attack = stratusAttack();
const STOP = attack.stop;
const START = attack.start;
const ARN = (STOP['userIdentity'] as Rec)['arn'] as string;
const BOB_ARN = 'arn:aws:iam::309303190113:user/bob';
const AS_BOB = { userIdentity: { arn: BOB_ARN, userName: 'bob' } };
const BASES: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['stratus-ec2-stop', STOP],
  ['stratus-ec2-start', START],
]);

/** A small rule: StopInstances per caller; two stops in 5 minutes are high, one is low. */
function ruleDocument(tests: unknown, extra: Rec = {}): Rec {
  return {
    name: 'EC2 instances stopped by {{@userIdentity.userName}}',
    queries: [{ name: 'stops', query: '@eventSource:ec2.amazonaws.com @evt.name:StopInstances', groupByFields: ['@userIdentity.arn'] }],
    cases: [
      { name: 'many', status: 'high', condition: 'stops > 1' },
      { name: 'one', status: 'low', condition: 'stops > 0' },
    ],
    options: { evaluationWindow: 300, keepAlive: 3600, maxSignalDuration: 86400 },
    ...extra,
    tests,
  };
}

function load(text: string, path = 'rules/stops.yaml'): ReturnType<typeof loadRulesWithTests> {
  return loadRulesWithTests([{ path, text }]);
}

function compileWithTests(tests: unknown, extra: Rec = {}): CompiledRule {
  const loaded = load(stringify(ruleDocument(tests, extra)));
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const [rule] = loaded.rules;
  if (rule === undefined) throw new Error('the rule did not load');
  return rule;
}

/** 1-based line of the first line of `text` containing `marker`. */
function lineOf(text: string, marker: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(marker));
  if (index < 0) throw new Error(`no line contains ${marker}`);
  return index + 1;
}

function testOf(events: RuleTestEvent[], index = 0): Pick<RuleTest, 'index' | 'events'> {
  return { index, events };
}

describe('building test events', () => {
  it.each<[string, Rec, (record: Rec) => unknown, unknown]>([
    ['an object patch merges key by key, keeping the other keys', { userIdentity: { userName: 'alice' } }, (r) => [(r['userIdentity'] as Rec)['userName'], (r['userIdentity'] as Rec)['arn']], ['alice', ARN]],
    ['a scalar patch adds or replaces the value', { errorCode: 'AccessDenied', eventName: 'StartInstances' }, (r) => [r['errorCode'], r['eventName']], ['AccessDenied', 'StartInstances']],
    ['null deletes a top-level key', { sourceIPAddress: null }, (r) => Object.hasOwn(r, 'sourceIPAddress'), false],
    ['null deletes a nested key and keeps its siblings', { userIdentity: { accessKeyId: null } }, (r) => [Object.hasOwn(r['userIdentity'] as Rec, 'accessKeyId'), (r['userIdentity'] as Rec)['type']], [false, 'IAMUser']],
    ['an array replaces the whole array', { requestParameters: { instancesSet: { items: [{ instanceId: 'i-0123456789abcdef0' }, { instanceId: 'i-0fedcba9876543210' }] } } }, (r) => ((r['requestParameters'] as Rec)['instancesSet'] as Rec)['items'], [{ instanceId: 'i-0123456789abcdef0' }, { instanceId: 'i-0fedcba9876543210' }]],
    ['an object replaces a scalar', { errorMessage: { nested: true } }, (r) => r['errorMessage'], { nested: true }],
    ['a null inside a new object is not kept', { additionalEventData: { a: 1, b: null } }, (r) => r['additionalEventData'], { a: 1 }],
    ['a __proto__ key stays a plain key', JSON.parse('{"__proto__": {"polluted": true}}') as Rec, (r) => [Object.getPrototypeOf(r) === Object.prototype, ({} as Rec)['polluted'], Object.hasOwn(r, '__proto__')], [true, undefined, true]],
  ])('%s', (_name, patch, read, expected) => {
    const before = structuredClone(STOP);
    const { records, problems } = buildRuleTestRecords('r', testOf([{ base: 'stratus-ec2-stop', patch }]), BASES);
    expect(problems).toEqual([]);
    const [record] = records;
    expect(record && read(record)).toEqual(expected);
    expect(STOP).toEqual(before);
  });

  it('copies the base deeply: changing a built record leaves the base as it was', () => {
    const { records } = buildRuleTestRecords('r', testOf([{ base: 'stratus-ec2-stop' }]), BASES);
    const identity = records[0]?.['userIdentity'] as Rec;
    identity['arn'] = 'changed';
    expect((STOP['userIdentity'] as Rec)['arn']).toBe(ARN);
  });

  it.each<[string, number[], string[]]>([
    ['after sets eventTime that many seconds after the previous event', [30], ['2024-08-01T12:03:30Z', '2024-08-01T12:04:00Z']],
    ['after counts from the previous built event, so it adds up', [60, 0, 3600], ['2024-08-01T12:03:30Z', '2024-08-01T12:04:30Z', '2024-08-01T12:04:30Z', '2024-08-01T13:04:30Z']],
    ['a fraction of a second keeps its milliseconds', [1.5], ['2024-08-01T12:03:30Z', '2024-08-01T12:03:31.500Z']],
  ])('%s', (_name, afters, times) => {
    const events: RuleTestEvent[] = [{ base: 'stratus-ec2-stop' }, ...afters.map((after) => ({ base: 'stratus-ec2-stop', after }))];
    const { records, problems } = buildRuleTestRecords('r', testOf(events), BASES);
    expect(problems).toEqual([]);
    expect(records.map((r) => r['eventTime'])).toEqual(times);
  });

  it('applies after after the patch, so it wins over a patched eventTime', () => {
    const { records } = buildRuleTestRecords('r', testOf([{ base: 'stratus-ec2-stop' }, { base: 'stratus-ec2-stop', patch: { eventTime: '2030-01-01T00:00:00Z' }, after: 10 }]), BASES);
    expect(records[1]?.['eventTime']).toBe('2024-08-01T12:03:40Z');
  });

  it('counts after from a previous event whose time was patched', () => {
    const { records } = buildRuleTestRecords('r', testOf([{ base: 'stratus-ec2-stop', patch: { eventTime: '2025-02-03T04:05:06Z' } }, { base: 'stratus-ec2-start', after: 4 }]), BASES);
    expect(records[1]?.['eventTime']).toBe('2025-02-03T04:05:10Z');
  });

  it.each<[string, RuleTestEvent[], RegExp]>([
    ['an unknown base, with the closest name', [{ base: 'stratus-ec2-stpo' }], /events\[0\]: there is no base record 'stratus-ec2-stpo' \(did you mean 'stratus-ec2-stop'\?\)/],
    ['after when the previous eventTime was deleted', [{ base: 'stratus-ec2-stop', patch: { eventTime: null } }, { base: 'stratus-ec2-stop', after: 5 }], /events\[1\]: 'after' counts from the previous event's eventTime, which is missing or not a valid time/],
    ['after when the previous eventTime is not a time', [{ base: 'stratus-ec2-stop', patch: { eventTime: 'yesterday' } }, { base: 'stratus-ec2-stop', after: 5 }], /events\[1\]: .*missing or not a valid time/],
    ['after that leaves the range of dates', [{ base: 'stratus-ec2-stop' }, { base: 'stratus-ec2-stop', after: 1e15 }], /events\[1\]: .*too far in the future/],
    ['an inline event that is not an object', [{ event: [1, 2] as unknown as Rec }], /events\[0\]: the inline event is not a JSON object/],
  ])('reports %s', (_name, events, problem) => {
    const { problems } = buildRuleTestRecords('r', testOf(events), BASES);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it.each<[string, RuleTestEvent[], number, unknown[]]>([
    ['every event gets a fresh id <rule>/<test>/<event>, even from the same base', [{ base: 'stratus-ec2-stop' }, { base: 'stratus-ec2-stop' }], 3, ['r/3/0', 'r/3/1']],
    ['an eventID set by the patch is kept', [{ base: 'stratus-ec2-stop', patch: { eventID: 'mine' } }, { base: 'stratus-ec2-stop' }], 0, ['mine', 'r/0/1']],
    ['an eventID deleted by the patch stays deleted', [{ base: 'stratus-ec2-stop', patch: { eventID: null } }], 0, [undefined]],
    ['an inline event gets a fresh id too', [{ event: { ...STOP, eventID: 'inline' } }], 1, ['r/1/0']],
  ])('%s', (_name, events, index, ids) => {
    const { records } = buildRuleTestRecords('r', testOf(events, index), BASES);
    expect(records.map((r) => r['eventID'])).toEqual(ids);
  });

  const jsonLeaf = fc.oneof(fc.string(), fc.integer(), fc.boolean());
  const jsonObject = fc.letrec((tie) => ({
    obj: fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof({ depthSize: 'small' }, jsonLeaf, fc.array(jsonLeaf, { maxLength: 3 }), tie('obj')), { maxKeys: 5 }),
  })).obj as fc.Arbitrary<Rec>;
  const patchObject = fc.letrec((tie) => ({
    obj: fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof({ depthSize: 'small' }, jsonLeaf, fc.constant(null), fc.array(jsonLeaf, { maxLength: 3 }), tie('obj')), { maxKeys: 5 }),
  })).obj as fc.Arbitrary<Rec>;

  it('merging a patch never changes its inputs, and merging it again changes nothing', () => {
    fc.assert(
      fc.property(jsonObject, patchObject, (target, patch) => {
        const targetCopy = cloneRecordValue(target);
        const patchCopy = cloneRecordValue(patch);
        const once = mergePatch(target, patch);
        expect(target).toEqual(targetCopy);
        expect(patch).toEqual(patchCopy);
        expect(mergePatch(once, patch)).toEqual(once);
      }),
    );
  });

  it('after a merge, every non-null patch leaf is in the result and every null key is gone', () => {
    const check = (result: Rec, patch: Rec): void => {
      for (const [key, value] of Object.entries(patch)) {
        if (value === null) expect(Object.hasOwn(result, key)).toBe(false);
        else if (typeof value === 'object' && !Array.isArray(value)) check(result[key] as Rec, value as Rec);
        else expect(result[key]).toEqual(value);
      }
    };
    fc.assert(
      fc.property(jsonObject, patchObject, (target, patch) => {
        check(mergePatch(target, patch), patch);
      }),
    );
  });

  it('keys the patch does not name keep the target values', () => {
    fc.assert(
      fc.property(jsonObject, patchObject, (target, patch) => {
        const result = mergePatch(target, patch);
        for (const [key, value] of Object.entries(target)) if (!Object.hasOwn(patch, key)) expect(result[key]).toEqual(value);
      }),
    );
  });
});

describe('running tests: each expectation passes and fails', () => {
  const stop = (patch?: Rec, after?: number): Rec => ({ base: 'stratus-ec2-stop', ...(patch ? { patch } : {}), ...(after !== undefined ? { after } : {}) });

  it.each<[string, Rec, boolean, RegExp | undefined]>([
    ['expect signal passes when the rule fires', { expect: 'signal', events: [stop()] }, true, undefined],
    ['expect signal fails when it does not', { expect: 'signal', events: [{ base: 'stratus-ec2-start' }] }, false, /^expected a signal, but the rule raised none$/],
    ['expect none passes when the rule stays quiet', { expect: 'none', events: [{ base: 'stratus-ec2-start' }] }, true, undefined],
    ['expect none fails with the signal summarised', { expect: 'none', events: [stop()] }, false, /^expected no signal, but the rule raised 1 signal: \[low\] "EC2 instances stopped by christophe[^"]*" group \{@userIdentity\.arn: arn:aws:iam::309303190113:user\/christophe\}, 1 event$/],
    ['signals: N passes with exactly N signals', { expect: 'signal', signals: 2, events: [stop(), stop(AS_BOB)] }, true, undefined],
    ['signals: N fails with another number', { expect: 'signal', signals: 1, events: [stop(), stop(AS_BOB)] }, false, /^expected 1 signal, but the rule raised 2 signals: (?=.*christophe)(?=.*bob)/],
    ['severity passes when every signal has it', { expect: 'signal', severity: 'high', events: [stop(), stop(undefined, 60)] }, true, undefined],
    ['severity fails, naming the signals that differ', { expect: 'signal', severity: 'high', events: [stop()] }, false, /^expected every signal to have severity high, but 1 signal did not: \[low\]/],
    ['title passes when every title contains the text', { expect: 'signal', title: 'stopped by christophe', events: [stop()] }, true, undefined],
    ['title fails when a title lacks it', { expect: 'signal', title: 'stopped by christophe', events: [stop(), stop(AS_BOB)] }, false, /^expected every signal title to contain "stopped by christophe", but 1 signal did not: \[low\] "EC2 instances stopped by bob[^"]*"/],
    ['group passes when some signal has exactly that group', { expect: 'signal', group: { '@userIdentity.arn': BOB_ARN }, events: [stop(), stop(AS_BOB)] }, true, undefined],
    ['group fails when no signal has it', { expect: 'signal', group: { '@userIdentity.arn': BOB_ARN }, events: [stop()] }, false, /^expected a signal with group \{@userIdentity\.arn: arn:aws:iam::309303190113:user\/bob\}, but the rule raised 1 signal: .*christophe/],
    ['after beyond the window keeps two stops apart (low)', { expect: 'signal', severity: 'low', signals: 1, events: [stop(), stop(undefined, 301)] }, true, undefined],
    ['after within the window puts two stops together (high)', { expect: 'signal', severity: 'low', events: [stop(), stop(undefined, 300)] }, false, /severity low, but 1 signal did not: \[high\]/],
    ['the same base twice counts twice (fresh eventIDs)', { expect: 'signal', severity: 'high', events: [stop(), stop()] }, true, undefined],
    ['a patched, shared eventID is deduplicated as scan would', { expect: 'signal', severity: 'low', events: [stop({ eventID: 'same' }), stop({ eventID: 'same' })] }, true, undefined],
    ['a record the normaliser refuses fails the test', { expect: 'none', events: [stop({ eventTime: null })] }, false, /^events\[0\]: the record is not one trailhound can read \(E_RECORD_NO_TIME\)/],
  ])('%s', (name, test, passed, failure) => {
    const rule = compileWithTests([{ name, ...test }]);
    const [result] = runRuleTests(rule, BASES, createEngine);
    expect(result?.name).toBe(name);
    expect(result?.passed).toBe(passed);
    if (failure === undefined) expect(result?.failures).toEqual([]);
    else expect(result?.failures.some((f) => failure.test(f))).toBe(true);
  });

  it('returns the signals of the rule under test', () => {
    const rule = compileWithTests([{ name: 'two callers', expect: 'signal', events: [stop(), stop(AS_BOB)] }]);
    const [result] = runRuleTests(rule, BASES, createEngine);
    expect(result?.signals.map((s) => s.group['@userIdentity.arn']).sort()).toEqual([ARN, BOB_ARN].sort());
    expect(result?.signals.every((s) => s.ruleId === rule.id)).toBe(true);
  });

  it('runs the tests of a disabled rule (the rule logic is what is tested)', () => {
    const rule = compileWithTests([{ name: 'fires', expect: 'signal', events: [stop()] }], { isEnabled: false });
    expect(rule.isEnabled).toBe(false);
    expect(runRuleTests(rule, BASES, createEngine).map((r) => r.passed)).toEqual([true]);
  });

  it('runs only the rule under test, one fresh engine per test', () => {
    const seen: string[][] = [];
    const rule = compileWithTests([
      { name: 'a', expect: 'signal', events: [stop()] },
      { name: 'b', expect: 'signal', severity: 'low', events: [stop()] },
    ]);
    const results = runRuleTests(rule, BASES, (rules) => {
      seen.push(rules.map((r) => r.id));
      return createEngine(rules);
    });
    expect(seen).toEqual([[rule.id], [rule.id]]);
    // A shared engine would have counted the two tests' stops together (high) in test b.
    expect(results.map((r) => r.passed)).toEqual([true, true]);
  });

  it('reports an engine that throws as a failure instead of throwing', () => {
    const rule = compileWithTests([{ name: 'boom', expect: 'none', events: [stop()] }]);
    const results = runRuleTests(rule, BASES, () => ({
      ingest: () => {
        throw new Error('broken invariant');
      },
      finish: () => [],
      signals: (): Signal[] => [],
    }));
    expect(results[0]?.passed).toBe(false);
    expect(results[0]?.failures).toContain('the engine failed: broken invariant');
  });

  it('fails a test whose base is unknown without running it', () => {
    const rule = compileWithTests([{ name: 'typo', expect: 'none', events: [{ base: 'stratus-ec2-stpo' }] }]);
    const [result] = runRuleTests(rule, BASES, createEngine);
    expect(result?.passed).toBe(false);
    expect(result?.failures[0]).toMatch(/did you mean 'stratus-ec2-stop'/);
    expect(result?.signals).toEqual([]);
  });

  it('runs an inline event as written', () => {
    const rule = compileWithTests([{ name: 'inline', expect: 'signal', group: { '@userIdentity.arn': ARN }, events: [{ event: STOP }] }]);
    expect(runRuleTests(rule, new Map(), createEngine)[0]?.passed).toBe(true);
  });

  it('never throws on hostile records', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }), (patch) => {
        const rule = compileWithTests([{ name: 'hostile', expect: 'none', events: [{ base: 'stratus-ec2-stop', patch }, { base: 'stratus-ec2-stop', after: 1 }] }]);
        const results = runRuleTests(rule, BASES, createEngine);
        expect(results).toHaveLength(1);
        expect(typeof results[0]?.passed).toBe('boolean');
      }),
      { numRuns: 60 },
    );
  });
});

describe('checking the tests of a rule file', () => {
  const good = { name: 'fires', expect: 'signal', events: [{ base: 'stratus-ec2-stop' }] };

  it.each<[string, unknown, string, string, string, RegExp]>([
    ['tests that are not a list', { a: 1 }, 'E_RULE_TEST_SCHEMA', 'tests', '  a: 1', /must be a list of tests, found a mapping/],
    ['a test that is not a mapping', ['just text'], 'E_RULE_TEST_SCHEMA', 'tests[0]', 'just text', /expected a test/],
    ['a missing name', [{ expect: 'signal', events: [{ base: 'x' }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].name', 'expect: signal', /'tests\[0\]\.name' is required/],
    ['a missing expect', [{ name: 'n', events: [{ base: 'x' }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].expect', 'name: n', /'tests\[0\]\.expect' is required/],
    ['a misspelt field, with a suggestion', [{ ...good, sevrity: 'low' }], 'E_RULE_TEST_SCHEMA', 'tests[0].sevrity', 'sevrity:', /unknown field 'sevrity'/],
    ['an unknown severity', [{ ...good, severity: 'urgent' }], 'E_RULE_TEST_SCHEMA', 'tests[0].severity', 'severity: urgent', /'tests\[0\]\.severity'/],
    ['a group value that is not a string', [{ ...good, group: { '@userIdentity.arn': 42 } }], 'E_RULE_TEST_SCHEMA', 'tests[0].group["@userIdentity.arn"]', '"@userIdentity.arn": 42', /expected string/],
    ['an empty events list', [{ ...good, events: [] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events', 'events: []', /Too small/],
    ['an event with neither base nor event', [{ ...good, events: [{ patch: { a: 1 } }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events[0]', 'patch:', /needs base .* or event/],
    ['an event with both base and event', [{ ...good, events: [{ base: 'x', event: { a: 1 } }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events[0].event', 'event:', /both base and event/],
    ['a misspelt event field', [{ ...good, events: [{ base: 'x', pacth: {} }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events[0].pacth', 'pacth:', /unknown field 'pacth' in a test event/],
    ['after on the first event', [{ ...good, events: [{ base: 'x', after: 5 }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events[0].after', 'after: 5', /first event of a test has no previous event/],
    ['a negative after', [{ ...good, events: [{ base: 'x' }, { base: 'x', after: -5 }] }], 'E_RULE_TEST_SCHEMA', 'tests[0].events[1].after', 'after: -5', /Too small/],
    ['expect none with a signal count', [{ ...good, expect: 'none', signals: 2 }], 'E_RULE_TEST_SCHEMA', 'tests[0].signals', 'signals: 2', /expects no signal but also 2 signals/],
    ['expect none with a severity', [{ ...good, expect: 'none', severity: 'low' }], 'E_RULE_TEST_SCHEMA', 'tests[0].severity', 'severity: low', /'severity' checks the signals raised, but the test expects none/],
    ['expect signal with 0 signals', [{ ...good, signals: 0 }], 'E_RULE_TEST_SCHEMA', 'tests[0].signals', 'signals: 0', /expects a signal but also 0 signals/],
    ['two tests with one name', [good, { ...good }], 'E_RULE_TEST_DUPLICATE_NAME', 'tests[1].name', '- name: fires', /two tests are named 'fires' \(the first at line \d+\)/],
    ['a group field the rule does not group by', [{ ...good, group: { '@userIdentity.arm': ARN } }], 'E_RULE_TEST_GROUP', 'tests[0].group["@userIdentity.arm"]', '"@userIdentity.arm"', /does not group by '@userIdentity\.arm'/],
    ['a group without every group-by field', [{ ...good, group: {} }], 'E_RULE_TEST_GROUP', 'tests[0].group', 'group: {}', /group lacks '@userIdentity\.arn'/],
  ])('reports %s', (_name, tests, code, path, marker, message) => {
    const text = stringify(ruleDocument(tests));
    const { diagnostics } = load(text);
    const found = diagnostics.filter((d) => d.code === code && d.path === path);
    expect(found, JSON.stringify(diagnostics, null, 1)).toHaveLength(1);
    const [d] = found;
    expect(d?.message).toMatch(message);
    expect(d?.file).toBe('rules/stops.yaml');
    expect(d?.severity).toBe('error');
    expect(d?.hint).toBeTruthy();
    // The duplicate is the second `- name: fires`.
    const markerLine = code === 'E_RULE_TEST_DUPLICATE_NAME' ? text.split('\n').map((l, i) => (l.includes(marker) ? i + 1 : 0)).filter((n) => n > 0)[1] : lineOf(text, marker);
    expect(d?.position?.line).toBe(markerLine);
  });

  it.each<[string, string]>([
    ['sevrity', 'severity'],
    ['expected', 'expect'],
  ])('suggests %s → %s', (typo, field) => {
    const { diagnostics } = load(stringify(ruleDocument([{ ...good, [typo]: 'x' }])));
    expect(diagnostics.find((d) => d.path === `tests[0].${typo}`)?.hint).toBe(`did you mean '${field}'?`);
  });

  it('keeps the rule, with its valid tests, when another test has an error', () => {
    const { rules, diagnostics } = load(stringify(ruleDocument([good, { name: 'broken', expect: 'maybe', events: [{ base: 'x' }] }])));
    expect(diagnostics.map((d) => d.code)).toEqual(['E_RULE_TEST_SCHEMA']);
    expect(rules.map((r) => r.tests?.map((t) => t.name))).toEqual([['fires']]);
  });

  it('keeps each test with its index, path and position', () => {
    const text = stringify(ruleDocument([good, { name: 'quiet', expect: 'none', events: [{ base: 'stratus-ec2-start' }] }]));
    const [rule] = load(text).rules;
    expect(rule?.tests?.map((t) => [t.name, t.index, t.path, t.position?.line])).toEqual([
      ['fires', 0, ['tests', 0], lineOf(text, '- name: fires')],
      ['quiet', 1, ['tests', 1], lineOf(text, '- name: quiet')],
    ]);
  });

  it('gives a rule without tests no tests, and reports nothing', () => {
    const doc = ruleDocument(undefined);
    delete doc['tests'];
    const { rules, diagnostics } = load(stringify(doc));
    expect(diagnostics).toEqual([]);
    expect(rules[0]?.tests).toBeUndefined();
  });

  it('finds the tests of each rule in a multi-document file and a Datadog export', () => {
    const first = ruleDocument([{ ...good, name: 'first' }]);
    const second = ruleDocument([{ ...good, name: 'second' }]);
    const stream = `${stringify(first)}---\n${stringify(second)}`;
    const exported = JSON.stringify({ data: { id: 'exp-1', type: 'signal_rule', attributes: ruleDocument([{ ...good, name: 'exported', group: { '@userIdentity.armm': 'x' } }]) } });
    const loaded = loadRulesWithTests([
      { path: 'rules/pair.yaml', text: stream },
      { path: 'rules/export.json', text: exported },
    ]);
    expect(loaded.rules.map((r) => [r.id, r.tests?.map((t) => t.name)])).toEqual([
      ['pair-1', ['first']],
      ['pair-2', ['second']],
      ['exp-1', []],
    ]);
    expect(loaded.diagnostics.map((d) => [d.file, d.code, d.path])).toEqual([['rules/export.json', 'E_RULE_TEST_GROUP', 'data.attributes.tests[0].group["@userIdentity.armm"]']]);
  });

  it('merges test diagnostics with the rule diagnostics of the same file, by position', () => {
    const text = stringify(ruleDocument([{ ...good, expect: 'maybe' }])).replace('evaluationWindow: 300', 'evaluationWindow: 301');
    const { diagnostics } = load(text);
    expect(diagnostics.map((d) => d.code)).toEqual(['E_RULE_WINDOW', 'E_RULE_TEST_SCHEMA']);
    const lines = diagnostics.map((d) => d.position?.line ?? 0);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
  });

  it('accepts the tests of the complete rule schema and refuses a malformed one', () => {
    expect(ruleSchema.safeParse(ruleDocument([good])).success).toBe(true);
    const parsed = ruleSchema.safeParse(ruleDocument([{ ...good, expect: 'maybe' }]));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path)).toContainEqual(['tests', 0, 'expect']);
  });
});

describe('base records', () => {
  const baseFile = (record: unknown, extra: Rec = {}): string => JSON.stringify({ source: `stratus-detonation-logs/aws.execution.ec2-user-data.json#${String((record as Rec)['eventID'])}`, licence: 'Apache-2.0', record, ...extra }, null, 2);

  it('loads a base by its file name', () => {
    const loaded = loadRuleTestBases([{ path: 'rules/bases/stratus-ec2-stop.json', text: baseFile(STOP) }]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.bases.get('stratus-ec2-stop')).toEqual(STOP);
    expect(loaded.files.get('stratus-ec2-stop')).toBe('rules/bases/stratus-ec2-stop.json');
  });

  it.each<[string, string, string, RegExp, number | undefined]>([
    ['bad JSON', '{"source": "x", ', 'E_RULE_TEST_BASE_FILE', /JSON syntax error/, undefined],
    ['a list instead of an object', '[1]', 'E_RULE_TEST_BASE_FILE', /expected \{"source", "licence", "record"\}, found a list/, 1],
    ['a misspelt field', baseFile(STOP, { license: 'MIT' }), 'E_RULE_TEST_BASE_FILE', /unknown field 'license'/, undefined],
    ['a missing record', JSON.stringify({ source: 'a#b', licence: 'MIT' }), 'E_RULE_TEST_BASE_FILE', /'record' is required/, 1],
    ['a source that does not name the eventID', JSON.stringify({ source: 'stratus.json#other', licence: 'MIT', record: STOP }), 'W_RULE_TEST_BASE_SOURCE', /does not end in '#d373b5dd/, 1],
  ])('reports %s', (_name, text, code, message, line) => {
    const loaded = loadRuleTestBases([{ path: 'bases/b.json', text }]);
    const d = loaded.diagnostics.find((x) => x.code === code);
    expect(d?.message).toMatch(message);
    expect(d?.file).toBe('bases/b.json');
    if (line !== undefined) expect(d?.position?.line).toBe(line);
    expect(loaded.bases.has('b')).toBe(code.startsWith('W_'));
  });

  it('keeps the first of two files with the same base name and reports the second', () => {
    const loaded = loadRuleTestBases([
      { path: 'rules/bases/x.json', text: baseFile(STOP) },
      { path: 'mine/bases/x.json', text: baseFile(START) },
    ]);
    expect(loaded.bases.get('x')).toEqual(STOP);
    expect(loaded.diagnostics.map((d) => [d.code, d.file, d.message])).toEqual([['E_RULE_TEST_BASE_FILE', 'mine/bases/x.json', "base 'x' is already defined by rules/bases/x.json"]]);
  });

  it('reports each test event naming an unknown base, where the name is written, with the closest name', () => {
    const text = stringify(ruleDocument([{ name: 'typo', expect: 'signal', events: [{ base: 'stratus-ec2-stop' }, { base: 'stratus-ec2-strat', after: 5 }] }]));
    const { rules } = load(text);
    const diagnostics = checkRuleTestBases(rules, BASES);
    expect(diagnostics.map((d) => [d.code, d.file, d.path, d.position?.line, d.hint])).toEqual([['E_RULE_TEST_BASE', 'rules/stops.yaml', 'tests[0].events[1].base', lineOf(text, 'base: stratus-ec2-strat'), "did you mean 'stratus-ec2-start'?"]]);
    expect(checkRuleTestBases(rules, new Map([...BASES, ['stratus-ec2-strat', STOP]]))).toEqual([]);
  });
});

describe('test diagnostic codes', () => {
  const doc = readFileSync(new URL('../../docs/rule-tests.md', import.meta.url), 'utf8');

  it('are documented in docs/rule-tests.md, each with its severity, and nothing else is', () => {
    const documented = new Map<string, string>();
    for (const match of doc.matchAll(/^\| `([EW]_RULE_TEST_[A-Z_]+)` \| (error|warning) \|/gm)) {
      if (match[1] !== undefined && match[2] !== undefined) documented.set(match[1], match[2]);
    }
    expect(documented).toEqual(new Map(Object.entries(RULE_TEST_DIAGNOSTIC_CODES).map(([code, info]) => [code, info.severity as string])));
  });

  it.each(Object.entries(RULE_TEST_DIAGNOSTIC_CODES))('%s is named after its severity', (code, info) => {
    expect(code.startsWith(info.severity === 'error' ? 'E_' : 'W_')).toBe(true);
  });
});

describe('the worked example in docs/rule-tests.md', () => {
  const doc = readFileSync(new URL('../../docs/rule-tests.md', import.meta.url), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  const basesDir = new URL('../../rules/bases/', import.meta.url);
  const bases = loadRuleTestBases(
    readdirSync(basesDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ path: `rules/bases/${f}`, text: readFileSync(new URL(f, basesDir), 'utf8') })),
  );

  it('loads without a diagnostic and every one of its tests passes', () => {
    const loaded = loadRulesWithTests([{ path: 'docs/example.yaml', text: block }]);
    expect(loaded.diagnostics).toEqual([]);
    const [rule] = loaded.rules;
    expect(rule?.tests?.length).toBeGreaterThanOrEqual(4);
    expect(checkRuleTestBases(loaded.rules, bases.bases)).toEqual([]);
    const results = rule ? runRuleTests(rule, bases.bases, createEngine) : [];
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(results.map((r) => r.passed)).toEqual(rule?.tests?.map(() => true));
  });
});
