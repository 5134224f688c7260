/**
 * What the engine keeps of a matched event's fields: only the top-level members a rule can still
 * read once the event matched (group-by and aggregated fields, its queries, its title and message
 * templates, the host, the caller for sequence actors, the account for environments, the event
 * name for the rule index). An event waits in the engine from ingest to evaluation, and the open
 * signal keeps its latest event for rendering; keeping the whole normalised record there is what
 * made a scan's memory grow with the number of matching records.
 *
 * Members are kept whole, and every top-level key a path can resolve to is kept (a path is tried
 * as dotted keys, longest first: `a.b.c` may be the key `a.b`), so every read gives exactly what it
 * gives on the full fields. A rule whose reads cannot be listed (a free-text term, a template that
 * does not say which attributes it reads) keeps every member.
 */
import type { JsonObject } from '../core/types.js';
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
const ALWAYS_READ = ['host', 'target', 'userIdentity', 'recipientAccountId', 'env', 'evt', 'eventName', 'eventSource'];

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

/** The top-level keys a path (`@` optional) can resolve to. */
function topLevelKeysOf(path: string): string[] {
  const segments = (path.startsWith('@') ? path.slice(1) : path).split('.');
  const keys: string[] = [];
  for (let j = 1; j <= Math.min(segments.length, MAX_DOTTED_SEGMENTS); j++) keys.push(segments.slice(0, j).join('.'));
  return keys;
}

/** The top-level members `rule` reads after an event matched it, or null when they cannot be listed. */
export function membersReadBy(rule: CompiledRule): ReadonlySet<string> | null {
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
  const members = new Set<string>();
  for (const path of paths) for (const key of topLevelKeysOf(path)) members.add(key);
  return members;
}

/**
 * Copies into `target` the members of `fields` listed in `members` (own keys only). Keys are set
 * by definition, so a member named `__proto__` stays data.
 */
export function copyMembers(target: JsonObject, fields: JsonObject, members: ReadonlySet<string>): void {
  for (const key of members) {
    if (!Object.hasOwn(fields, key)) continue;
    const value = fields[key];
    if (value === undefined) continue;
    if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
    else target[key] = value;
  }
}
