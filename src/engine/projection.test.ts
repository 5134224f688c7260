import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../core/types.js';
import { compileFieldAccessor } from '../query/field-access.js';
import { ProjectionCache, compileProjection, pathsReadBy } from './projection.js';
import { builtinRules } from '../../test/support/detect.js';

/** Keys drawn from a small set, dotted ones included, so that paths hit them often. */
const keyArb = fc.constantFrom('a', 'b', 'c', 'a.b', 'b.c', 'a.b.c', '__proto__', 'x');
const jsonArb: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 3 }),
    fc.integer(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const objectArb = fc.dictionary(keyArb, jsonArb, { maxKeys: 5 }) as fc.Arbitrary<JsonObject>;
const pathArb = fc.array(fc.constantFrom('a', 'b', 'c', 'x'), { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));

describe('field projection', () => {
  it('every projected path reads exactly what it reads on the whole fields (property)', () => {
    fc.assert(
      fc.property(objectArb, fc.array(pathArb, { minLength: 1, maxLength: 4 }), pathArb, (fields, paths, other) => {
        const projected = compileProjection(paths)(fields);
        for (const path of paths) {
          const read = compileFieldAccessor(path);
          expect(read.values(projected)).toEqual(read.values(fields));
        }
        // Keeps no more than some path can reach: a path sharing no first key reads nothing.
        if (!paths.some((p) => p.split('.')[0] === other.split('.')[0])) expect(compileFieldAccessor(other).values(projected)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves the fields it reads from unchanged and keeps __proto__ as data', () => {
    const fields = JSON.parse('{"__proto__":{"x":1},"userIdentity":{"arn":"a","type":"IAMUser","sessionContext":{"big":"y"}},"responseElements":{"huge":"z"}}') as JsonObject;
    const before = JSON.stringify(fields);
    const projected = compileProjection(['userIdentity.arn', '__proto__.x'])(fields);
    expect(JSON.stringify(fields)).toBe(before);
    expect(JSON.stringify(projected)).toBe('{"userIdentity":{"arn":"a"},"__proto__":{"x":1}}');
    expect(Object.getPrototypeOf(projected)).toBe(Object.prototype);
  });

  it('lists what a built-in rule reads after matching, and gives up on free text', () => {
    const rules = builtinRules();
    const flagship = rules.find((r) => r.id === 'bd9-8o0-553');
    const paths = flagship ? pathsReadBy(flagship) : null;
    expect(paths).toEqual(expect.arrayContaining(['userIdentity.arn', 'userIdentity.session_name', 'host', 'eventName']));
    expect(paths).not.toContain('responseElements');
    const withText = flagship ? { ...flagship, queries: [{ ...flagship.queries[0], query: { ...flagship.queries[0]?.query, ast: { kind: 'text', text: 'x' } } }] } : undefined;
    expect(pathsReadBy(withText as never)).toBeNull();
  });

  it('a rule set with one rule that needs every field keeps every field', () => {
    const cache = new ProjectionCache([['a'], null]);
    const fields: JsonObject = { a: 1, b: 2 };
    expect(cache.project(fields, [0])).toEqual({ a: 1 });
    expect(cache.project(fields, [0, 1])).toBe(fields);
  });
});
