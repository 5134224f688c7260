import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../core/types.js';
import { compileFieldAccessor, compileFieldPath, getFieldValues, someScalar } from './field-access.js';

const FIXTURE = new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function realRecord(eventName: string): JsonObject {
  const parsed: unknown = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  const found = Array.isArray(parsed) ? parsed.filter(isObject).find((r) => r.eventName === eventName) : undefined;
  if (!found) throw new Error(`no ${eventName} in the fixture`);
  return found;
}

/** The real StopInstances record, stopping three instances (the first is the real one). */
function stopOfThree(): JsonObject {
  const stop = structuredClone(realRecord('StopInstances'));
  const params = stop.requestParameters;
  if (!isObject(params) || !isObject(params.instancesSet) || !Array.isArray(params.instancesSet.items)) throw new Error('unexpected shape');
  params.instancesSet.items.push({ instanceId: 'i-second' }, { instanceId: 'i-third' });
  return stop;
}

describe('compileFieldPath on real records', () => {
  const stop = stopOfThree();
  it.each<[string, JsonValue[]]>([
    ['eventName', ['StopInstances']],
    ['requestParameters.instancesSet.items.instanceId', ['i-DDd6c7B0e18F0E35f', 'i-second', 'i-third']],
    ['responseElements.instancesSet.items.currentState.code', [64]],
    ['requestParameters.force', [true]],
    ['userIdentity.userName', ['christophe']],
    ['requestParameters.instancesSet.items', [{ instanceId: 'i-DDd6c7B0e18F0E35f' }, { instanceId: 'i-second' }, { instanceId: 'i-third' }]],
    ['requestParameters.missing', []],
    ['eventName.length', []],
    ['userIdentity.userName.x.y', []],
  ])('%s gives %j', (path, expected) => {
    expect(compileFieldPath(path)(stop)).toEqual(expected);
    expect(getFieldValues(stop, path)).toEqual(expected);
  });
});

describe('fan-out and lookup rules', () => {
  it.each<[string, JsonObject, JsonValue[]]>([
    ['an array leaf contributes its elements', { a: { b: { c: [1, 'x', true] } } }, [1, 'x', true]],
    ['nested arrays are flattened at the leaf', { a: { b: { c: [[1, [2]], 3] } } }, [1, 2, 3]],
    ['arrays fan out at several levels', { a: [{ b: [{ c: 1 }, { c: 2 }] }, { b: { c: 3 } }] }, [1, 2, 3]],
    ['arrays of arrays fan out in the middle', { a: [[{ b: { c: 'x' } }], [[{ b: { c: 'y' } }]]] }, ['x', 'y']],
    ['null is skipped', { a: { b: { c: [null, 1, null] } } }, [1]],
    ['a null leaf is absent', { a: { b: { c: null } } }, []],
    ['an empty array leaf is absent', { a: { b: { c: [] } } }, []],
    ['an empty object and empty string are present', { a: { b: { c: [{}, ''] } } }, [{}, '']],
    ['a scalar in the middle stops the path', { a: { b: 'str' } }, []],
    ['a key containing dots is found', { 'a.b.c': 'flat' }, ['flat']],
    ['a key containing dots is found below a level', { a: { 'b.c': 'mixed' } }, ['mixed']],
    ['the longest dotted key wins over nesting', { 'a.b': { c: 'long' }, a: { b: { c: 'short' } } }, ['long']],
    ['nesting is used when no dotted key exists', { a: { b: { c: 'nested' } } }, ['nested']],
  ])('%s', (_name, obj, expected) => {
    expect(getFieldValues(obj, 'a.b.c')).toEqual(expected);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'constructor.name'])('never reads the inherited %s', (path) => {
    expect(getFieldValues({ a: 1 }, path)).toEqual([]);
  });

  it('reads an own __proto__ key from parsed JSON', () => {
    const obj = JSON.parse('{"__proto__": {"x": "own"}}') as JsonObject;
    expect(getFieldValues(obj, '__proto__.x')).toEqual(['own']);
  });

  it('survives arrays nested far deeper than the call stack', () => {
    let deep: JsonValue = 'bottom';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(getFieldValues({ a: deep }, 'a')).toEqual(['bottom']);
    expect(compileFieldAccessor('a').some({ a: deep }, (v) => v === 'bottom')).toBe(true);
    expect(someScalar({ a: deep }, (v) => v === 'bottom')).toBe(true);
  });

  it('some() agrees with values() for any event and any test', () => {
    const accessor = compileFieldAccessor('a.b');
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'a.b', 'c'), fc.jsonValue({ maxDepth: 4 })), fc.jsonValue({ maxDepth: 0 }), (raw, target) => {
        const obj = raw as JsonObject;
        const values = accessor.values(obj);
        expect(accessor.some(obj, (v) => v === target)).toBe(values.includes(target as JsonValue));
        expect(values.includes(null)).toBe(false);
      }),
    );
  });

  it('the order of array elements only changes the order of the values', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 8 }), (items) => {
        const forward = getFieldValues({ a: items.map((x) => ({ b: x })) }, 'a.b');
        const backward = getFieldValues({ a: [...items].reverse().map((x) => ({ b: x })) }, 'a.b');
        expect(backward).toEqual([...forward].reverse());
      }),
    );
  });
});

describe('someScalar', () => {
  it.each<[string, JsonObject, boolean]>([
    ['finds a deep string', { a: { b: [{ c: 'needle' }] } }, true],
    ['finds a number by its value', { a: [1, 2, 42] }, true],
    ['does not look at keys', { needle: 1 }, false],
    ['finds nothing in an empty event', {}, false],
  ])('%s', (_name, obj, expected) => {
    expect(someScalar(obj, (v) => v === 'needle' || v === 42)).toBe(expected);
  });
});
