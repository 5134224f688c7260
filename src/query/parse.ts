/**
 * Recursive-descent parser: tokens → AST. Precedence NOT (and `-`, `!`) > AND (explicit or
 * implicit) > OR. A parenthesised list after `@field:` is the same boolean grammar over values of
 * that field (`@f:(A OR B)`, `@f:(A B)` = both, `@f:(A -B)`).
 *
 * Expected failures are `Result`s: one `E_QUERY_SYNTAX` diagnostic at the 1-based column of the
 * offending token (line is always 1; columns count from the start of the query text).
 */
import { fail, ok } from '../core/types.js';
import type { Diagnostic, Result } from '../core/types.js';
import { isReservedAttribute, RESERVED_ATTRIBUTES } from './ast.js';
import type { CidrNode, FieldRef, QueryNode, RangeNode } from './ast.js';
import { hasWildcard, isOnlyStars, literalOf, normaliseGlob } from './glob.js';
import type { GlobPart } from './glob.js';
import { parseCidrBlock } from './ip-address.js';
import { syntaxError, tokenize } from './lexer.js';
import type { Token } from './lexer.js';

/** Warning: an attribute written without `@` that is not one of the reserved attributes. */
export const UNPREFIXED_ATTRIBUTE_WARNING = 'W_QUERY_UNPREFIXED_ATTRIBUTE';

/** Where a term is being read: the top level, inside `@field:( … )`, or inside `*:( … )`. */
type Scope = { readonly kind: 'top' } | { readonly kind: 'field'; readonly field: FieldRef } | { readonly kind: 'fulltext' };

const TOP: Scope = { kind: 'top' };
const FULLTEXT: Extract<Scope, { kind: 'fulltext' }> = { kind: 'fulltext' };

/** Unwinds the recursive descent to `parseQuery`, which turns it into a failed Result. */
class SyntaxFailure extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

/** A run of adjacent word / comma (and, in CIDR blocks, colon) tokens read as one value. */
interface Run {
  readonly pattern: GlobPart[];
  readonly first: Token;
  readonly raw: string;
}

function column(t: Token): number {
  return t.start + 1;
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'the end of the query' : `'${t.raw}'`;
}

const ESCAPE_HINT = "escape special characters with a backslash (\\:, \\(, \\>, …) or put the value in double quotes";

class Parser {
  private index = 0;
  readonly warnings: Diagnostic[] = [];

  constructor(private readonly tokens: readonly Token[]) {}

  // ---- token helpers ---------------------------------------------------------------------------

  private peek(offset = 0): Token {
    const t = this.tokens[Math.min(this.index + offset, this.tokens.length - 1)];
    if (t === undefined) throw new Error('token stream without eof'); // tokenize always appends eof
    return t;
  }

  private next(): Token {
    const t = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return t;
  }

  private isKeyword(t: Token, keyword: 'AND' | 'OR' | 'NOT' | 'TO'): boolean {
    if (t.kind !== 'word' || !t.isPlain) return false;
    const text = literalOf(t.pattern);
    if (keyword === 'AND') return text === 'AND' || text === '&&';
    if (keyword === 'OR') return text === 'OR' || text === '||';
    return text === keyword;
  }

  private fail(at: number, message: string, hint?: string): never {
    throw new SyntaxFailure(syntaxError(at, message, hint));
  }

  private unexpected(t: Token): never {
    if (t.kind === 'rparen') this.fail(column(t), `unexpected ')' at column ${column(t)}: no parenthesis is open`);
    if (t.kind === 'eof') this.fail(column(t), 'unexpected end of the query');
    this.fail(column(t), `unexpected ${describe(t)} at column ${column(t)}`, ESCAPE_HINT);
  }

  /** After an operator, the next token must be able to start a term. */
  private expectTerm(after: Token): void {
    const t = this.peek();
    if (t.kind === 'eof' || t.kind === 'rparen' || this.isKeyword(t, 'AND') || this.isKeyword(t, 'OR')) {
      this.fail(column(t), `expected a term after '${after.raw}' at column ${column(t)}, found ${describe(t)}`);
    }
  }

  private startsTerm(t: Token): boolean {
    return t.kind !== 'eof' && t.kind !== 'rparen' && !this.isKeyword(t, 'AND') && !this.isKeyword(t, 'OR');
  }

  // ---- boolean grammar -------------------------------------------------------------------------

  parseQuery(): QueryNode {
    if (this.peek().kind === 'eof') return { kind: 'all', column: 1 };
    const node = this.parseOr(TOP);
    const t = this.peek();
    if (t.kind !== 'eof') this.unexpected(t);
    return node;
  }

  private parseOr(scope: Scope): QueryNode {
    const children = [this.parseAnd(scope)];
    while (this.isKeyword(this.peek(), 'OR')) {
      const operator = this.next();
      this.expectTerm(operator);
      children.push(this.parseAnd(scope));
    }
    return combine('or', children);
  }

  private parseAnd(scope: Scope): QueryNode {
    const children = [this.parseUnary(scope)];
    for (;;) {
      const t = this.peek();
      if (this.isKeyword(t, 'AND')) {
        this.next();
        this.expectTerm(t);
        children.push(this.parseUnary(scope));
      } else if (this.startsTerm(t)) {
        children.push(this.parseUnary(scope));
      } else {
        break;
      }
    }
    return combine('and', children);
  }

  private parseUnary(scope: Scope): QueryNode {
    const t = this.peek();
    if (this.isKeyword(t, 'NOT') || t.kind === 'negate') {
      this.next();
      this.expectTerm(t);
      if (t.kind === 'negate' && this.peek().start !== t.end) {
        this.fail(column(t) + 1, `expected a term right after '${t.raw}' at column ${column(t) + 1}`, `write ${t.raw}term without a space, or use NOT`);
      }
      return { kind: 'not', child: this.parseUnary(scope), column: column(t) };
    }
    return this.parsePrimary(scope);
  }

  private parsePrimary(scope: Scope): QueryNode {
    const t = this.peek();
    if (this.isKeyword(t, 'AND') || this.isKeyword(t, 'OR')) {
      this.fail(column(t), `expected a term before '${t.raw}' at column ${column(t)}`);
    }
    if (t.kind === 'lparen') return this.parseGroup(scope);
    if (scope.kind !== 'top') {
      if (t.kind === 'word' || t.kind === 'comma' || t.kind === 'quoted' || t.kind === 'compare' || t.kind === 'lbracket' || t.kind === 'lbrace') {
        return this.parseValueAtom(scope);
      }
      this.unexpected(t);
    }
    if (t.kind === 'word') {
      const after = this.peek(1);
      if (t.isPlain && literalOf(t.pattern) === 'CIDR' && after.kind === 'lparen' && after.start === t.end) return this.parseCidr();
      if (after.kind === 'colon' && after.start === t.end) return this.parseFieldTerm();
    }
    if (t.kind === 'word' || t.kind === 'comma') {
      const run = this.readRun('value');
      if (isOnlyStars(run.pattern)) return { kind: 'all', column: column(run.first) };
      return { kind: 'text', pattern: run.pattern, isPhrase: false, isWholeValue: false, column: column(run.first) };
    }
    if (t.kind === 'quoted') {
      this.next();
      this.rejectAdjacent(t);
      return { kind: 'text', pattern: t.pattern, isPhrase: true, isWholeValue: false, column: column(t) };
    }
    this.unexpected(t);
  }

  /** `( … )`, closing parenthesis required. */
  private parseGroup(scope: Scope): QueryNode {
    const open = this.next();
    const first = this.peek();
    if (first.kind === 'rparen') this.fail(column(first), `expected a term after '(' at column ${column(first)}, found ')'`);
    if (first.kind === 'eof') this.fail(column(open), `unclosed parenthesis opened at column ${column(open)}`);
    const inner = this.parseOr(scope);
    const close = this.peek();
    if (close.kind === 'eof') this.fail(column(open), `unclosed parenthesis opened at column ${column(open)}`);
    if (close.kind !== 'rparen') this.unexpected(close);
    this.next();
    return inner;
  }

  // ---- terms -----------------------------------------------------------------------------------

  /** `name:value` at the top level; the current token is the name and the next one the colon. */
  private parseFieldTerm(): QueryNode {
    const nameToken = this.next();
    const colon = this.next();
    const scope = this.fieldScope(nameToken);
    const t = this.peek();
    const valueColumn = colon.end + 1;
    if (t.start !== colon.end || t.kind === 'eof' || t.kind === 'rparen' || t.kind === 'negate') {
      this.fail(valueColumn, `expected a value after ':' at column ${valueColumn}`, 'write the value right after the colon, e.g. @eventName:StopInstances, or @field:* for "has a value"');
    }
    if (t.kind === 'lparen') return this.parseGroup(scope);
    return this.parseValueAtom(scope, column(nameToken));
  }

  /** The scope a `name:` token opens: an attribute, a reserved attribute, or full text (`*:`). */
  private fieldScope(nameToken: Token): Exclude<Scope, { kind: 'top' }> {
    const at = column(nameToken);
    if (nameToken.isPlain && nameToken.raw === '*') return FULLTEXT;
    if (hasWildcard(nameToken.pattern)) this.fail(at, `wildcards are not allowed in attribute names ('${nameToken.raw}' at column ${at})`);
    return { kind: 'field', field: this.fieldRef(nameToken) };
  }

  private fieldRef(nameToken: Token): FieldRef {
    const at = column(nameToken);
    const name = literalOf(nameToken.pattern) ?? '';
    const isAttribute = name.startsWith('@');
    const path = isAttribute ? name.slice(1) : name;
    if (path === '' || path.split('.').some((segment) => segment === '')) {
      this.fail(at, `invalid attribute name '${nameToken.raw}' at column ${at}`, 'attribute paths are dot-separated names, e.g. @requestParameters.instanceId');
    }
    if (isAttribute) return { path, written: name, isReserved: false };
    if (isReservedAttribute(path)) return { path, written: name, isReserved: true };
    this.warnings.push({
      code: UNPREFIXED_ATTRIBUTE_WARNING,
      severity: 'warning',
      message: `'${name}' at column ${at} is read as the attribute @${name}`,
      position: { line: 1, column: at },
      hint: `only ${RESERVED_ATTRIBUTES.join(', ')} are written without '@'; write @${name} (tags are not supported)`,
    });
    return { path, written: `@${path}`, isReserved: false };
  }

  /** One value inside a field scope: phrase, comparison, range, wildcard pattern or exact text. */
  private parseValueAtom(scope: Exclude<Scope, { kind: 'top' }>, termColumn?: number): QueryNode {
    const t = this.peek();
    const at = termColumn ?? column(t);
    if (t.kind === 'quoted') {
      this.next();
      this.rejectAdjacent(t);
      if (scope.kind === 'fulltext') return { kind: 'text', pattern: t.pattern, isPhrase: true, isWholeValue: true, column: at };
      return { kind: 'term', field: scope.field, pattern: t.pattern, isPhrase: true, column: at };
    }
    if (t.kind === 'compare' || t.kind === 'lbracket' || t.kind === 'lbrace') {
      if (scope.kind === 'fulltext') this.fail(column(t), `comparisons and ranges need an attribute, not '*:' (column ${column(t)})`);
      return t.kind === 'compare' ? this.parseComparison(scope.field, at) : this.parseRange(scope.field, at);
    }
    if (t.kind !== 'word' && t.kind !== 'comma') this.unexpected(t);
    const run = this.readRun('value');
    if (scope.kind === 'fulltext') {
      if (isOnlyStars(run.pattern)) return { kind: 'all', column: at };
      return { kind: 'text', pattern: run.pattern, isPhrase: false, isWholeValue: true, column: at };
    }
    if (isOnlyStars(run.pattern)) return { kind: 'exists', field: scope.field, column: at };
    return { kind: 'term', field: scope.field, pattern: run.pattern, isPhrase: false, column: at };
  }

  private parseComparison(field: FieldRef, termColumn: number): QueryNode {
    const op = this.next();
    const t = this.peek();
    const expectedAt = op.end + 1;
    if (t.start !== op.end || (t.kind !== 'word' && t.kind !== 'comma')) {
      this.fail(expectedAt, `expected a value after '${op.raw}' at column ${expectedAt}`, 'write the bound right after the operator, e.g. @http.status_code:>=400');
    }
    const run = this.readRun('value');
    const bound = literalOf(run.pattern);
    if (bound === null) this.fail(column(run.first), `wildcards are not allowed in a comparison ('${run.raw}' at column ${column(run.first)})`);
    return { kind: 'compare', field, operator: op.operator ?? '>', bound, column: termColumn };
  }

  private parseRange(field: FieldRef, termColumn: number): RangeNode {
    const open = this.next();
    const lower = this.readBound(open);
    const to = this.peek();
    if (!this.isKeyword(to, 'TO')) {
      if (to.kind === 'eof') this.fail(column(open), `unclosed range opened at column ${column(open)}`);
      this.fail(column(to), `expected 'TO' at column ${column(to)} in the range opened at column ${column(open)}, found ${describe(to)}`, 'write ranges as [low TO high] or {low TO high}');
    }
    this.next();
    const upper = this.readBound(open);
    const close = this.peek();
    if (close.kind === 'eof') this.fail(column(open), `unclosed range opened at column ${column(open)}`);
    if (close.kind !== 'rbracket' && close.kind !== 'rbrace') {
      this.fail(column(close), `expected ']' or '}' at column ${column(close)} to close the range opened at column ${column(open)}, found ${describe(close)}`);
    }
    this.next();
    this.rejectAdjacent(close);
    return {
      kind: 'range',
      field,
      lower,
      upper,
      isLowerInclusive: open.kind === 'lbracket',
      isUpperInclusive: close.kind === 'rbracket',
      column: termColumn,
    };
  }

  /** A range bound: a value, `-value`, a phrase, or `*` (open end → null). */
  private readBound(open: Token): string | null {
    const t = this.peek();
    if (t.kind === 'quoted') {
      this.next();
      return literalOf(t.pattern) ?? '';
    }
    let sign = '';
    if (t.kind === 'negate' && t.raw === '-' && this.peek(1).start === t.end && this.peek(1).kind === 'word') {
      this.next();
      sign = '-';
    } else if (t.kind !== 'word' && t.kind !== 'comma') {
      if (t.kind === 'eof') this.fail(column(open), `unclosed range opened at column ${column(open)}`);
      this.fail(column(t), `expected a range bound at column ${column(t)} in the range opened at column ${column(open)}, found ${describe(t)}`);
    }
    const run = this.readRun('value');
    if (sign === '' && isOnlyStars(run.pattern)) return null;
    const text = literalOf(run.pattern);
    if (text === null) this.fail(column(run.first), `wildcards are not allowed in a range bound ('${run.raw}' at column ${column(run.first)})`);
    return sign + text;
  }

  /** `CIDR(@field, block, …)`; the current token is the `CIDR` word. */
  private parseCidr(): CidrNode {
    const cidr = this.next();
    const open = this.next();
    const fieldToken = this.peek();
    if (fieldToken.kind === 'eof') this.fail(column(open), `unclosed parenthesis opened at column ${column(open)}`);
    const name = fieldToken.kind === 'word' ? literalOf(fieldToken.pattern) : null;
    if (name === null || !(name.startsWith('@') || isReservedAttribute(name))) {
      this.fail(column(fieldToken), `expected an attribute as the first argument of CIDR() at column ${column(fieldToken)}, found ${describe(fieldToken)}`, 'write CIDR(@network.client.ip, 10.0.0.0/8)');
    }
    this.next();
    const field = this.fieldRef(fieldToken);
    const blocks: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'rparen') {
        if (blocks.length === 0) this.fail(column(t), `CIDR() needs at least one block after the attribute (column ${column(t)})`, 'write CIDR(@network.client.ip, 10.0.0.0/8)');
        this.next();
        this.rejectAdjacent(t);
        return { kind: 'cidr', field, blocks, column: column(cidr) };
      }
      if (t.kind === 'eof') this.fail(column(open), `unclosed parenthesis opened at column ${column(open)}`);
      if (t.kind !== 'comma') this.fail(column(t), `expected ',' or ')' at column ${column(t)} in CIDR() opened at column ${column(open)}, found ${describe(t)}`);
      this.next();
      const first = this.peek();
      if (first.kind !== 'word' && first.kind !== 'colon') {
        if (first.kind === 'eof') this.fail(column(open), `unclosed parenthesis opened at column ${column(open)}`);
        this.fail(column(first), `expected a CIDR block at column ${column(first)}, found ${describe(first)}`);
      }
      const run = this.readRun('cidr');
      const text = literalOf(run.pattern);
      if (text === null || parseCidrBlock(text) === null) {
        this.fail(column(run.first), `invalid CIDR block '${run.raw}' at column ${column(run.first)}`, 'write an IPv4 or IPv6 network such as 10.0.0.0/8 or 2001:db8::/32');
      }
      blocks.push(text);
    }
  }

  // ---- values ----------------------------------------------------------------------------------

  /**
   * Reads adjacent word and comma tokens (word and colon tokens in CIDR blocks) as one value. An unescaped
   * special character glued to the value is an error rather than a silent new term.
   */
  private readRun(mode: 'value' | 'cidr'): Run {
    const first = this.next();
    const pieces: GlobPart[] = [...(first.kind === 'word' ? first.pattern : literalPart(first.raw))];
    let raw = first.raw;
    let last = first;
    for (;;) {
      const t = this.peek();
      if (t.start !== last.end) break;
      if (t.kind === 'word') pieces.push(...t.pattern);
      else if (t.kind === (mode === 'value' ? 'comma' : 'colon')) pieces.push(...literalPart(t.raw));
      else break;
      raw += t.raw;
      last = this.next();
    }
    this.rejectAdjacent(last);
    return { pattern: normaliseGlob(pieces), first, raw };
  }

  /** A value, phrase or closing bracket may not be glued to a special character. */
  private rejectAdjacent(last: Token): void {
    const t = this.peek();
    if (t.start !== last.end) return;
    if (t.kind === 'colon' || t.kind === 'compare' || t.kind === 'lbracket' || t.kind === 'lbrace' || t.kind === 'quoted' || t.kind === 'lparen' || t.kind === 'word') {
      this.fail(column(t), `unexpected ${describe(t)} at column ${column(t)}`, ESCAPE_HINT);
    }
  }
}

function literalPart(text: string): GlobPart[] {
  return [{ kind: 'literal', text }];
}

function combine(kind: 'and' | 'or', children: QueryNode[]): QueryNode {
  const first = children[0];
  if (children.length === 1 && first) return first;
  const flat = children.flatMap((child) => ((child.kind === 'and' || child.kind === 'or') && child.kind === kind ? child.children : [child]));
  return { kind, children: flat, column: first?.column ?? 1 };
}

/** Parses Datadog log-search syntax. Warnings (e.g. an unprefixed attribute) come with a successful result. */
export function parseQuery(text: string): Result<QueryNode> {
  const lexed = tokenize(text);
  if (!lexed.ok) return fail(lexed.diagnostics);
  const parser = new Parser(lexed.value);
  try {
    const node = parser.parseQuery();
    return ok(node, parser.warnings);
  } catch (error) {
    if (error instanceof SyntaxFailure) return fail([error.diagnostic]);
    throw error;
  }
}
