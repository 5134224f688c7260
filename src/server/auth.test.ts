import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerToken, createSecretCheck } from './auth.js';

describe('secret check', () => {
  const check = createSecretCheck(['current-secret-0123456789', 'previous-secret-0123456789']);

  it.each([
    ['the current secret', 'current-secret-0123456789', true],
    ['the previous secret, while it is rotated out', 'previous-secret-0123456789', true],
    ['a prefix of a secret', 'current-secret-012345678', false],
    ['a secret with a character appended', 'current-secret-01234567890', false],
    ['a secret in another case', 'CURRENT-SECRET-0123456789', false],
    ['an empty string', '', false],
    ['nothing at all', undefined, false],
  ])('%s is accepted: %s', (_name, presented, isAccepted) => {
    expect(check(presented)).toBe(isAccepted);
  });

  it('with no secret configured, nothing is accepted', () => {
    const none = createSecretCheck([]);
    fc.assert(fc.property(fc.string(), (s) => !none(s)));
  });

  it('accepts exactly the configured secrets, whatever their content and length', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }), fc.string({ maxLength: 300 }), (secrets, other) => {
        const c = createSecretCheck(secrets);
        expect(secrets.every((s) => c(s))).toBe(true);
        expect(c(other)).toBe(secrets.includes(other));
      }),
    );
  });
});

describe('bearer token', () => {
  it.each([
    ['Bearer abc.def-123', 'abc.def-123'],
    ['bearer abc', 'abc'],
    ['BEARER   abc  ', 'abc'],
    ['Basic YWJjOmRlZg==', undefined],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Bearer two words', undefined],
    ['Bearerabc', undefined],
    [undefined, undefined],
  ])('%j gives %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});
