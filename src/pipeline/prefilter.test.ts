import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { BUILTIN_RULES_DIR, loadRuleFiles } from '../cli/rule-files.js';
import { normaliseRecord, parseEventTime } from '../normalise/normalise.js';
import { compileQueryOrThrow } from '../query/compile.js';
import type { CompiledRule } from '../rules/model.js';
import { Prefilter, isCopiedAttribute, isValidEventTime, planPrefilter } from './prefilter.js';
import { RecordFacts, scanRecordObject } from './record-splitter.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));
type Rec = Record<string, unknown>;
const stratus = JSON.parse(readFileSync(join(FIXTURES, 'stratus-detonation-logs/aws.execution.ec2-user-data.json'), 'utf8')) as Rec[];
const invictus = (JSON.parse(readFileSync(join(FIXTURES, 'invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json'), 'utf8')) as { Records: Rec[] }).Records;
const stop = stratus.find((r) => r.eventName === 'StopInstances') as Rec;
const describeCall = stratus.find((r) => r.eventName === 'DescribeInstances') as Rec;

/** A rule as the prefilter reads it: enabled, with these queries. */
function ruleOf(...queries: string[]): CompiledRule {
  return { id: 'r', isEnabled: true, queries: queries.map((text, i) => ({ name: `q${i}`, query: compileQueryOrThrow(text) })) } as unknown as CompiledRule;
}

/** Whether the prefilter lets the record with this JSON text be skipped. */
function skips(prefilter: Prefilter, text: string): boolean {
  const facts = new RecordFacts();
  if (scanRecordObject(text, 0, facts) !== text.length) return false;
  return prefilter.canSkip(text, 0, text.length, facts);
}

describe('which attributes are in the raw text', () => {
  it.each([
    { path: 'eventSource', isCopied: true },
    { path: 'requestParameters.userData', isCopied: true },
    { path: 'userIdentity.arn', isCopied: true },
    { path: 'evt.name', isCopied: true },
    { path: 'network.client.ip', isCopied: true },
    { path: 'userIdentity.assumed_role', isCopied: true },
    { path: 'host', isCopied: true },
    { path: 'level', isCopied: false },
    { path: 'status', isCopied: false },
    { path: 'source', isCopied: false },
    { path: 'userIdentity.session_name', isCopied: false },
    { path: 'evt.category', isCopied: false },
    { path: 'usr.id', isCopied: false },
  ])('$path: copied from the record is $isCopied', ({ path, isCopied }) => {
    expect(isCopiedAttribute(path)).toBe(isCopied);
  });
});

describe('planning the prefilter from the rules', () => {
  it.each([
    { query: '@eventSource:ec2.amazonaws.com @evt.name:StopInstances', named: [['StopInstances', [[['ec2.amazonaws.com']]]]], everyName: [] },
    { query: '@evt.name:(StopInstances OR StartInstances)', named: [['StopInstances', null], ['StartInstances', null]], everyName: [] },
    { query: '@eventName:GetObject @level:Error', named: [['GetObject', null]], everyName: [] },
    { query: '@userIdentity.type:Root', named: [], everyName: [[['Root']]] },
    { query: '@userIdentity.session_name:i-*', named: [], everyName: [[['i-']]] },
    { query: '@userIdentity.session_name:ro*', named: [], everyName: null },
    { query: '@level:Error', named: [], everyName: null },
    { query: 'status:error @userIdentity.type:IAMUser', named: [], everyName: [[['IAMUser']]] },
    { query: '@evt.category:x', named: [], everyName: null },
    { query: '-@userIdentity.type:Root', named: [], everyName: null },
    { query: '@userIdentity.type:Root OR @requestParameters.x:>5', named: [], everyName: null },
    { query: '@evt.name:Describe* @errorCode:*Denied*', named: [], everyName: [[['Describe'], ['Denied']]] },
  ])('$query', ({ query, named, everyName }) => {
    const plan = planPrefilter([ruleOf(query)]);
    expect(plan.byName).toEqual(named);
    expect(plan.everyName).toEqual(everyName);
  });

  it('a disabled rule plans nothing, and several queries add up', () => {
    const disabled = { ...ruleOf('@level:Error'), isEnabled: false } as CompiledRule;
    const plan = planPrefilter([disabled, ruleOf('@evt.name:A @x:one', '@evt.name:A @x:two'), ruleOf('@evt.name:B')]);
    expect(plan.byName).toEqual([
      ['A', [[['one']], [['two']]]],
      ['B', null],
    ]);
    expect(plan.everyName).toEqual([]);
  });
});

describe('the prefilter on one record', () => {
  const prefilter = new Prefilter(planPrefilter([ruleOf('@eventSource:ec2.amazonaws.com @evt.name:StopInstances'), ruleOf('@userIdentity.type:Root')]));
  const text = (record: Rec): string => JSON.stringify(record);
  const asName = (name: string): Rec => ({ ...describeCall, eventName: name });
  it.each([
    { shape: 'a record no rule names, without the literals', record: text(describeCall), isSkipped: true },
    { shape: 'a record a rule names', record: text(stop), isSkipped: false },
    { shape: 'a name a rule names, without the rule’s other literal', record: text({ ...stop, eventSource: 'other.amazonaws.com' }), isSkipped: true },
    { shape: 'the literal of an every-name rule', record: text({ ...describeCall, userIdentity: { type: 'Root' } }), isSkipped: false },
    { shape: 'a unicode escape anywhere', record: text(asName('DescribeX')).replace('DescribeX', 'Describ\\u0065X'), isSkipped: false },
    { shape: 'the name written with an escape', record: text(stop).replace('"StopInstances"', '"\\u0053topInstances"'), isSkipped: false },
    { shape: 'no eventTime', record: text({ ...describeCall, eventTime: undefined }), isSkipped: false },
    { shape: 'an eventTime that does not parse', record: text({ ...describeCall, eventTime: '2024-02-30T00:00:00Z' }), isSkipped: false },
    { shape: 'a Panther-style eventTime', record: text({ ...describeCall, eventTime: '2022-09-30 15:11:25.000000000' }), isSkipped: true },
    { shape: 'an empty eventName', record: text(asName('')), isSkipped: false },
    { shape: 'a number for eventName', record: text({ ...describeCall, eventName: 7 }), isSkipped: false },
    { shape: 'no eventName', record: text({ ...describeCall, eventName: undefined }), isSkipped: false },
    { shape: 'a duplicate eventName that a rule names, last', record: text(describeCall).replace(/}$/, ',"eventName":"StopInstances"}'), isSkipped: false },
    { shape: 'blanks around the colons of the members', record: JSON.stringify(describeCall, null, 1), isSkipped: true },
  ])('$shape: skipped is $isSkipped', ({ record, isSkipped }) => {
    expect(skips(prefilter, record)).toBe(isSkipped);
  });

  it('skips nothing when a rule proves nothing', () => {
    const open = new Prefilter(planPrefilter([ruleOf('@level:Error')]));
    expect(open.isUseless).toBe(true);
    expect(skips(open, text(describeCall))).toBe(false);
  });
});

describe('the event time check agrees with the normaliser', () => {
  it.each(['2024-08-01T12:04:24Z', '2024-02-29T00:00:00Z', '2000-02-29T23:59:59Z', '2024-08-01T12:04:24.123Z', '2022-09-30 15:11:25.000000000', '2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T00:60:00Z', '2024-1-01T00:00:00Z', ''])(
    '%s',
    (time) => {
      expect(isValidEventTime(`"${time}"`, 1, time.length + 1)).toBe(parseEventTime(time) !== undefined);
    },
  );

  it('on any text of time-like characters (property)', () => {
    const chars = fc.constantFrom(...'0123456789-:TZ .+'.split(''));
    const digits = (n: number) => fc.array(fc.constantFrom(...'0123456789'.split('')), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const canonical = fc.tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2)).map(([y, mo, d, h, mi, s]) => `${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
    fc.assert(
      fc.property(fc.oneof(canonical, fc.array(chars, { maxLength: 24 }).map((c) => c.join(''))), (time) => {
        expect(isValidEventTime(time, 0, time.length)).toBe(parseEventTime(time) !== undefined);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the prefilter never drops a record the full path would match or refuse', () => {
  let rules: readonly CompiledRule[] = [];
  let prefilter: Prefilter;
  beforeAll(async () => {
    const loaded = await loadRuleFiles([BUILTIN_RULES_DIR]);
    rules = loaded.rules.filter((r) => r.isEnabled);
    prefilter = new Prefilter(planPrefilter(rules));
  });

  /** What the straightforward path does with this text: refuse it, match a rule, or neither. */
  function fullPath(text: string): 'refused' | 'matches' | 'neither' {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return 'refused';
    }
    const normalised = normaliseRecord(value, { source: 'test', index: 0 });
    if (!normalised.ok) return 'refused';
    const fields: JsonObject = normalised.event.fields;
    return rules.some((rule) => rule.queries.some((q) => q.query.matches(fields))) ? 'matches' : 'neither';
  }

  const names = ['StopInstances', 'StartInstances', 'ModifyInstanceAttribute', 'DescribeInstances', 'ListBuckets', 'GetSecretValue', 'ConsoleLogin', 'PutEventSelectors', 'AssumeRole'];
  const identityTypes = ['AssumedRole', 'IAMUser', 'Root', 'AWSService', 'FederatedUser', 'IdentityCenterUser'];
  const bases = [...stratus, ...invictus.slice(0, 200)];
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('service') }),
    fc.record({ kind: fc.constant('service') }),
    fc.record({ kind: fc.constant('name'), name: fc.constantFrom(...names) }),
    fc.record({ kind: fc.constant('identity'), type: fc.constantFrom(...identityTypes), session: fc.constantFrom('i-0123456789abcdef0', 'alice', 'AWSReservedSSO_Admin_1') }),
    fc.record({ kind: fc.constant('error'), code: fc.constantFrom('AccessDenied', 'Client.UnauthorizedOperation', 'ThrottlingException') }),
    fc.record({ kind: fc.constant('source'), source: fc.constantFrom('ec2.amazonaws.com', 'iam.amazonaws.com', 'cloudtrail.amazonaws.com', 'signin.amazonaws.com') }),
    fc.record({ kind: fc.constant('userData') }),
    fc.record({ kind: fc.constant('nestedText'), name: fc.constantFrom(...names) }),
  );
  const textMutation = fc.constantFrom('none', 'escapeName', 'escapeAnyLetter', 'spacedColons', 'duplicateName', 'dropTime', 'badTime', 'reorder', 'pretty');

  function apply(record: Rec, m: { kind: string; name?: string; type?: string; session?: string; code?: string; source?: string }): Rec {
    switch (m.kind) {
      case 'name':
        return { ...record, eventName: m.name };
      case 'identity':
        return { ...record, userIdentity: { type: m.type, arn: `arn:aws:sts::111122223333:assumed-role/role/${m.session}`, userName: m.session, accountId: '111122223333' } };
      case 'service':
        return { ...record, userIdentity: { type: 'AWSService', invokedBy: 'ec2.amazonaws.com' } };
      case 'error':
        return { ...record, errorCode: m.code, errorMessage: 'no' };
      case 'source':
        return { ...record, eventSource: m.source };
      case 'userData':
        return { ...record, requestParameters: { instanceId: 'i-0123456789abcdef0', userData: '<sensitiveDataRemoved>' } };
      default:
        return { ...record, requestParameters: { note: JSON.stringify({ eventName: m.name, eventSource: 'ec2.amazonaws.com' }) } };
    }
  }

  function write(record: Rec, how: string, pick: number): string {
    const text = JSON.stringify(record);
    switch (how) {
      case 'escapeName':
        return text.replace(/"eventName":"(.)/, (_, c: string) => `"eventName":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      case 'escapeAnyLetter': {
        const letters = [...text.matchAll(/[A-Za-z]/g)];
        const at = letters[pick % Math.max(1, letters.length)]?.index ?? 0;
        return `${text.slice(0, at)}\\u${text.charCodeAt(at).toString(16).padStart(4, '0')}${text.slice(at + 1)}`;
      }
      case 'spacedColons':
        return JSON.stringify(record, null, ' ').replace(/\n\s*/g, ' ');
      case 'duplicateName':
        return text.replace(/}$/, `,"eventName":${JSON.stringify(names[pick % names.length])}}`);
      case 'dropTime':
        return JSON.stringify({ ...record, eventTime: undefined });
      case 'badTime':
        return JSON.stringify({ ...record, eventTime: 'yesterday' });
      case 'reorder':
        return JSON.stringify(Object.fromEntries(Object.entries(record).reverse()));
      case 'pretty':
        return JSON.stringify(record, null, 2);
      default:
        return text;
    }
  }

  it('for random mutations of real records (property)', () => {
    let skipped = 0;
    fc.assert(
      fc.property(fc.nat(bases.length - 1), fc.array(mutation, { maxLength: 3 }), textMutation, fc.nat(), (i, mutations, how, pick) => {
        const record = mutations.reduce(apply, bases[i] ?? {});
        const text = write(record, how, pick);
        if (skips(prefilter, text)) {
          skipped++;
          expect(fullPath(text)).toBe('neither');
        }
      }),
      { numRuns: 5000 },
    );
    // The property must have been exercised: some records were skipped.
    expect(skipped).toBeGreaterThan(200);
  });

  it('the real records it skips are exactly those that match nothing', () => {
    for (const record of bases) {
      const text = JSON.stringify(record);
      if (skips(prefilter, text)) expect(fullPath(text)).toBe('neither');
    }
    expect(bases.some((record) => fullPath(JSON.stringify(record)) === 'matches')).toBe(true);
  });
});
