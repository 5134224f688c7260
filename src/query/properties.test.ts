/**
 * Properties over random queries from a small grammar and random events: the analysis is sound
 * (never claims more than the matcher does), order and array shape do not matter, nothing throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../core/types.js';
import { requiredLiterals, requiredValues } from './analyse.js';
import { compileQuery, compileQueryOrThrow } from './compile.js';
import { getFieldValues, someScalar } from './field-access.js';

const VALUES = ['x', 'y', 'X', 'xy', 'x*', '*y', '?y', '"x y"', '"x*"', '5', '5.0', 'true', 'abc', 'ab\\:c'];
const FIELDS = ['@a', '@b', '@a.c', 'source'];

const value = fc.constantFrom(...VALUES);
const field = fc.constantFrom(...FIELDS);

const term: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(field, value).map(([f, v]) => `${f}:${v}`),
  fc.tuple(field, value, value).map(([f, v, w]) => `${f}:(${v} OR ${w})`),
  fc.tuple(field, value, value).map(([f, v, w]) => `${f}:(${v} ${w})`),
  field.map((f) => `${f}:*`),
  fc.tuple(field, fc.constantFrom('>', '>=', '<', '<='), fc.constantFrom('4', '5', 'x')).map(([f, op, n]) => `${f}:${op}${n}`),
  fc.tuple(field, fc.constantFrom('[', '{'), fc.constantFrom(']', '}')).map(([f, open, close]) => `${f}:${open}4 TO 6${close}`),
  fc.constantFrom('xy', '"x y"', '*:x', 'ABC'),
);

const { query } = fc.letrec<{ query: string }>((tie) => ({
  query: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    term,
    fc.tuple(tie('query'), tie('query')).map(([a, b]) => `(${a} OR ${b})`),
    fc.tuple(tie('query'), tie('query')).map(([a, b]) => `${a} ${b}`),
    fc.tuple(tie('query'), tie('query')).map(([a, b]) => `(${a}) AND (${b})`),
    term.map((t) => `-${t}`),
    tie('query').map((q) => `NOT (${q})`),
  ),
}));

const scalar = fc.constantFrom<JsonValue>('x', 'y', 'X', 'xy', 'x y', 'x*', 'abc', 'ab:c', '5', 5, 5.5, 4, true, 'true', '', null);
const fieldValue: fc.Arbitrary<JsonValue> = fc.oneof(
  { arbitrary: scalar, weight: 2 },
  { arbitrary: fc.array(scalar, { maxLength: 6 }), weight: 3 },
  { arbitrary: fc.constant({}), weight: 1 },
);
const event: fc.Arbitrary<JsonObject> = fc.record(
  { a: fc.oneof(fieldValue, fc.record({ c: fieldValue }), fc.array(fc.record({ c: fieldValue }), { maxLength: 2 })), b: fieldValue, source: fieldValue, other: fieldValue },
  { requiredKeys: [] },
);

function textOf(v: JsonValue): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
}

describe('analysis soundness', () => {
  it('whenever a query matches, the event has a value of the field in requiredValues', () => {
    let matched = 0;
    fc.assert(
      fc.property(query, event, (text, e) => {
        const compiled = compileQueryOrThrow(text);
        if (!compiled.matches(e)) return;
        matched++;
        for (const path of ['a', 'b', 'a.c', 'source']) {
          const required = requiredValues(compiled.ast, path);
          if (required === null) continue;
          const texts = getFieldValues(e, path).map(textOf);
          expect(texts.some((t) => t !== null && required.has(t)), `${text} on ${JSON.stringify(e)}: ${path} ∈ ${[...required].join('|')}`).toBe(true);
        }
      }),
      { numRuns: 4000 },
    );
    expect(matched).toBeGreaterThan(200);
  });

  it('whenever a query matches, every clause of requiredLiterals occurs in a value and in the JSON bytes', () => {
    let constrained = 0;
    fc.assert(
      fc.property(query, event, (text, e) => {
        const compiled = compileQueryOrThrow(text);
        if (!compiled.matches(e)) return;
        const clauses = requiredLiterals(compiled.ast);
        if (clauses.length > 0) constrained++;
        const bytes = JSON.stringify(e);
        for (const clause of clauses) {
          const found = clause.some((literal) => bytes.includes(literal) && someScalar(e, (v) => String(v).includes(literal)));
          expect(found, `${text} on ${bytes}: one of ${JSON.stringify(clause)}`).toBe(true);
        }
      }),
      { numRuns: 12000 },
    );
    expect(constrained).toBeGreaterThan(20);
  });
});

describe('order and shape do not matter', () => {
  it.each([
    ['AND', (a: string, b: string) => `(${a}) AND (${b})`],
    ['OR', (a: string, b: string) => `(${a}) OR (${b})`],
  ])('%s is commutative', (_name, combine) => {
    fc.assert(
      fc.property(query, query, event, (a, b, e) => {
        expect(compileQueryOrThrow(combine(a, b)).matches(e)).toBe(compileQueryOrThrow(combine(b, a)).matches(e));
      }),
      { numRuns: 1000 },
    );
  });

  it("De Morgan: NOT (A OR B) is (NOT A) AND (NOT B)", () => {
    fc.assert(
      fc.property(query, query, event, (a, b, e) => {
        expect(compileQueryOrThrow(`NOT ((${a}) OR (${b}))`).matches(e)).toBe(compileQueryOrThrow(`NOT (${a}) NOT (${b})`).matches(e));
      }),
      { numRuns: 1000 },
    );
  });

  it('the order of array elements in the event does not change the result', () => {
    const reverseArrays = (v: JsonValue): JsonValue =>
      Array.isArray(v) ? [...v].reverse().map(reverseArrays) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reverseArrays(x)])) : v;
    fc.assert(
      fc.property(query, event, (text, e) => {
        const compiled = compileQueryOrThrow(text);
        expect(compiled.matches(reverseArrays(e) as JsonObject)).toBe(compiled.matches(e));
      }),
      { numRuns: 2000 },
    );
  });

  it('a one-element array matches like its element', () => {
    fc.assert(
      fc.property(query, fc.constantFrom('a', 'b', 'source'), scalar, (text, key, v) => {
        const compiled = compileQueryOrThrow(text);
        expect(compiled.matches({ [key]: [v] })).toBe(compiled.matches({ [key]: v }));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('robustness', () => {
  it('random query text either compiles or fails with diagnostics, and matching never throws', () => {
    const token = fc.constantFrom('@a', ':', 'x', '*', '?', '(', ')', '[', ']', '{', '}', '"', '\\', '-', ' ', 'OR', 'AND', 'NOT', 'TO', '>', '<=', ',', 'CIDR(', '10.0.0.0/8', '::1');
    fc.assert(
      fc.property(fc.string({ unit: token, maxLength: 16 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 3 })), (text, raw) => {
        const result = compileQuery(text);
        if (!result.ok) {
          expect(result.diagnostics.length).toBeGreaterThan(0);
          return;
        }
        expect(typeof result.value.matches(raw as JsonObject)).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
  });
});
