/** `target.instance_ids`: every instance a call acts on, whatever its request shape. */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../core/types.js';
import { normaliseRecord } from './normalise.js';

const STRATUS = JSON.parse(readFileSync(new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url), 'utf8')) as JsonObject[];

function record(name: string): JsonObject {
  const found = STRATUS.find((r) => r.eventName === name);
  if (!found) throw new Error(`no ${name} in the fixture`);
  return structuredClone(found);
}

function targetsOf(value: JsonObject): JsonValue | undefined {
  const normalised = normaliseRecord(value, { source: 'test', index: 0 });
  if (!normalised.ok) throw new Error(normalised.message);
  const target = normalised.event.fields.target;
  return typeof target === 'object' && target !== null && !Array.isArray(target) ? target.instance_ids : target;
}

const items = (...ids: JsonValue[]): JsonObject => ({ instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } });

describe('target.instance_ids', () => {
  it.each<[string, JsonObject, JsonValue | undefined]>([
    ['the real StopInstances: its one instance', record('StopInstances'), ['i-DDd6c7B0e18F0E35f']],
    ['the real ModifyInstanceAttribute: its instanceId', record('ModifyInstanceAttribute'), ['i-DDd6c7B0e18F0E35f']],
    ['the real StartInstances: its one instance', record('StartInstances'), ['i-DDd6c7B0e18F0E35f']],
    ['a Stop of three instances: all three, in request order', { ...record('StopInstances'), requestParameters: items('i-0a1b2c3d4e5f60718', 'i-DDd6c7B0e18F0E35f', 'i-0f1e2d3c4b5a69788') }, ['i-0a1b2c3d4e5f60718', 'i-DDd6c7B0e18F0E35f', 'i-0f1e2d3c4b5a69788']],
    ['an instance named twice: once', { ...record('StopInstances'), requestParameters: items('i-0a1b2c3d4e5f60718', 'i-0a1b2c3d4e5f60718') }, ['i-0a1b2c3d4e5f60718']],
    ['instanceId and an instancesSet: both, instanceId first', { ...record('StopInstances'), requestParameters: { instanceId: 'i-0f1e2d3c4b5a69788', ...items('i-0a1b2c3d4e5f60718') } }, ['i-0f1e2d3c4b5a69788', 'i-0a1b2c3d4e5f60718']],
    ['ids that are not non-empty strings: skipped', { ...record('StopInstances'), requestParameters: items('', 7, null, { id: 'x' }, 'i-0a1b2c3d4e5f60718') }, ['i-0a1b2c3d4e5f60718']],
    ['items that are not a list: nothing', { ...record('StopInstances'), requestParameters: { instancesSet: { items: 'i-0a1b2c3d4e5f60718' } } }, undefined],
    ['no request parameters: nothing', { ...record('StopInstances'), requestParameters: null }, undefined],
    ['a raw top-level `target` is replaced by the derived one', { ...record('StartInstances'), target: { instance_ids: ['i-forged'] } }, ['i-DDd6c7B0e18F0E35f']],
    ['a raw top-level `target` on a call naming no instance is removed', { ...record('StartInstances'), requestParameters: null, target: 'forged' }, undefined],
  ])('%s', (_name, value, expected) => {
    expect(targetsOf(value)).toEqual(expected);
  });

  it('never throws, and lists only non-empty strings without repeats, whatever the request parameters', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (requestParameters) => {
        const ids = targetsOf({ ...record('StopInstances'), requestParameters: requestParameters as JsonValue });
        if (ids === undefined) return;
        expect(Array.isArray(ids)).toBe(true);
        const list = ids as JsonValue[];
        expect(list.length).toBeGreaterThan(0);
        expect(list.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
        expect(new Set(list).size).toBe(list.length);
      }),
    );
  });
});
