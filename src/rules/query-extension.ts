/**
 * Datadog's `customQueryExtension`: query text appended to a rule query, the way Datadog lets a
 * default rule be tuned (`-@userIdentity.arn:…build-bot`) without editing the query itself.
 * Appending to a log search query is an AND, so the extended query matches an event exactly when
 * both the query and the extension do. The AST is combined too, so that the rule index still sees
 * the event names the query requires.
 */
import type { Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import type { QueryNode } from '../query/ast.js';
import { compileAst, compileQuery } from '../query/compile.js';
import type { CompiledQuery } from '../query/types.js';

/** The text of an extended query, as shown to users (`(query) (extension)`). */
export function extendedQueryText(query: string, extension: string): string {
  return `(${query}) (${extension})`;
}

/** ANDs several compiled queries into one (the text says what was combined). */
export function andQueries(queries: readonly CompiledQuery[], text: string): CompiledQuery {
  const children: QueryNode[] = queries.map((q) => q.ast);
  return compileAst({ kind: 'and', column: 1, children }, text);
}

/**
 * `query` ANDed with `extension`. An empty (or blank) extension gives `query` back unchanged.
 * Diagnostics (E_QUERY_SYNTAX, warnings) are positioned inside `extension`.
 */
export function extendQuery(query: CompiledQuery, extension: string): Result<CompiledQuery> {
  if (extension.trim() === '') return ok(query);
  const compiled = compileQuery(extension);
  if (!compiled.ok) return fail(compiled.diagnostics);
  return ok(andQueries([query, compiled.value], extendedQueryText(query.text, extension)), compiled.diagnostics);
}
