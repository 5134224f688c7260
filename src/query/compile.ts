/**
 * AST → a tree of small closures, built once per query. The per-event path does no parsing, builds
 * no regular expressions and allocates only where the event forces it (crossing an array,
 * lower-casing a value for a case-insensitive comparison, free-text search).
 *
 * Value semantics (see docs/query-syntax.md):
 * - a field term holds when ANY value of the field (arrays fanned out) matches; null is absent;
 * - strings compare case-sensitively, except for the reserved attributes source/host/service/status;
 * - numbers and booleans match the text of their JSON form (`@x:5` matches 5 and "5"; `@b:true`
 *   matches true and "true"); an exact numeric term also matches a number of equal value (`@x:5.0`
 *   matches 5); objects never match a value;
 * - comparisons and ranges are numeric when their bounds are numbers (event numbers and numeric
 *   strings take part), lexical (UTF-16 order, strings only) otherwise.
 */
import { TrailhoundError } from '../core/errors.js';
import { formatDiagnostic, ok, fail } from '../core/types.js';
import type { JsonObject, JsonValue, Result } from '../core/types.js';
import type { FieldNode, QueryNode, TextNode } from './ast.js';
import { parseDecimal } from './decimal.js';
import { compileFieldAccessor, someScalar } from './field-access.js';
import { compileGlob, literalOf, lowerGlob } from './glob.js';
import type { GlobMatcher, GlobPart } from './glob.js';
import { compileCidrMatcher, parseCidrBlock } from './ip-address.js';
import type { CidrBlock } from './ip-address.js';
import { QUERY_SYNTAX_ERROR } from './lexer.js';
import { parseQuery } from './parse.js';
import type { CompiledQuery } from './types.js';

type Matcher = (fields: JsonObject) => boolean;
type ValueTest = (value: JsonValue) => boolean;
type TextTest = (text: string) => boolean;

/** Parses and compiles a query. Syntax errors come back as `E_QUERY_SYNTAX` diagnostics. */
export function compileQuery(text: string): Result<CompiledQuery> {
  const parsed = parseQuery(text);
  if (!parsed.ok) return fail(parsed.diagnostics);
  return ok(compileAst(parsed.value, text), parsed.diagnostics);
}

/** `compileQuery` for tests and scripts: throws a TrailhoundError (`E_QUERY_SYNTAX`) on a syntax error. */
export function compileQueryOrThrow(text: string): CompiledQuery {
  const result = compileQuery(text);
  if (!result.ok) {
    const details = result.diagnostics.map(formatDiagnostic).join('\n');
    throw new TrailhoundError(QUERY_SYNTAX_ERROR, `invalid query ${JSON.stringify(text)}:\n${details}`);
  }
  return result.value;
}

/** Compiles an already parsed query. */
export function compileAst(ast: QueryNode, text: string): CompiledQuery {
  const matcher = compileNode(ast);
  return {
    text,
    ast,
    matches(fields: JsonObject): boolean {
      try {
        return matcher(fields);
      } catch {
        // Defence in depth: an event must never crash the engine. Nothing above is expected to throw.
        return false;
      }
    },
  };
}

function compileNode(node: QueryNode): Matcher {
  switch (node.kind) {
    case 'all':
      return () => true;
    case 'and': {
      const parts = node.children.map(compileNode);
      const [a, b] = parts;
      if (parts.length === 2 && a && b) return (fields) => a(fields) && b(fields);
      return (fields) => {
        for (const part of parts) if (!part(fields)) return false;
        return true;
      };
    }
    case 'or': {
      const parts = node.children.map(compileNode);
      const [a, b] = parts;
      if (parts.length === 2 && a && b) return (fields) => a(fields) || b(fields);
      return (fields) => {
        for (const part of parts) if (part(fields)) return true;
        return false;
      };
    }
    case 'not': {
      const inner = compileNode(node.child);
      return (fields) => !inner(fields);
    }
    case 'text':
      return compileText(node);
    default: {
      const accessor = compileFieldAccessor(node.field.path);
      const test = compileValueTest(node);
      return (fields) => accessor.some(fields, test);
    }
  }
}

/** The test one field value must pass for a field node to hold. */
function compileValueTest(node: FieldNode): ValueTest {
  const isCaseInsensitive = node.field.isReserved;
  switch (node.kind) {
    case 'exists':
      return isPresent;
    case 'term': {
      const exact = literalOf(node.pattern);
      const textTest = compileTextTest(node.pattern, exact, isCaseInsensitive);
      const number = exact === null ? null : parseDecimal(exact);
      // An exact numeric term matches numbers of equal value; a non-numeric exact term never matches
      // a number (a number's JSON text is always numeric); a pattern matches the number's text.
      const numberTest: (value: number) => boolean = exact === null ? (value) => textTest(String(value)) : (value) => value === number;
      return (value) => {
        switch (typeof value) {
          case 'string':
            return textTest(value);
          case 'number':
            return numberTest(value);
          case 'boolean':
            return textTest(value ? 'true' : 'false');
          default:
            return false;
        }
      };
    }
    case 'compare': {
      const isLowerBound = node.operator === '>' || node.operator === '>=';
      const isInclusive = node.operator === '>=' || node.operator === '<=';
      return isLowerBound
        ? compileBounds(node.bound, isInclusive, null, false, isCaseInsensitive)
        : compileBounds(null, false, node.bound, isInclusive, isCaseInsensitive);
    }
    case 'range':
      return compileBounds(node.lower, node.isLowerInclusive, node.upper, node.isUpperInclusive, isCaseInsensitive);
    case 'cidr': {
      const blocks = node.blocks.map(parseCidrBlock).filter((b): b is CidrBlock => b !== null);
      const inBlocks = compileCidrMatcher(blocks);
      return (value) => typeof value === 'string' && inBlocks(value);
    }
  }
}

function compileTextTest(pattern: readonly GlobPart[], exact: string | null, isCaseInsensitive: boolean): TextTest {
  if (isCaseInsensitive) {
    if (exact !== null) {
      const lower = exact.toLowerCase();
      return (text) => text.toLowerCase() === lower;
    }
    const glob = compileGlob(lowerGlob(pattern));
    return (text) => glob(text.toLowerCase());
  }
  if (exact !== null) return (text) => text === exact;
  return compileGlob(pattern);
}

/** `@f:*`: present means any string (even ""), number, boolean, or an object with at least one key. */
function isPresent(value: JsonValue): boolean {
  if (value === null) return false;
  if (typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.length > 0;
  for (const key in value) if (Object.hasOwn(value, key)) return true;
  return false;
}

/**
 * A comparison (`operator` given, one bound) or a range. Numeric when every given bound is a
 * number: numbers and numeric strings of the event are compared. Lexical otherwise: strings only.
 */
function compileBounds(lower: string | null, isLowerInclusive: boolean, upper: string | null, isUpperInclusive: boolean, isCaseInsensitive: boolean): ValueTest {
  const lowerNumber = lower === null ? null : parseDecimal(lower);
  const upperNumber = upper === null ? null : parseDecimal(upper);
  const isNumeric = (lower === null || lowerNumber !== null) && (upper === null || upperNumber !== null);
  if (isNumeric) {
    const inRange = (n: number): boolean =>
      (lowerNumber === null || (isLowerInclusive ? n >= lowerNumber : n > lowerNumber)) &&
      (upperNumber === null || (isUpperInclusive ? n <= upperNumber : n < upperNumber));
    return (value) => {
      if (typeof value === 'number') return inRange(value);
      if (typeof value !== 'string') return false;
      const n = parseDecimal(value);
      return n !== null && inRange(n);
    };
  }
  const low = lower === null ? null : isCaseInsensitive ? lower.toLowerCase() : lower;
  const high = upper === null ? null : isCaseInsensitive ? upper.toLowerCase() : upper;
  return (value) => {
    if (typeof value !== 'string') return false;
    const text = isCaseInsensitive ? value.toLowerCase() : value;
    return (low === null || (isLowerInclusive ? text >= low : text > low)) && (high === null || (isUpperInclusive ? text <= high : text < high));
  };
}

/** Free text: some scalar anywhere contains (or, for `*:v`, entirely matches) the text, case-insensitively. */
function compileText(node: TextNode): Matcher {
  const lowered = lowerGlob(node.pattern);
  const exact = literalOf(lowered);
  let textTest: TextTest;
  if (node.isWholeValue) {
    if (exact !== null) textTest = (text) => text === exact;
    else {
      const glob: GlobMatcher = compileGlob(lowered);
      textTest = glob;
    }
  } else if (exact !== null) {
    textTest = (text) => text.includes(exact);
  } else {
    textTest = compileGlob([{ kind: 'star' }, ...lowered, { kind: 'star' }]);
  }
  const test = (value: string | number | boolean): boolean => textTest(typeof value === 'string' ? value.toLowerCase() : String(value));
  return (fields) => someScalar(fields, test);
}
