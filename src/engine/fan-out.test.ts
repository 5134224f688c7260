import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { compileQueryOrThrow } from '../query/compile.js';
import { compileCondition } from '../rules/condition.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine } from './engine.js';
import { MAX_FAN_OUT_GROUPS, compileFanOutHost, compileGroupsOf } from './fan-out.js';
import { STRATUS_USER_DATA_FIXTURE, T0, attackRecords, thresholdRule } from './test-support.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const A = 'i-0a1b2c3d4e5f60718';
const B = 'i-DDd6c7B0e18F0E35f';
const C = 'i-0f1e2d3c4b5a69788';

/** The real StopInstances record, normalised, naming `ids`. */
function stopOf(ids: readonly string[], id = 'stop', seconds = 0): JsonObject {
  const record = { ...structuredClone(real.stop), eventID: id, eventTime: new Date(T0 + seconds * 1000).toISOString(), requestParameters: { force: true, instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } };
  const normalised = normaliseRecord(record, { source: 'test', index: 0 });
  if (!normalised.ok) throw new Error(normalised.message);
  return normalised.event.fields;
}

const BY_INSTANCE = ['@recipientAccountId', '@target.instance_ids'];

describe('fan-out group-bys', () => {
  it.each<[string, { fields: readonly string[]; isOptional?: boolean; isFanOut: boolean }, JsonObject, string[][] | undefined]>([
    ['without fan-out: the first instance only', { fields: BY_INSTANCE, isFanOut: false }, stopOf([A, B, C]), [['309303190113', A]]],
    ['with fan-out: one group per instance, in request order', { fields: BY_INSTANCE, isFanOut: true }, stopOf([A, B, C]), [['309303190113', A], ['309303190113', B], ['309303190113', C]]],
    ['with fan-out: a repeated instance counts once', { fields: BY_INSTANCE, isFanOut: true }, stopOf([A, B, A]), [['309303190113', A], ['309303190113', B]]],
    ['with fan-out over two fields: the cross product, first field outermost', { fields: ['@target.instance_ids', '@requestParameters.instancesSet.items.instanceId'], isFanOut: true }, stopOf([A, B]), [[A, A], [A, B], [B, A], [B, B]]],
    ['with fan-out: a missing field misses the rule', { fields: ['@target.instance_ids', '@requestParameters.bucketName'], isFanOut: true }, stopOf([A]), undefined],
    ['with fan-out: a missing optional field is N/A', { fields: ['@target.instance_ids', '@requestParameters.bucketName'], isOptional: true, isFanOut: true }, stopOf([A, B]), [[A, 'N/A'], [B, 'N/A']]],
  ])('%s', (_name, spec, fields, expected) => {
    const groupsOf = compileGroupsOf({ groupByFields: spec.fields, hasOptionalGroupByFields: spec.isOptional ?? false, hasGroupByFanOut: spec.isFanOut });
    expect(groupsOf(fields)).toEqual(expected);
  });

  it('an event joins at most the limit of groups, the first ones', () => {
    const ids = Array.from({ length: MAX_FAN_OUT_GROUPS + 10 }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
    const groups = compileGroupsOf({ groupByFields: ['@target.instance_ids'], hasOptionalGroupByFields: false, hasGroupByFanOut: true })(stopOf(ids));
    expect(groups).toHaveLength(MAX_FAN_OUT_GROUPS);
    expect(groups?.[0]).toEqual([ids[0]]);
  });

  it('never throws and never exceeds the limit, whatever the values', () => {
    const groupsOf = compileGroupsOf({ groupByFields: ['@a', '@b'], hasOptionalGroupByFields: true, hasGroupByFanOut: true }, 8);
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(value, value, (a, b) => {
        const groups = groupsOf({ a: a as never, b: b as never });
        expect(groups?.length ?? 0).toBeLessThanOrEqual(8);
        for (const group of groups ?? []) expect(group).toHaveLength(2);
      }),
    );
  });

  it.each([
    ['the instance of the group when the call names several', [A, B, C], [C], C],
    ['the first instance when the group is that instance', [A, B, C], [A], A],
    ['the call host when it names one instance', [B], [B], B],
  ])('the host seen from a fan-out group is %s', (_name, ids, groupValues, expected) => {
    const fields = stopOf(ids);
    const hostFor = compileFanOutHost({ groupByFields: ['@target.instance_ids'], hasOptionalGroupByFields: false, hasGroupByFanOut: true });
    expect(hostFor(fields, typeof fields.host === 'string' ? fields.host : null, groupValues)).toBe(expected);
  });

  it('a rule without fan-out keeps the event host', () => {
    const fields = stopOf([A, B, C]);
    expect(compileFanOutHost({ groupByFields: ['@target.instance_ids'], hasOptionalGroupByFields: false })(fields, A, [C])).toBe(A);
  });
});

describe('fan-out in the engine', () => {
  function rule(isFanOut: boolean): CompiledRule {
    const stop = compileCondition('stop > 0', ['stop']);
    if (!stop.ok) throw new Error('test condition does not compile');
    const query = { name: 'stop', query: compileQueryOrThrow('@evt.name:StopInstances'), aggregation: 'count', groupByFields: ['@target.instance_ids'], distinctFields: [], hasOptionalGroupByFields: false } as const;
    const base = thresholdRule({ groupByFields: ['@target.instance_ids'], queries: [isFanOut ? { ...query, hasGroupByFanOut: true } : query], cases: [{ name: '', status: 'low', condition: stop.value }] });
    return isFanOut ? { ...base, hasGroupByFanOut: true } : base;
  }

  function signalsOf(compiled: CompiledRule): { group: string | undefined; host: string | null; events: readonly string[] }[] {
    const engine = createEngine([compiled]);
    engine.ingest({ fields: stopOf([A, B, C], 'stop-3'), time: T0, eventId: 'stop-3', key: 'stop-3', origin: { source: 'test', index: 0 } });
    engine.finish();
    return engine.signals().map((s) => ({ group: s.group['@target.instance_ids'], host: s.host, events: s.eventIds }));
  }

  it('a StopInstances of three instances raises one signal per instance, each hosted on its instance', () => {
    expect(signalsOf(rule(true)).sort((x, y) => (x.group ?? '').localeCompare(y.group ?? ''))).toEqual(
      [A, B, C].map((id) => ({ group: id, host: id, events: ['stop-3'] })).sort((x, y) => x.group.localeCompare(y.group)),
    );
  });

  it('without fan-out the same call raises one signal, for the first instance', () => {
    expect(signalsOf(rule(false))).toEqual([{ group: A, host: A, events: ['stop-3'] }]);
  });
});
