import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob, globFromText, hasWildcard, isOnlyStars, literalOf, literalRuns, lowerGlob, normaliseGlob, renderGlob } from './glob.js';
import type { GlobPart } from './glob.js';

/** Reference: dynamic programming over (pattern position, subject position); obviously correct, O(n·m). */
function referenceMatch(pattern: string, subject: string): boolean {
  const m = pattern.length;
  const n = subject.length;
  let row: boolean[] = Array.from({ length: n + 1 }, (_, j) => j === 0);
  for (let i = 1; i <= m; i++) {
    const p = pattern[i - 1];
    const next: boolean[] = Array.from({ length: n + 1 }, () => false);
    next[0] = p === '*' && row[0] === true;
    for (let j = 1; j <= n; j++) {
      if (p === '*') next[j] = row[j] === true || next[j - 1] === true;
      else next[j] = row[j - 1] === true && (p === '?' || p === subject[j - 1]);
    }
    row = next;
  }
  return row[n] === true;
}

const matches = (pattern: string, subject: string): boolean => compileGlob(globFromText(pattern))(subject);

describe('compileGlob', () => {
  it.each([
    ['Stop*', 'StopInstances', true],
    ['Stop*', 'StartInstances', false],
    ['*Instances', 'StopInstances', true],
    ['*Instances', 'StopInstance', false],
    ['St?p*', 'StopInstances', true],
    ['St?p*', 'Stp', false],
    ['*top*', 'StopInstances', true],
    ['*xyz*', 'StopInstances', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['?', '', false],
    ['??', 'ab', true],
    ['a?c', 'abc', true],
    ['a?c', 'abbc', false],
    ['*?', '', false],
    ['*a?b*', 'xxaxbyy', true],
    ['*a?b*', 'xxabyy', false],
    ['i-*', 'i-DDd6c7B0e18F0E35f', true],
  ])('pattern %j against %j gives %s', (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected);
  });

  it.each([
    ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(200_000), false],
    ['*a*a*a*a*a*a*a*a*b', `${'a'.repeat(200_000)}b`, true],
    ['*?a*?a*?a*?a*?a*?b*', 'a'.repeat(200_000), false],
    ['*aaaaaaaaaaaaaaaaaaab*', 'a'.repeat(200_000), false],
  ])('a pathological pattern %j runs without backtracking blow-up (expected %s)', (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected);
  });

  it('agrees with a reference implementation on random patterns and subjects', () => {
    const patternChar = fc.constantFrom('a', 'b', '*', '?');
    const subjectChar = fc.constantFrom('a', 'b', 'c');
    fc.assert(
      fc.property(fc.string({ unit: patternChar, maxLength: 10 }), fc.string({ unit: subjectChar, maxLength: 14 }), (pattern, subject) => {
        expect(matches(pattern, subject)).toBe(referenceMatch(pattern, subject));
      }),
      { numRuns: 3000 },
    );
  });

  it('is case-sensitive; lower-casing both sides makes it insensitive', () => {
    const parts = globFromText('Stop*');
    expect(compileGlob(parts)('stopinstances')).toBe(false);
    expect(compileGlob(lowerGlob(parts))('StopInstances'.toLowerCase())).toBe(true);
  });
});

describe('pattern helpers', () => {
  const literal = (text: string): GlobPart => ({ kind: 'literal', text });
  it.each<[string, GlobPart[], GlobPart[]]>([
    ['merges adjacent literals', [literal('a'), literal('b')], [literal('ab')]],
    ['collapses runs of stars', [{ kind: 'star' }, { kind: 'star' }, literal('x')], [{ kind: 'star' }, literal('x')]],
    ['drops empty literals', [literal(''), { kind: 'one' }], [{ kind: 'one' }]],
  ])('normaliseGlob %s', (_name, input, expected) => {
    expect(normaliseGlob(input)).toEqual(expected);
  });

  it.each([
    ['abc', false, false, 'abc', ['abc']],
    ['a*c', true, false, null, ['a', 'c']],
    ['**', true, true, null, []],
    ['a?', true, false, null, ['a']],
    ['', false, false, '', []],
  ])('%j: wildcard %s, only stars %s, literal %j, runs %j', (text, wildcard, onlyStars, literalText, runs) => {
    const parts = globFromText(text);
    expect(hasWildcard(parts)).toBe(wildcard);
    expect(isOnlyStars(parts)).toBe(onlyStars);
    expect(literalOf(parts)).toBe(literalText);
    expect(literalRuns(parts)).toEqual(runs);
  });

  it('renders wildcards bare and literals through the escaper', () => {
    expect(renderGlob(globFromText('a*b?'), (t) => `<${t}>`)).toBe('<a>*<b>?');
  });
});
