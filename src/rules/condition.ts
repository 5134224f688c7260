/**
 * Case conditions: `stop_instance > 0 && (modify > 0 || start >= 2)`.
 *
 * Grammar (hand-written recursive descent, compiled to closures; nothing is ever evaluated as code):
 *
 *   condition  := or
 *   or         := and ( '||' and )*
 *   and        := primary ( '&&' primary )*
 *   primary    := '(' or ')' | comparison
 *   comparison := QUERY_NAME OPERATOR NUMBER
 *
 * As in Datadog, the query name comes first (`a > 3`, never `3 < a`) and `&&` binds tighter than
 * `||`. Datadog documents `>` and `>=`; `<`, `<=`, `==` and `!=` are accepted too, with a
 * W_CONDITION_NOT_PORTABLE warning. A count of a query the event window has not seen is 0.
 */
import type { Diagnostic, Result, SourcePosition } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import type { CompiledCondition } from './model.js';
import { positionInText } from './position.js';
import { closestName } from './suggest.js';

export const CONDITION_OPERATORS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];
/** The operators Datadog documents for rule cases. */
export const DATADOG_CONDITION_OPERATORS: ReadonlySet<ConditionOperator> = new Set(['>', '>=']);

/** Deeper nesting than this is refused rather than risking the stack. */
const MAX_DEPTH = 64;

type TokenKind = 'name' | 'number' | 'operator' | 'and' | 'or' | 'open' | 'close' | 'end';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Offset in the condition text. */
  readonly offset: number;
}

type ConditionNode =
  | { readonly kind: 'compare'; readonly query: string; readonly operator: ConditionOperator; readonly value: number }
  | { readonly kind: 'and' | 'or'; readonly left: ConditionNode; readonly right: ConditionNode };

type Counts = Readonly<Record<string, number>>;
type Predicate = (counts: Counts) => boolean;

class ConditionError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly offset: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function isNameStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function show(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, '0')}` : c;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const start = i;
    if (isNameStart(c)) {
      while (i < text.length && (isNameStart(text.charAt(i)) || isDigit(text.charAt(i)))) i++;
      tokens.push({ kind: 'name', text: text.slice(start, i), offset: start });
      continue;
    }
    if (isDigit(c)) {
      while (i < text.length && isDigit(text.charAt(i))) i++;
      if (text.charAt(i) === '.' && isDigit(text.charAt(i + 1))) {
        i++;
        while (i < text.length && isDigit(text.charAt(i))) i++;
      }
      if (isNameStart(text.charAt(i))) {
        throw new ConditionError('E_CONDITION_SYNTAX', `unexpected '${show(text.charAt(i))}' in the number at column ${start + 1}`, i, 'numbers are written as 3 or 0.5');
      }
      tokens.push({ kind: 'number', text: text.slice(start, i), offset: start });
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      tokens.push({ kind: two === '&&' ? 'and' : 'or', text: two, offset: start });
      i += 2;
      continue;
    }
    if (two === '>=' || two === '<=' || two === '==' || two === '!=') {
      tokens.push({ kind: 'operator', text: two, offset: start });
      i += 2;
      continue;
    }
    if (c === '>' || c === '<') {
      tokens.push({ kind: 'operator', text: c, offset: start });
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'open' : 'close', text: c, offset: start });
      i++;
      continue;
    }
    const hints: Record<string, string> = { '&': 'write && for "and"', '|': 'write || for "or"', '=': 'write == to compare for equality', '!': 'negation is not supported; compare with a number instead (a == 0)' };
    throw new ConditionError('E_CONDITION_SYNTAX', `unexpected character '${show(c)}' at column ${start + 1}`, start, hints[c] ?? 'a condition uses query names, numbers, > >= < <= == !=, &&, || and parentheses');
  }
  tokens.push({ kind: 'end', text: '', offset: text.length });
  return tokens;
}

class Parser {
  private index = 0;
  readonly names: { readonly name: string; readonly offset: number }[] = [];
  readonly operators: { readonly operator: ConditionOperator; readonly offset: number }[] = [];

  constructor(private readonly tokens: readonly Token[]) {}

  private peek(): Token {
    return this.tokens[this.index] ?? { kind: 'end', text: '', offset: 0 };
  }

  private next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return token;
  }

  parse(): ConditionNode {
    const node = this.or(0);
    const token = this.peek();
    if (token.kind === 'close') throw new ConditionError('E_CONDITION_SYNTAX', `unexpected ')' at column ${token.offset + 1}: no parenthesis is open`, token.offset);
    if (token.kind !== 'end') this.unexpectedAfterComparison(token);
    return node;
  }

  private unexpectedAfterComparison(token: Token): never {
    if (token.kind === 'name' && token.text.toLowerCase() === 'then') {
      throw new ConditionError('E_RULE_UNSUPPORTED', `the 'then' operator at column ${token.offset + 1} (one query and then another) is not supported yet`, token.offset, 'use && to require both queries within the evaluation window, or a sequence_detection rule when their order matters (docs/rule-format.md)');
    }
    if (token.kind === 'name' && (token.text === 'and' || token.text === 'AND' || token.text === 'or' || token.text === 'OR')) {
      throw new ConditionError('E_CONDITION_SYNTAX', `'${token.text}' at column ${token.offset + 1} is not an operator`, token.offset, `write ${token.text.toLowerCase() === 'and' ? '&&' : '||'} instead`);
    }
    throw new ConditionError('E_CONDITION_SYNTAX', `expected && or || at column ${token.offset + 1}, found '${token.text}'`, token.offset);
  }

  private or(depth: number): ConditionNode {
    let left = this.and(depth);
    while (this.peek().kind === 'or') {
      this.next();
      left = { kind: 'or', left, right: this.and(depth) };
    }
    return left;
  }

  private and(depth: number): ConditionNode {
    let left = this.primary(depth);
    while (this.peek().kind === 'and') {
      this.next();
      left = { kind: 'and', left, right: this.primary(depth) };
    }
    return left;
  }

  private primary(depth: number): ConditionNode {
    const token = this.next();
    if (token.kind === 'open') {
      if (depth >= MAX_DEPTH) throw new ConditionError('E_CONDITION_SYNTAX', `parentheses nested deeper than ${MAX_DEPTH} at column ${token.offset + 1}`, token.offset);
      const inner = this.or(depth + 1);
      const close = this.next();
      if (close.kind !== 'close') {
        if (close.kind === 'end') throw new ConditionError('E_CONDITION_SYNTAX', `unclosed parenthesis opened at column ${token.offset + 1}`, token.offset, 'add the missing )');
        this.unexpectedAfterComparison(close);
      }
      return inner;
    }
    if (token.kind === 'number') {
      throw new ConditionError('E_CONDITION_SYNTAX', `expected a query name at column ${token.offset + 1}, found the number ${token.text}`, token.offset, 'the query name comes first, as in Datadog: write `a > 3`, not `3 < a`');
    }
    if (token.kind !== 'name') {
      const found = token.kind === 'end' ? 'the end of the condition' : `'${token.text}'`;
      throw new ConditionError('E_CONDITION_SYNTAX', `expected a query name at column ${token.offset + 1}, found ${found}`, token.offset, 'a comparison looks like `a > 0`');
    }
    this.names.push({ name: token.text, offset: token.offset });
    const operator = this.next();
    if (operator.kind !== 'operator') {
      throw new ConditionError('E_CONDITION_SYNTAX', `expected a comparison operator after '${token.text}' at column ${operator.offset + 1}`, operator.offset, `compare the count with a number: \`${token.text} > 0\``);
    }
    const op = operator.text as ConditionOperator;
    this.operators.push({ operator: op, offset: operator.offset });
    const value = this.next();
    if (value.kind !== 'number') {
      const hint = value.kind === 'name' ? 'a query count is compared with a number; comparing two queries is not supported' : undefined;
      throw new ConditionError('E_CONDITION_SYNTAX', `expected a number after '${op}' at column ${value.offset + 1}`, value.offset, hint);
    }
    return { kind: 'compare', query: token.text, operator: op, value: Number(value.text) };
  }
}

function countOf(counts: Counts, query: string): number {
  if (!Object.prototype.hasOwnProperty.call(counts, query)) return 0;
  const value = counts[query];
  return typeof value === 'number' ? value : 0;
}

function compileNode(node: ConditionNode): Predicate {
  switch (node.kind) {
    case 'and': {
      const left = compileNode(node.left);
      const right = compileNode(node.right);
      return (counts) => left(counts) && right(counts);
    }
    case 'or': {
      const left = compileNode(node.left);
      const right = compileNode(node.right);
      return (counts) => left(counts) || right(counts);
    }
    case 'compare': {
      const { query, value } = node;
      switch (node.operator) {
        case '>':
          return (counts) => countOf(counts, query) > value;
        case '>=':
          return (counts) => countOf(counts, query) >= value;
        case '<':
          return (counts) => countOf(counts, query) < value;
        case '<=':
          return (counts) => countOf(counts, query) <= value;
        case '==':
          return (counts) => countOf(counts, query) === value;
        case '!=':
          return (counts) => countOf(counts, query) !== value;
      }
    }
  }
}

/**
 * Compile a case condition. Positions in the diagnostics are relative to `text` (line 1 unless the
 * condition spans lines); the loader moves them onto the rule file.
 */
export function compileCondition(text: string, queryNames: readonly string[]): Result<CompiledCondition> {
  const at = (offset: number): SourcePosition => positionInText(text, offset);
  if (text.trim() === '') {
    return fail([{ code: 'E_CONDITION_SYNTAX', severity: 'error', message: 'the condition is empty', position: at(0), hint: 'write a comparison such as `a > 0`' }]);
  }
  let parser: Parser;
  let tree: ConditionNode;
  try {
    parser = new Parser(tokenize(text));
    tree = parser.parse();
  } catch (error) {
    if (!(error instanceof ConditionError)) throw error;
    const diagnostic: Diagnostic = { code: error.code, severity: 'error', message: error.message, position: at(error.offset), ...(error.hint !== undefined ? { hint: error.hint } : {}) };
    return fail([diagnostic]);
  }
  const diagnostics: Diagnostic[] = [];
  const known = new Set(queryNames);
  for (const { name, offset } of parser.names) {
    if (known.has(name)) continue;
    const suggestion = closestName(name, queryNames);
    const names = queryNames.length > 0 ? queryNames.join(', ') : 'none';
    diagnostics.push({
      code: 'E_CONDITION_UNKNOWN_QUERY',
      severity: 'error',
      message: `the condition names query '${name}' at column ${positionInText(text, offset).column}, but the rule's queries are: ${names}`,
      position: at(offset),
      hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : 'name a query of this rule (unnamed queries are a, b, c… in order)',
    });
  }
  for (const { operator, offset } of parser.operators) {
    if (DATADOG_CONDITION_OPERATORS.has(operator)) continue;
    diagnostics.push({
      code: 'W_CONDITION_NOT_PORTABLE',
      severity: 'warning',
      message: `Datadog documents only > and >= in conditions; '${operator}' at column ${positionInText(text, offset).column} works in trailhound but may be refused by Datadog`,
      position: at(offset),
      hint: 'keep to > and >= if the rule must also load in Datadog',
    });
  }
  if (diagnostics.some((d) => d.severity === 'error')) return fail(diagnostics);
  const holds = compileNode(tree);
  const names = [...new Set(parser.names.map((n) => n.name))];
  return ok({ text, queryNames: names, holds }, diagnostics);
}
