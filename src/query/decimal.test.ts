import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDecimal } from './decimal.js';

describe('parseDecimal', () => {
  it.each([
    ['5', 5],
    ['-1.5', -1.5],
    ['+2', 2],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['2E-2', 0.02],
    ['1e+21', 1e21],
    ['007', 7],
  ])('reads %j as %d', (text, expected) => {
    expect(parseDecimal(text)).toBe(expected);
  });

  it.each(['', '-', '.', 'e5', '1e', '1e+', ' 5', '5 ', '0x10', 'Infinity', 'NaN', '1_000', '1.2.3', '1e400', '--1', 'five'])('rejects %j', (text) => {
    expect(parseDecimal(text)).toBeNull();
  });

  it("reads every finite number's own text back to the same number", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(parseDecimal(String(n))).toBe(n === 0 ? 0 : n);
      }),
    );
  });

  it('handles a huge digit string followed by garbage in one pass', () => {
    expect(parseDecimal(`${'1'.repeat(1_000_000)}x`)).toBeNull();
  });
});
