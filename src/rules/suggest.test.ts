import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closestName, editDistance } from './suggest.js';

const OPTIONS = ['detectionMethod', 'evaluationWindow', 'keepAlive', 'maxSignalDuration', 'newValueOptions'];

describe('closestName', () => {
  it.each([
    { name: 'evaluation_window', expected: 'evaluationWindow' },
    { name: 'EvaluationWindow', expected: 'evaluationWindow' },
    { name: 'keep-alive', expected: 'keepAlive' },
    { name: 'keepAlvie', expected: 'keepAlive' },
    { name: 'maxSignalDurration', expected: 'maxSignalDuration' },
    { name: 'detectionMetod', expected: 'detectionMethod' },
    { name: 'window', expected: undefined },
    { name: 'somethingElseEntirely', expected: undefined },
    { name: '', expected: undefined },
    { name: 'x'.repeat(500), expected: undefined },
  ])('suggests $expected for $name', ({ name, expected }) => {
    expect(closestName(name, OPTIONS)).toBe(expected);
  });

  it('never suggests the name itself', () => {
    expect(closestName('keepAlive', OPTIONS)).toBeUndefined();
  });
});

describe('editDistance', () => {
  it.each([
    { a: 'kitten', b: 'sitting', distance: 3 },
    { a: 'host', b: 'hots', distance: 1 },
    { a: '', b: 'abc', distance: 3 },
    { a: 'same', b: 'same', distance: 0 },
  ])('is $distance between $a and $b', ({ a, b, distance }) => {
    expect(editDistance(a, b)).toBe(distance);
  });

  it('is symmetric, zero only for equal strings, and bounded by the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(d).toBe(editDistance(b, a));
        expect(d === 0).toBe(a === b);
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
      }),
    );
  });

  it('answers limit + 1 whenever the true distance is over the limit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), fc.nat(4), (a, b, limit) => {
        const exact = editDistance(a, b);
        expect(editDistance(a, b, limit)).toBe(exact > limit ? limit + 1 : exact);
      }),
    );
  });
});
