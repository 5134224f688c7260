/**
 * Static facts about a parsed query, for the rule index and for prefilters. Every answer is sound:
 * it may say less than is true, never more. "Not provable" is `null` (requiredValues) or `[]`
 * (requiredLiterals); negation is never reasoned through.
 */
import type { QueryNode } from './ast.js';
import { parseDecimal } from './decimal.js';
import { literalOf, literalRuns } from './glob.js';

/** Attribute paths the query reads (without `@`, reserved attributes included), in order of first use. */
export function referencedFields(ast: QueryNode): string[] {
  const seen = new Set<string>();
  const visit = (node: QueryNode): void => {
    switch (node.kind) {
      case 'and':
      case 'or':
        node.children.forEach(visit);
        return;
      case 'not':
        visit(node.child);
        return;
      case 'all':
      case 'text':
        return;
      default:
        seen.add(node.field.path);
    }
  };
  visit(ast);
  return [...seen];
}

/**
 * The values `field` (path without `@`; a leading `@` is ignored) must take for the query to match:
 * every matching event has AT LEAST ONE value of the field (arrays fanned out; numbers and
 * booleans as their JSON text) in the returned set. null when that cannot be proved: the field is
 * not constrained on every path to a match (an OR branch without it, a negation, a wildcard, a
 * comparison, a reserved attribute compared case-insensitively, …).
 *
 * AND keeps the smallest constraining child rather than intersecting: with array fan-out,
 * `@f:a @f:b` matches `f: ["a", "b"]`, so an intersection would be unsound.
 */
export function requiredValues(ast: QueryNode, field: string): ReadonlySet<string> | null {
  const path = field.startsWith('@') ? field.slice(1) : field;
  return required(ast, path);
}

function required(node: QueryNode, path: string): Set<string> | null {
  switch (node.kind) {
    case 'term': {
      if (node.field.path !== path || node.field.isReserved) return null;
      const exact = literalOf(node.pattern);
      if (exact === null) return null;
      const values = new Set([exact]);
      // `@x:5.0` also matches the number 5, whose text is "5".
      const number = parseDecimal(exact);
      if (number !== null) values.add(String(number));
      return values;
    }
    case 'and': {
      let best: Set<string> | null = null;
      for (const child of node.children) {
        const values = required(child, path);
        if (values !== null && (best === null || values.size < best.size)) best = values;
      }
      return best;
    }
    case 'or': {
      const union = new Set<string>();
      for (const child of node.children) {
        const values = required(child, path);
        if (values === null) return null;
        for (const value of values) union.add(value);
      }
      return union;
    }
    default:
      return null;
  }
}

/** Above this many clauses, an OR keeps one clause per branch instead of the full distribution. */
const MAX_OR_CLAUSES = 16;

/**
 * A conjunction of disjunctions of strings: for every clause, a matching event has a string value
 * (in its normalised fields) that contains at least one of the clause's strings. [] when nothing
 * is provable.
 *
 * Chosen to be usable on raw JSON bytes too: literals contain only printable ASCII that no JSON
 * encoder escapes (no `"` `\` `/` `<` `>` `&` `'`), case-insensitive terms (reserved attributes,
 * free text) give nothing, and neither do terms that could match a number (a number's bytes in the
 * file may differ from its text: `1e3` / `1000`). A byte-level prefilter must still only rely on
 * literals of fields copied verbatim from the record, not on attributes the normaliser derives.
 */
export function requiredLiterals(ast: QueryNode): string[][] {
  return literals(ast).map((clause) => [...clause]);
}

type Cnf = ReadonlySet<string>[];

function literals(node: QueryNode): Cnf {
  switch (node.kind) {
    case 'term': {
      if (node.field.isReserved) return [];
      const piece = longestSafePiece(literalRuns(node.pattern));
      return piece === null ? [] : [new Set([piece])];
    }
    case 'and': {
      const clauses: Cnf = [];
      const keys = new Set<string>();
      for (const child of node.children) {
        for (const clause of literals(child)) {
          const key = [...clause].sort().join('\u0000');
          if (keys.has(key)) continue;
          keys.add(key);
          clauses.push(clause);
        }
      }
      return clauses;
    }
    case 'or': {
      const branches: Cnf[] = [];
      let combinations = 1;
      for (const child of node.children) {
        const cnf = literals(child);
        if (cnf.length === 0) return [];
        branches.push(cnf);
        combinations *= cnf.length;
      }
      if (combinations > MAX_OR_CLAUSES) {
        // Weaker but sound: one clause from each branch, OR-ed together.
        const clause = new Set<string>();
        for (const cnf of branches) for (const literal of pickClause(cnf)) clause.add(literal);
        return [clause];
      }
      let product: Cnf = [new Set()];
      for (const cnf of branches) {
        const nextProduct: Cnf = [];
        for (const partial of product) for (const clause of cnf) nextProduct.push(new Set([...partial, ...clause]));
        product = nextProduct;
      }
      return product;
    }
    default:
      return [];
  }
}

/** The clause with the fewest strings (the most selective one, roughly). */
function pickClause(cnf: Cnf): ReadonlySet<string> {
  let best = cnf[0] ?? new Set<string>();
  for (const clause of cnf) if (clause.size < best.size) best = clause;
  return best;
}

const NUMBER_TEXT_CHARS = '0123456789.eE+-';
const ESCAPE_PRONE = '"\\/<>&\'';

function isSafe(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && !ESCAPE_PRONE.includes(String.fromCharCode(c));
}

/**
 * The longest run of safe characters inside the literal runs; null when there is none, or when
 * every literal character could belong to a number's text (the term might then match a number).
 */
function longestSafePiece(runs: readonly string[]): string | null {
  const all = runs.join('');
  if ([...all].every((c) => NUMBER_TEXT_CHARS.includes(c))) return null;
  let best = '';
  for (const run of runs) {
    let start = 0;
    for (let i = 0; i <= run.length; i++) {
      if (i === run.length || !isSafe(run.charCodeAt(i))) {
        if (i - start > best.length) best = run.slice(start, i);
        start = i + 1;
      }
    }
  }
  return best === '' ? null : best;
}
