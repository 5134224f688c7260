import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raw, shellCommand, shellQuote } from './shell-quote.js';

/** What bash makes of `word`: the single argument it passes to printf, as bytes back in UTF-16. */
function bashReads(word: string): string {
  return execFileSync('bash', ['-c', `printf '%s' ${word}`], { encoding: 'utf8' });
}

describe('shellQuote', () => {
  it.each([
    ['christophe', 'christophe'],
    ['i-DDd6c7B0e18F0E35f', 'i-DDd6c7B0e18F0E35f'],
    ['arn:aws:iam::309303190113:user/christophe', 'arn:aws:iam::309303190113:user/christophe'],
    ['file://good-user-data.b64', 'file://good-user-data.b64'],
    ['a b', `'a b'`],
    ['$(touch pwned)', `'$(touch pwned)'`],
    ["it's", `'it'\\''s'`],
    ['`id`', "'`id`'"],
    ['', `''`],
    ['line1\nline2', `$'line1\\x0aline2'`],
    ["esc\u001b[31m'x", `$'esc\\x1b[31m\\'x'`],
    ['bidi\u202eevil', `$'bidi\\xe2\\x80\\xaeevil'`],
  ])('quotes %j as %s', (value, expected) => {
    expect(shellQuote(value)).toBe(expected);
  });

  it.each([
    ['a session name with a command substitution', 'sess$(touch /tmp/x)`id`'],
    ['quotes of both kinds', `it's a "test"`],
    ['a newline that would start a new command', 'x\nrm -rf ~'],
    ['a terminal escape', 'a\u001b]0;title\u0007b'],
    ['backslashes', 'a\\b\\\\c\\'],
    ['globs and variables', '* $HOME ${PATH} ~ !x'],
  ])('bash reads back %s exactly', (_name, value) => {
    expect(bashReads(shellQuote(value))).toBe(value);
  });

  it('bash reads back any string without NUL exactly, and the quoted form has no control character', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000')),
        (value) => {
          const quoted = shellQuote(value);
          // eslint-disable-next-line no-control-regex
          expect(quoted).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
          expect(bashReads(quoted)).toBe(value);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('shellCommand', () => {
  it('quotes values and keeps raw shell syntax', () => {
    expect(shellCommand(['aws', 'iam', 'list-access-keys', '--user-name', "o'brien", raw('>'), 'keys.json'])).toBe(`aws iam list-access-keys --user-name 'o'\\''brien' > keys.json`);
  });
});
