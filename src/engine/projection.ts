/**
 * What the engine keeps of a matched event's fields: only the attributes a rule can still read once
 * the event matched (group-by and aggregated fields, its queries, its title and message templates,
 * the host, the caller for sequence actors, the account for environments, the event name for the
 * rule index). An event waits in the scan from reading to evaluation, and an open signal keeps its
 * latest event for rendering; keeping the whole normalised record there is what made a scan's
 * memory grow with the number of matching records.
 *
 * The projection keeps, along every path a rule reads, every key the field accessor could follow
 * (a path is tried as dotted keys, longest first: `a.b.c` may be the key `a.b`; src/query/field-access.ts),
 * every element of the arrays it crosses, in order, and the value at the end of the path whole. So
 * every read gives exactly what it gives on the full fields. A rule whose reads cannot be listed
 * (a free-text term, a template that does not say which attributes it reads) keeps every field.
 */
import type { JsonObject, JsonValue } from '../core/types.js';
import { referencedFields } from '../query/analyse.js';
import type { QueryNode } from '../query/ast.js';
import type { CompiledRule } from '../rules/model.js';

/** Longest run of path segments tried as one dotted key (as src/query/field-access.ts). */
const MAX_DOTTED_SEGMENTS = 16;

/**
 * Members every rule may read after matching: the derived and raw fields behind `host`, the fan-out
 * targets, the caller (`userIdentity`: sequence actors, environments), the account and environment,
 * the event name (the rule index, when a saved state is loaded).
 */
const ALWAYS_READ = ['host', 'target.instance_ids', 'userIdentity.arn', 'userIdentity.session_name', 'userIdentity.accountId', 'recipientAccountId', 'env', 'evt.name', 'eventName', 'eventSource'];

function hasFreeText(node: QueryNode): boolean {
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.children.some(hasFreeText);
    case 'not':
      return hasFreeText(node.child);
    case 'text':
      return true;
    default:
      return false;
  }
}

/** The attribute paths (without `@`) `rule` reads after an event matched it, or null when they cannot be listed. */
export function pathsReadBy(rule: CompiledRule): string[] | null {
  const paths: string[] = [...ALWAYS_READ, ...rule.groupByFields, ...(rule.groupSignalsBy ?? [])];
  for (const q of rule.queries) {
    const ast = q.query.ast as QueryNode | undefined;
    if (ast === undefined || hasFreeText(ast)) return null;
    paths.push(...referencedFields(ast), ...q.groupByFields, ...q.distinctFields, ...(q.metrics ?? []));
  }
  for (const template of [rule.title, rule.message]) {
    if (template.attributes === undefined) return null;
    paths.push(...template.attributes);
  }
  return [...new Set(paths.map((p) => (p.startsWith('@') ? p.slice(1) : p)))].filter((p) => p !== '');
}

/** One level of a projection: keys to follow, each kept whole or projected further. */
interface ProjectionNode {
  isWhole: boolean;
  readonly children: Map<string, ProjectionNode>;
}

function newNode(): ProjectionNode {
  return { isWhole: false, children: new Map() };
}

function insertPath(node: ProjectionNode, segments: readonly string[], from: number): void {
  if (node.isWhole) return;
  for (let to = from + 1; to <= Math.min(segments.length, from + MAX_DOTTED_SEGMENTS); to++) {
    const key = segments.slice(from, to).join('.');
    let child = node.children.get(key);
    if (child === undefined) node.children.set(key, (child = newNode()));
    if (to === segments.length) {
      child.isWhole = true;
      child.children.clear();
    } else {
      insertPath(child, segments, to);
    }
  }
}

function projectValue(value: JsonValue, node: ProjectionNode, depth: number): JsonValue {
  if (node.isWhole || value === null || typeof value !== 'object' || depth > MAX_PROJECTION_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => projectValue(item, node, depth + 1));
  const out: JsonObject = {};
  for (const [key, child] of node.children) {
    if (!Object.hasOwn(value, key)) continue;
    const inner = value[key];
    if (inner === undefined) continue;
    const projected = projectValue(inner, child, depth + 1);
    // Keys are set by definition, so a key named `__proto__` stays data.
    if (key === '__proto__') Object.defineProperty(out, key, { value: projected, enumerable: true, writable: true, configurable: true });
    else out[key] = projected;
  }
  return out;
}

/** Arrays nested deeper than this inside a projected path are kept whole (the walk stays shallow). */
const MAX_PROJECTION_DEPTH = 64;

/** A function keeping, of an event's fields, what `paths` can read; `fields` is never changed. */
export type FieldProjection = (fields: JsonObject) => JsonObject;

export function compileProjection(paths: readonly string[]): FieldProjection {
  const root = newNode();
  for (const path of paths) insertPath(root, path.split('.'), 0);
  return (fields) => projectValue(fields, root, 0) as JsonObject;
}

/**
 * Projections of rule sets, made once per set seen: an event keeps what any of the rules it
 * matched reads. Rules are numbered by position; a rule with null paths needs every field.
 */
export class ProjectionCache {
  private readonly cache = new Map<string, FieldProjection | null>();

  constructor(private readonly pathsOf: readonly (readonly string[] | null)[]) {}

  /** `positions`: ascending, without repeats. */
  project(fields: JsonObject, positions: readonly number[]): JsonObject {
    const key = positions.length === 1 ? String(positions[0]) : positions.join(',');
    let projection = this.cache.get(key);
    if (projection === undefined) {
      const paths: string[] = [];
      let isAll = false;
      for (const p of positions) {
        const own = this.pathsOf[p];
        if (own === null || own === undefined) isAll = true;
        else paths.push(...own);
      }
      projection = isAll ? null : compileProjection(paths);
      this.cache.set(key, projection);
    }
    return projection === null ? fields : projection(fields);
  }
}
