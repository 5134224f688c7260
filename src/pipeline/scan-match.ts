/**
 * What a scan's read side (the main thread with `--threads 1`, or each read worker) does with a
 * normalised event before the engine sees it: tell which rules it matches (through the rule
 * index), and keep only the fields those rules read afterwards (src/engine/projection.ts). The
 * engine is then given the event with the ids of the rules it matched, and tries only those.
 */
import type { JsonObject } from '../core/types.js';
import { buildRuleIndex, matchesAnyQuery } from '../engine/rule-index.js';
import { ProjectionCache, pathsReadBy } from '../engine/projection.js';
import { compileAst } from '../query/compile.js';
import type { CompiledQuery } from '../query/types.js';
import type { CompiledRule } from '../rules/model.js';
import type { WorkerRule } from './scan-protocol.js';

/** The enabled rules, first of each id: what `scanRuleSpecs` describes, in the same order. */
export function scannedRules(rules: readonly CompiledRule[]): CompiledRule[] {
  const seen = new Set<string>();
  return rules.filter((rule) => {
    if (!rule.isEnabled || seen.has(rule.id)) return false;
    seen.add(rule.id);
    return true;
  });
}

/** The enabled rules (first of each id) as the read side needs them; plain data for workers. */
export function scanRuleSpecs(rules: readonly CompiledRule[], isProjecting: boolean): WorkerRule[] {
  return scannedRules(rules).map((rule) => {
    return { id: rule.id, queries: rule.queries.map((q) => ({ ast: q.query.ast, text: q.query.text })), paths: isProjecting ? pathsReadBy(rule) : null };
  });
}

interface MatcherRule {
  readonly position: number;
  readonly queries: readonly CompiledQuery[];
}

export class ScanMatcher {
  private readonly index;
  private readonly projections: ProjectionCache;
  private readonly idSets = new Map<string, ReadonlySet<string>>();

  /**
   * `compiledQueries`: each rule's queries already compiled (the main thread has them), else they
   * are compiled from the specs' ASTs (a worker).
   */
  constructor(
    readonly rules: readonly WorkerRule[],
    compiledQueries?: readonly (readonly CompiledQuery[])[],
  ) {
    const compiled: MatcherRule[] = rules.map((rule, position) => ({ position, queries: compiledQueries?.[position] ?? rule.queries.map((q) => compileAst(q.ast, q.text)) }));
    this.index = buildRuleIndex<MatcherRule>(compiled, (r) => r.queries);
    this.projections = new ProjectionCache(rules.map((r) => r.paths));
  }

  /** Positions (in `rules`) of the rules one of whose queries the fields match, ascending; undefined: none. */
  match(fields: JsonObject): number[] | undefined {
    let matched: number[] | undefined;
    // A query that throws is just no match here; the engine counts the error when it tries the rule again.
    for (const rule of this.index.candidates(fields)) if (matchesAnyQuery(rule.queries, fields)) (matched ??= []).push(rule.position);
    return matched?.sort((a, b) => a - b);
  }

  /** What the matched rules (ascending positions) read of `fields` (src/engine/projection.ts). */
  project(fields: JsonObject, matched: readonly number[]): JsonObject {
    return this.projections.project(fields, matched);
  }

  /** The rule ids of matched positions (one set per distinct combination, made once: do not change it). */
  idsOf(matched: readonly number[]): ReadonlySet<string> {
    const key = matched.join(',');
    let ids = this.idSets.get(key);
    if (ids === undefined) this.idSets.set(key, (ids = new Set(matched.map((p) => this.rules[p]?.id ?? ''))));
    return ids;
  }
}
