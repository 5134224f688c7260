import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QueryNode } from './ast.js';
import { renderGlob } from './glob.js';
import { parseQuery, UNPREFIXED_ATTRIBUTE_WARNING } from './parse.js';

/** A compact S-expression of the AST, so tables stay readable. */
function show(node: QueryNode): string {
  const value = (parts: Parameters<typeof renderGlob>[0]): string => renderGlob(parts, (t) => t);
  switch (node.kind) {
    case 'all':
      return 'ALL';
    case 'and':
    case 'or':
      return `(${node.kind} ${node.children.map(show).join(' ')})`;
    case 'not':
      return `(not ${show(node.child)})`;
    case 'term':
      return `${node.field.written}=${node.isPhrase ? JSON.stringify(value(node.pattern)) : value(node.pattern)}`;
    case 'exists':
      return `${node.field.written}?`;
    case 'compare':
      return `${node.field.written}${node.operator}${node.bound}`;
    case 'range':
      return `${node.field.written}${node.isLowerInclusive ? '[' : '{'}${node.lower ?? '*'},${node.upper ?? '*'}${node.isUpperInclusive ? ']' : '}'}`;
    case 'cidr':
      return `cidr(${node.field.written},${node.blocks.join(',')})`;
    case 'text':
      return `${node.isWholeValue ? 'all:' : 'text:'}${node.isPhrase ? JSON.stringify(value(node.pattern)) : value(node.pattern)}`;
  }
}

function parsed(text: string): string {
  const result = parseQuery(text);
  if (!result.ok) throw new Error(`parse failed: ${JSON.stringify(result.diagnostics)}`);
  return show(result.value);
}

describe('parseQuery: terms', () => {
  it.each([
    ['', 'ALL'],
    ['   ', 'ALL'],
    ['*', 'ALL'],
    ['@eventName:StopInstances', '@eventName=StopInstances'],
    ['@requestParameters.instancesSet.items.instanceId:i-123', '@requestParameters.instancesSet.items.instanceId=i-123'],
    ['source:cloudtrail', 'source=cloudtrail'],
    ['host:web-1 service:api status:error', '(and host=web-1 service=api status=error)'],
    ['@f:"a b"', '@f="a b"'],
    ['@f:"Stop*"', '@f="Stop*"'],
    ['@f:*', '@f?'],
    ['@f:**', '@f?'],
    ['@f:\\*', '@f=*'],
    ['@f:Stop*', '@f=Stop*'],
    ['@f:*Instances', '@f=*Instances'],
    ['@f:St?p*', '@f=St?p*'],
    ['@f:>5', '@f>5'],
    ['@f:>=5', '@f>=5'],
    ['@f:<5', '@f<5'],
    ['@f:<=-2.5', '@f<=-2.5'],
    ['@f:>2024-01-01', '@f>2024-01-01'],
    ['@f:[1 TO 5]', '@f[1,5]'],
    ['@f:{1 TO 5}', '@f{1,5}'],
    ['@f:[1 TO 5}', '@f[1,5}'],
    ['@f:[* TO 5]', '@f[*,5]'],
    ['@f:[-5 TO -1]', '@f[-5,-1]'],
    ['@f:["a" TO "b c"]', '@f[a,b c]'],
    ['CIDR(@network.client.ip, 10.0.0.0/8)', 'cidr(@network.client.ip,10.0.0.0/8)'],
    ['CIDR(@ip,10.0.0.0/8, 172.16.0.0/12)', 'cidr(@ip,10.0.0.0/8,172.16.0.0/12)'],
    ['CIDR(@ip, 2001:db8::/32, ::/0)', 'cidr(@ip,2001:db8::/32,::/0)'],
    ['hello', 'text:hello'],
    ['"hello world"', 'text:"hello world"'],
    ['web*', 'text:web*'],
    ['*:hello', 'all:hello'],
    ['*:"a b"', 'all:"a b"'],
    ['*:*', 'ALL'],
    ['@f:hello\\:world', '@f=hello:world'],
    ['@f:a\\ b', '@f=a b'],
    ['@f:\\(x\\)', '@f=(x)'],
    ['@f:say\\"hi\\"', '@f=say"hi"'],
    ['@f:a\\\\b', '@f=a\\b'],
    ['@f:a,b', '@f=a,b'],
    ['@f:-5', '@f=-5'],
    ['@f:NOT', '@f=NOT'],
    ['@awsRegion:us-east-1', '@awsRegion=us-east-1'],
    ['@key\\.with\\.dots:x', '@key.with.dots=x'],
  ])('reads %j as %s', (text, expected) => {
    expect(parsed(text)).toBe(expected);
  });
});

describe('parseQuery: operators and precedence', () => {
  it.each([
    ['a b', '(and text:a text:b)'],
    ['a AND b', '(and text:a text:b)'],
    ['a && b', '(and text:a text:b)'],
    ['a OR b', '(or text:a text:b)'],
    ['a || b', '(or text:a text:b)'],
    ['a OR b c', '(or text:a (and text:b text:c))'],
    ['a b OR c', '(or (and text:a text:b) text:c)'],
    ['a AND b OR c AND d', '(or (and text:a text:b) (and text:c text:d))'],
    ['(a OR b) c', '(and (or text:a text:b) text:c)'],
    ['NOT a b', '(and (not text:a) text:b)'],
    ['NOT a OR b', '(or (not text:a) text:b)'],
    ['NOT (a OR b)', '(not (or text:a text:b))'],
    ['NOT NOT a', '(not (not text:a))'],
    ['-a b', '(and (not text:a) text:b)'],
    ['!a', '(not text:a)'],
    ['-@f:x', '(not @f=x)'],
    ['a -(b OR c)', '(and text:a (not (or text:b text:c)))'],
    ['NOT(CIDR(@ip, 10.0.0.0/8))', '(not cidr(@ip,10.0.0.0/8))'],
    ['((a))', 'text:a'],
    ['a AND (b AND c)', '(and text:a text:b text:c)'],
    ['and or not', '(and text:and text:or text:not)'],
    ['@f:(A OR B)', '(or @f=A @f=B)'],
    ['@f:(A B)', '(and @f=A @f=B)'],
    ['@f:(A AND B)', '(and @f=A @f=B)'],
    ['@f:(A -B)', '(and @f=A (not @f=B))'],
    ['@f:(A OR (B C))', '(or @f=A (and @f=B @f=C))'],
    ['@f:("a b" OR c*)', '(or @f="a b" @f=c*)'],
    ['@f:(>5 OR <1)', '(or @f>5 @f<1)'],
    ['@f:([1 TO 2] OR *)', '(or @f[1,2] @f?)'],
    ['*:(a OR b)', '(or all:a all:b)'],
    [
      '@evt.name:(StopInstances OR StartInstances) -@x:y',
      '(and (or @evt.name=StopInstances @evt.name=StartInstances) (not @x=y))',
    ],
  ])('reads %j as %s', (text, expected) => {
    expect(parsed(text)).toBe(expected);
  });

  it.each([
    ['@a:x  -@b:y', [1, 7]],
    ['@a:>5 @b:[1 TO 2] CIDR(@c, ::/0) "t"', [1, 7, 19, 34]],
    ['@f:(A OR B) c', [5, 13]],
  ])('records the 1-based column of each term of %j', (text, columns) => {
    const result = parseQuery(text);
    expect(result.ok && result.value.kind === 'and' ? result.value.children.map((c) => c.column) : null).toEqual(columns);
  });
});

describe('parseQuery: syntax errors', () => {
  it.each([
    ['@f: x', 4, "expected a value after ':' at column 4"],
    ['@eventName:', 12, "expected a value after ':' at column 12"],
    ['(@f:x', 1, 'unclosed parenthesis opened at column 1'],
    ['a (b OR (c)', 3, 'unclosed parenthesis opened at column 3'],
    ['@f:(A OR B', 4, 'unclosed parenthesis opened at column 4'],
    ['a)', 2, "unexpected ')' at column 2: no parenthesis is open"],
    ['()', 2, "expected a term after '(' at column 2, found ')'"],
    ['a AND', 6, "expected a term after 'AND' at column 6, found the end of the query"],
    ['a OR OR b', 6, "expected a term after 'OR' at column 6, found 'OR'"],
    ['OR a', 1, "expected a term before 'OR' at column 1"],
    ['a (AND b)', 4, "expected a term before 'AND' at column 4"],
    ['NOT', 4, "expected a term after 'NOT' at column 4, found the end of the query"],
    ['- a', 2, "expected a term right after '-' at column 2"],
    ['@f:x:y', 5, "unexpected ':' at column 5"],
    ['@f:arn:aws', 7, "unexpected ':' at column 7"],
    ['@f:a>b', 5, "unexpected '>' at column 5"],
    ['@f:a"b"', 5, `unexpected '"b"' at column 5`],
    ['@f:a(b)', 5, "unexpected '(' at column 5"],
    ['a : b', 3, "unexpected ':' at column 3"],
    ['>5', 1, "unexpected '>' at column 1"],
    ['@f:>', 5, "expected a value after '>' at column 5"],
    ['@f:>=*', 6, "wildcards are not allowed in a comparison ('*' at column 6)"],
    ['@f:[1 5]', 7, "expected 'TO' at column 7 in the range opened at column 4, found '5'"],
    ['@f:[1 TO 5', 4, 'unclosed range opened at column 4'],
    ['@f:[1 TO 5 6]', 12, "expected ']' or '}' at column 12 to close the range opened at column 4, found '6'"],
    ['@f:[a* TO b]', 5, "wildcards are not allowed in a range bound ('a*' at column 5)"],
    ['CIDR(@ip)', 9, 'CIDR() needs at least one block after the attribute (column 9)'],
    ['CIDR(@ip, 10.0.0.0/33)', 11, "invalid CIDR block '10.0.0.0/33' at column 11"],
    ['CIDR(@ip, nope)', 11, "invalid CIDR block 'nope' at column 11"],
    ['CIDR(@ip, 10.0.0.0/8', 5, 'unclosed parenthesis opened at column 5'],
    ['CIDR(@ip 10.0.0.0/8)', 10, "expected ',' or ')' at column 10 in CIDR() opened at column 5, found '10.0.0.0/8'"],
    ['CIDR(10.0.0.0/8)', 6, "expected an attribute as the first argument of CIDR() at column 6, found '10.0.0.0/8'"],
    ['CIDR(@ip*, 10.0.0.0/8)', 6, "expected an attribute as the first argument of CIDR() at column 6, found '@ip*'"],
    ['CIDR(*, 10.0.0.0/8)', 6, "expected an attribute as the first argument of CIDR() at column 6, found '*'"],
    ['@:x', 1, "invalid attribute name '@' at column 1"],
    ['@a..b:x', 1, "invalid attribute name '@a..b' at column 1"],
    ['@a*:x', 1, "wildcards are not allowed in attribute names ('@a*' at column 1)"],
    ['*:>5', 3, "comparisons and ranges need an attribute, not '*:' (column 3)"],
    ['a "b', 3, 'unclosed quote opened at column 3'],
    ['a\\', 2, "nothing to escape after '\\' at column 2"],
  ])('rejects %j at column %i', (text, column, message) => {
    const result = parseQuery(text);
    expect(result.ok).toBe(false);
    const [diagnostic] = result.diagnostics;
    expect(diagnostic?.code).toBe('E_QUERY_SYNTAX');
    expect(diagnostic?.severity).toBe('error');
    expect(diagnostic?.position).toEqual({ line: 1, column });
    expect(diagnostic?.message.startsWith(message)).toBe(true);
  });

  it('never throws and always reports a column inside the text (or just past it)', () => {
    const alphabet = fc.constantFrom('a', 'B', '@', '.', ':', '*', '?', '(', ')', '[', ']', '{', '}', '"', '\\', '-', '!', '<', '>', '=', ',', ' ', 'AND ', 'OR ', 'NOT ', ' TO ', 'CIDR(', '10.0.0.0/8');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 24 }), (text) => {
        const result = parseQuery(text);
        for (const d of result.diagnostics) {
          if (d.severity !== 'error') continue;
          expect(d.code).toBe('E_QUERY_SYNTAX');
          expect(d.position?.column).toBeGreaterThanOrEqual(1);
          expect(d.position?.column).toBeLessThanOrEqual(text.length + 1);
        }
        expect(result.ok || result.diagnostics.length > 0).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseQuery: warnings', () => {
  it.each([
    ['evt.name:StopInstances', '@evt.name=StopInstances', 1],
    ['env:prod @a:b', '(and @env=prod @a=b)', 1],
    ['source:cloudtrail', 'source=cloudtrail', 0],
    ['@evt.name:StopInstances', '@evt.name=StopInstances', 0],
  ])('reads %j as %s with %i unprefixed-attribute warning(s)', (text, expected, warnings) => {
    const result = parseQuery(text);
    expect(result.ok && show(result.value)).toBe(expected);
    expect(result.diagnostics.filter((d) => d.code === UNPREFIXED_ATTRIBUTE_WARNING && d.severity === 'warning')).toHaveLength(warnings);
  });

  it('reserved attributes are read case-insensitively only when written without @', () => {
    const bare = parseQuery('source:x');
    const prefixed = parseQuery('@source:x');
    expect(bare.ok && bare.value.kind === 'term' && bare.value.field.isReserved).toBe(true);
    expect(prefixed.ok && prefixed.value.kind === 'term' && prefixed.value.field.isReserved).toBe(false);
  });
});
