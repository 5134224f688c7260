/**
 * Tokens of Datadog's log-search syntax. The lexer knows characters, not grammar: it splits the
 * text at whitespace and at the special characters below, resolves backslash escapes and records
 * which `*` / `?` are wildcards. The parser decides what a run of adjacent tokens means.
 *
 * Special (unescaped) characters: whitespace `( ) " : [ ] { } , < >` and `\`. `>=` / `<=` are one
 * token. `-` and `!` at the start of a term (start of text, after whitespace or `(`) negate;
 * anywhere else they are ordinary characters (`us-east-1`, `@f:-5`). Quoted text keeps every
 * character literally except `\"` and `\\`-style escapes; wildcards inside quotes are literal.
 */
import { fail, ok } from '../core/types.js';
import type { Diagnostic, Result } from '../core/types.js';
import { globLiteral, normaliseGlob } from './glob.js';
import type { GlobPart } from './glob.js';

export const QUERY_SYNTAX_ERROR = 'E_QUERY_SYNTAX';

export type TokenKind =
  | 'word'
  | 'quoted'
  | 'lparen'
  | 'rparen'
  | 'lbracket'
  | 'rbracket'
  | 'lbrace'
  | 'rbrace'
  | 'colon'
  | 'comma'
  | 'compare'
  | 'negate'
  | 'eof';

export type CompareOperator = '>' | '>=' | '<' | '<=';

export interface Token {
  readonly kind: TokenKind;
  /** Offset of the first character (0-based, UTF-16 code units). Column is `start + 1`. */
  readonly start: number;
  /** Offset just past the token. Two tokens are adjacent when `a.end === b.start`. */
  readonly end: number;
  /** The token's text as written (escapes and quotes included). */
  readonly raw: string;
  /** `word` / `quoted`: the value with escapes resolved and wildcards marked. Empty otherwise. */
  readonly pattern: readonly GlobPart[];
  /** `word` only: true when written without any backslash (candidate for `AND`, `OR`, `NOT`, `TO`, `CIDR`). */
  readonly isPlain: boolean;
  /** `compare` only. */
  readonly operator?: CompareOperator;
}

const SINGLE: Readonly<Record<string, TokenKind>> = {
  '(': 'lparen',
  ')': 'rparen',
  '[': 'lbracket',
  ']': 'rbracket',
  '{': 'lbrace',
  '}': 'rbrace',
  ':': 'colon',
  ',': 'comma',
};

export function isQuerySpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
}

function isSpecial(c: string): boolean {
  return isQuerySpace(c) || c in SINGLE || c === '"' || c === '<' || c === '>' || c === '\\';
}

export function syntaxError(column: number, message: string, hint?: string): Diagnostic {
  return {
    code: QUERY_SYNTAX_ERROR,
    severity: 'error',
    message,
    position: { line: 1, column },
    ...(hint === undefined ? {} : { hint }),
  };
}

function token(kind: TokenKind, text: string, start: number, end: number, extra: Partial<Token> = {}): Token {
  return { kind, start, end, raw: text.slice(start, end), pattern: [], isPlain: false, ...extra };
}

/** Splits query text into tokens, ending with one `eof` token. */
export function tokenize(text: string): Result<Token[]> {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] ?? '';
    if (isQuerySpace(c)) {
      i++;
      continue;
    }
    const kind = SINGLE[c];
    if (kind !== undefined) {
      tokens.push(token(kind, text, i, i + 1));
      i++;
      continue;
    }
    if (c === '<' || c === '>') {
      const isInclusive = text[i + 1] === '=';
      const end = isInclusive ? i + 2 : i + 1;
      const operator: CompareOperator = isInclusive ? `${c}=` : c;
      tokens.push(token('compare', text, i, end, { operator }));
      i = end;
      continue;
    }
    if ((c === '-' || c === '!') && isTermStart(text, i)) {
      tokens.push(token('negate', text, i, i + 1));
      i++;
      continue;
    }
    if (c === '"') {
      const quoted = readQuoted(text, i);
      if (!quoted.ok) return quoted;
      tokens.push(quoted.value);
      i = quoted.value.end;
      continue;
    }
    const word = readWord(text, i);
    if (!word.ok) return word;
    tokens.push(word.value);
    i = word.value.end;
  }
  tokens.push(token('eof', text, n, n));
  return ok(tokens);
}

/** `-` / `!` negate at the start of the text, after whitespace or after `(`. */
function isTermStart(text: string, at: number): boolean {
  if (at === 0) return true;
  const before = text[at - 1];
  return isQuerySpace(before) || before === '(';
}

function readQuoted(text: string, start: number): Result<Token> {
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') return ok(token('quoted', text, start, i + 1, { pattern: globLiteral(value) }));
    if (c === '\\') {
      if (i + 1 >= text.length) break;
      value += text[i + 1];
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  return fail([syntaxError(start + 1, `unclosed quote opened at column ${start + 1}`, 'close the phrase with a double quote, or escape the quote as \\"')]);
}

function readWord(text: string, start: number): Result<Token> {
  const parts: GlobPart[] = [];
  let literal = '';
  let isPlain = true;
  let i = start;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === '\\') {
      if (i + 1 >= text.length) {
        return fail([syntaxError(i + 1, `nothing to escape after '\\' at column ${i + 1}`, 'write \\\\ for a literal backslash')]);
      }
      isPlain = false;
      literal += text[i + 1];
      i += 2;
      continue;
    }
    if (isSpecial(c)) break;
    if (c === '*' || c === '?') {
      if (literal !== '') parts.push({ kind: 'literal', text: literal });
      literal = '';
      parts.push(c === '*' ? { kind: 'star' } : { kind: 'one' });
    } else {
      literal += c;
    }
    i++;
  }
  if (literal !== '') parts.push({ kind: 'literal', text: literal });
  return ok(token('word', text, start, i, { pattern: normaliseGlob(parts), isPlain }));
}

const ESCAPED_IN_VALUES = new Set(['(', ')', '[', ']', '{', '}', ':', ',', '<', '>', '"', '\\', '*', '?', '-', '!']);

/**
 * Escapes a value so that `@field:` followed by the result matches exactly `value` (no wildcards).
 * The empty string becomes `""`.
 */
export function escapeQueryValue(value: string): string {
  if (value === '') return '""';
  let out = '';
  for (const c of value) out += ESCAPED_IN_VALUES.has(c) || isQuerySpace(c) ? `\\${c}` : c;
  return out;
}
