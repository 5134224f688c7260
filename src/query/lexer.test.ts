import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileQueryOrThrow } from './compile.js';
import { literalOf } from './glob.js';
import { escapeQueryValue, tokenize } from './lexer.js';
import type { Token } from './lexer.js';
import { parseQuery } from './parse.js';

function tokensOf(text: string): Token[] {
  const result = tokenize(text);
  if (!result.ok) throw new Error(`tokenize failed: ${JSON.stringify(result.diagnostics)}`);
  return result.value;
}

const kinds = (text: string): string[] => tokensOf(text).map((t) => t.kind);

describe('tokenize', () => {
  it.each([
    ['@eventName:StopInstances', ['word', 'colon', 'word', 'eof']],
    ['a AND (b OR c)', ['word', 'word', 'lparen', 'word', 'word', 'word', 'rparen', 'eof']],
    ['@f:>=5', ['word', 'colon', 'compare', 'word', 'eof']],
    ['@f:[1 TO 5}', ['word', 'colon', 'lbracket', 'word', 'word', 'word', 'rbrace', 'eof']],
    ['CIDR(@f, 10.0.0.0/8)', ['word', 'lparen', 'word', 'comma', 'word', 'rparen', 'eof']],
    ['-@f:x', ['negate', 'word', 'colon', 'word', 'eof']],
    ['!@f:x', ['negate', 'word', 'colon', 'word', 'eof']],
    ['(-a)', ['lparen', 'negate', 'word', 'rparen', 'eof']],
    ['us-east-1', ['word', 'eof']],
    ['@f:-5', ['word', 'colon', 'word', 'eof']],
    ['"a b" c', ['quoted', 'word', 'eof']],
    ['  \t\n ', ['eof']],
  ])('splits %j into %j', (text, expected) => {
    expect(kinds(text)).toEqual(expected);
  });

  it.each([
    ['hello\\:world', 'hello:world'],
    ['a\\ b', 'a b'],
    ['\\(x\\)', '(x)'],
    ['\\*', '*'],
    ['\\"q\\"', '"q"'],
    ['\\-x', '-x'],
    ['a\\\\b', 'a\\b'],
    ['\\>5', '>5'],
  ])('resolves the escapes in %j to %j', (text, value) => {
    const [first, second] = tokensOf(text);
    expect(first?.kind).toBe('word');
    expect(literalOf(first?.pattern ?? [])).toBe(value);
    expect(first?.isPlain).toBe(false);
    expect(second?.kind).toBe('eof');
  });

  it.each([
    ['"a*b?"', 'a*b?'],
    ['"say \\"hi\\""', 'say "hi"'],
    ['"a:b (c)"', 'a:b (c)'],
  ])('keeps everything literal inside the quotes of %j', (text, value) => {
    const [first] = tokensOf(text);
    expect(first?.kind).toBe('quoted');
    expect(literalOf(first?.pattern ?? [])).toBe(value);
  });

  it('marks unescaped * and ? as wildcards and escaped ones as literals', () => {
    const [first] = tokensOf('a*b\\*c?');
    expect(first?.pattern).toEqual([
      { kind: 'literal', text: 'a' },
      { kind: 'star' },
      { kind: 'literal', text: 'b*c' },
      { kind: 'one' },
    ]);
  });

  it('records the operator of a comparison token', () => {
    expect(tokensOf('@f:<=5').map((t) => t.operator ?? null)).toEqual([null, null, '<=', null, null]);
  });

  it.each([
    ['"abc', 1, 'unclosed quote opened at column 1'],
    ['@f:"abc', 4, 'unclosed quote opened at column 4'],
    ['abc\\', 4, "nothing to escape after '\\' at column 4"],
  ])('reports %j at column %i', (text, column, message) => {
    const result = tokenize(text);
    expect(result.ok).toBe(false);
    expect(result.diagnostics[0]).toMatchObject({ code: 'E_QUERY_SYNTAX', message, position: { line: 1, column } });
  });
});

describe('escapeQueryValue', () => {
  it.each([
    ['arn:aws:iam::123456789012:user/christophe', 'arn\\:aws\\:iam\\:\\:123456789012\\:user/christophe'],
    ['a b', 'a\\ b'],
    ['', '""'],
    ['*', '\\*'],
  ])('escapes %j as %j', (value, escaped) => {
    expect(escapeQueryValue(value)).toBe(escaped);
  });

  it('round-trips any string: @f:<escaped> is an exact term that matches exactly that value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 20 }), fc.string({ maxLength: 5 }), (value, other) => {
        const text = `@f:${escapeQueryValue(value)}`;
        const parsed = parseQuery(text);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(parsed.value.kind).toBe('term');
        if (parsed.value.kind === 'term') expect(literalOf(parsed.value.pattern)).toBe(value);
        const query = compileQueryOrThrow(text);
        expect(query.matches({ f: value })).toBe(true);
        expect(query.matches({ f: value + other })).toBe(other === '');
      }),
      { numRuns: 500 },
    );
  });
});
