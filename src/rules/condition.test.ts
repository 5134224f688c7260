import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CompiledCondition } from './model.js';
import { compileCondition } from './condition.js';

const NAMES = ['a', 'b', 'c', 'stop_instance', 'modify_instance_attribute', 'start_instance'];

function compiled(text: string, names: readonly string[] = NAMES): CompiledCondition {
  const result = compileCondition(text, names);
  if (!result.ok) throw new Error(`expected ${text} to compile: ${JSON.stringify(result.diagnostics)}`);
  return result.value;
}

describe('compileCondition: evaluation', () => {
  it.each([
    { text: 'a > 0', counts: { a: 1 }, holds: true },
    { text: 'a > 0', counts: { a: 0 }, holds: false },
    { text: 'a > 0', counts: {}, holds: false },
    { text: 'a >= 3', counts: { a: 3 }, holds: true },
    { text: 'a >= 3', counts: { a: 2 }, holds: false },
    { text: 'a > 2', counts: { a: 3 }, holds: true },
    { text: 'a > 3', counts: { a: 3 }, holds: false },
    { text: 'a < 3', counts: { a: 2 }, holds: true },
    { text: 'a < 3', counts: { a: 3 }, holds: false },
    { text: 'a <= 3', counts: { a: 3 }, holds: true },
    { text: 'a == 2', counts: { a: 2 }, holds: true },
    { text: 'a == 2', counts: { a: 1 }, holds: false },
    { text: 'a != 2', counts: { a: 1 }, holds: true },
    { text: 'a != 0', counts: {}, holds: false },
    { text: 'a > 0.5', counts: { a: 1 }, holds: true },
    { text: 'a > 0.995', counts: { a: 0.99 }, holds: false },
    { text: 'a > 0 && b > 0', counts: { a: 1, b: 1 }, holds: true },
    { text: 'a > 0 && b > 0', counts: { a: 1, b: 0 }, holds: false },
    { text: 'a > 0 || b > 0', counts: { a: 0, b: 1 }, holds: true },
    { text: 'a > 0 || b > 0', counts: { a: 0, b: 0 }, holds: false },
    { text: 'a > 0 || b > 0 && c > 0', counts: { a: 1, b: 0, c: 0 }, holds: true },
    { text: '(a > 0 || b > 0) && c > 0', counts: { a: 1, b: 0, c: 0 }, holds: false },
    { text: 'a > 0 && b > 0 || c > 0', counts: { a: 0, b: 0, c: 1 }, holds: true },
    { text: 'a > 0 && (b > 0 || c > 0)', counts: { a: 0, b: 0, c: 1 }, holds: false },
    { text: '((a > 0))', counts: { a: 1 }, holds: true },
    { text: '  a>0&&b>=1  ', counts: { a: 1, b: 1 }, holds: true },
    { text: 'a > 0\n&& b > 0', counts: { a: 1, b: 1 }, holds: true },
    { text: 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance > 0', counts: { stop_instance: 1, modify_instance_attribute: 2, start_instance: 1 }, holds: true },
    { text: 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance > 0', counts: { stop_instance: 1, start_instance: 1 }, holds: false },
  ])('$text with $counts holds: $holds', ({ text, counts, holds }) => {
    expect(compiled(text).holds(counts)).toBe(holds);
  });

  it('reads only own count properties, so a query named like an Object method counts 0', () => {
    const condition = compiled('constructor >= 0 && toString == 0', ['constructor', 'toString']);
    expect(condition.holds({})).toBe(true);
    expect(condition.holds({ toString: 1 })).toBe(false);
  });

  it('lists the query names it reads once each, in order of appearance', () => {
    expect(compiled('b > 0 && (a > 1 || b > 2)').queryNames).toEqual(['b', 'a']);
  });

  it('keeps the text as written', () => {
    expect(compiled(' a > 0 ').text).toBe(' a > 0 ');
  });
});

describe('compileCondition: errors', () => {
  it.each([
    { text: '', code: 'E_CONDITION_SYNTAX', column: 1, message: /empty/ },
    { text: '   ', code: 'E_CONDITION_SYNTAX', column: 1, message: /empty/ },
    { text: 'a >', code: 'E_CONDITION_SYNTAX', column: 4, message: /expected a number after '>'/ },
    { text: 'a > b', code: 'E_CONDITION_SYNTAX', column: 5, message: /expected a number/ },
    { text: 'a 0', code: 'E_CONDITION_SYNTAX', column: 3, message: /comparison operator after 'a'/ },
    { text: '3 < a', code: 'E_CONDITION_SYNTAX', column: 1, message: /expected a query name/ },
    { text: 'a > 0 &&', code: 'E_CONDITION_SYNTAX', column: 9, message: /expected a query name .*end of the condition/ },
    { text: '(a > 0', code: 'E_CONDITION_SYNTAX', column: 1, message: /unclosed parenthesis/ },
    { text: 'a > 0)', code: 'E_CONDITION_SYNTAX', column: 6, message: /unexpected '\)'/ },
    { text: 'a > 0 & b > 0', code: 'E_CONDITION_SYNTAX', column: 7, message: /unexpected character '&'/ },
    { text: 'a > 0 | b > 0', code: 'E_CONDITION_SYNTAX', column: 7, message: /unexpected character '\|'/ },
    { text: 'a = 1', code: 'E_CONDITION_SYNTAX', column: 3, message: /unexpected character '='/ },
    { text: '!a', code: 'E_CONDITION_SYNTAX', column: 1, message: /unexpected character '!'/ },
    { text: 'a > 0 b > 0', code: 'E_CONDITION_SYNTAX', column: 7, message: /expected && or \|\|/ },
    { text: 'a > 0 and b > 0', code: 'E_CONDITION_SYNTAX', column: 7, message: /'and' .* not an operator/ },
    { text: 'a > 1x', code: 'E_CONDITION_SYNTAX', column: 6, message: /in the number/ },
    { text: 'a > -1', code: 'E_CONDITION_SYNTAX', column: 5, message: /unexpected character '-'/ },
    { text: 'a > 0\n&& > 1', code: 'E_CONDITION_SYNTAX', column: 4, line: 2, message: /expected a query name/ },
    { text: 'a > 0 then b > 0', code: 'E_RULE_UNSUPPORTED', column: 7, message: /'then' operator/ },
    { text: 'd > 0', code: 'E_CONDITION_UNKNOWN_QUERY', column: 1, message: /'d'/ },
    { text: 'a > 0 && stop_instances > 0', code: 'E_CONDITION_UNKNOWN_QUERY', column: 10, message: /'stop_instances'/, hint: /did you mean 'stop_instance'/ },
    { text: `${'('.repeat(100)}a > 0${')'.repeat(100)}`, code: 'E_CONDITION_SYNTAX', column: 65, message: /nested deeper/ },
  ])('$text fails with $code at column $column', ({ text, code, column, message, line, hint }) => {
    const result = compileCondition(text, NAMES);
    expect(result.ok).toBe(false);
    const first = result.diagnostics[0];
    expect(first?.code).toBe(code);
    expect(first?.severity).toBe('error');
    expect(first?.position).toEqual({ line: line ?? 1, column });
    expect(first?.message).toMatch(message);
    if (hint) expect(first?.hint).toMatch(hint);
  });

  it('reports every unknown query name, not only the first', () => {
    const result = compileCondition('x > 0 && a > 0 || y > 0', ['a']);
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => [d.code, d.position?.column])).toEqual([
      ['E_CONDITION_UNKNOWN_QUERY', 1],
      ['E_CONDITION_UNKNOWN_QUERY', 19],
    ]);
  });

  it('tells the number-first form how to write it the Datadog way', () => {
    const result = compileCondition('3 < a', NAMES);
    expect(result.diagnostics[0]?.hint).toMatch(/a > 3/);
  });
});

describe('compileCondition: portability warnings', () => {
  it.each([
    { text: 'a < 3', operator: '<', column: 3 },
    { text: 'a <= 3', operator: '<=', column: 3 },
    { text: 'a > 0 && b == 0', operator: '==', column: 12 },
    { text: 'a != 0', operator: '!=', column: 3 },
  ])('$text compiles with a W_CONDITION_NOT_PORTABLE warning for $operator', ({ text, operator, column }) => {
    const result = compileCondition(text, NAMES);
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]).toMatchObject({ code: 'W_CONDITION_NOT_PORTABLE', severity: 'warning', position: { line: 1, column } });
    expect(result.diagnostics[0]?.message).toContain(`'${operator}'`);
  });

  it.each(['a > 0', 'a >= 1 && (b > 0 || c >= 2)'])('%s uses only documented operators and has no warning', (text) => {
    expect(compileCondition(text, NAMES).diagnostics).toEqual([]);
  });
});

type Expr = { kind: 'cmp'; name: string; op: '>' | '>=' | '<' | '<=' | '==' | '!='; value: number } | { kind: 'and' | 'or'; left: Expr; right: Expr };

const exprArbitrary: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('cmp' as const), name: fc.constantFrom('a', 'b', 'c'), op: fc.constantFrom('>' as const, '>=' as const, '<' as const, '<=' as const, '==' as const, '!=' as const), value: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), left: tie('expr'), right: tie('expr') }),
  ),
})).expr;

function printExpr(e: Expr, space: string): string {
  if (e.kind === 'cmp') return `${e.name}${space}${e.op}${space}${e.value}`;
  return `(${printExpr(e.left, space)}${space}${e.kind === 'and' ? '&&' : '||'}${space}${printExpr(e.right, space)})`;
}

function evaluate(e: Expr, counts: Record<string, number>): boolean {
  if (e.kind !== 'cmp') return e.kind === 'and' ? evaluate(e.left, counts) && evaluate(e.right, counts) : evaluate(e.left, counts) || evaluate(e.right, counts);
  const n = counts[e.name] ?? 0;
  switch (e.op) {
    case '>':
      return n > e.value;
    case '>=':
      return n >= e.value;
    case '<':
      return n < e.value;
    case '<=':
      return n <= e.value;
    case '==':
      return n === e.value;
    case '!=':
      return n !== e.value;
  }
}

describe('compileCondition: properties', () => {
  it('agrees with a direct evaluation of the expression it was printed from, whatever the spacing', () => {
    fc.assert(
      fc.property(exprArbitrary, fc.constantFrom('', ' ', '  ', '\t'), fc.record({ a: fc.nat(5), b: fc.nat(5), c: fc.nat(5) }), (expr, space, counts) => {
        const result = compileCondition(printExpr(expr, space), ['a', 'b', 'c']);
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.value.holds(counts)).toBe(evaluate(expr, counts));
      }),
    );
  });

  it('never throws on arbitrary text and always answers with a Result', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii' }), (text) => {
        const result = compileCondition(text, ['a', 'b']);
        expect(typeof result.ok).toBe('boolean');
        if (!result.ok) expect(result.diagnostics.length).toBeGreaterThan(0);
      }),
    );
  });
});
