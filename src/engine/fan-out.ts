/**
 * Fan-out group-bys (`hasGroupByFanOut: true` on a rule's queries, a trailhound extension).
 *
 * Without fan-out, a group-by field takes the FIRST value found at its path (group.ts). With
 * fan-out, it takes EVERY distinct value found (arrays searched element by element, as queries
 * read them), and the event takes part once in each group of the cross product of the fields'
 * values, in document order. A `StopInstances` naming three instances, grouped by
 * `@target.instance_ids`, is counted once in each instance's group.
 *
 * Values are stringified as group.ts does (strings as they are, other scalars and objects as
 * JSON; `null` and `''` are missing). A field with no value makes the event miss the rule, or
 * takes the value `N/A` when the rule has `hasOptionalGroupByFields`. Values are CloudTrail's,
 * so attacker-controlled: an event joins at most `MAX_FAN_OUT_GROUPS` groups (the first ones in
 * document order), so one record naming thousands of resources cannot flood the engine.
 */
import type { JsonObject, JsonValue } from '../core/types.js';
import { compileFieldPath } from '../query/field-access.js';
import { compileGroupBy, groupByPath, MISSING_GROUP_VALUE } from './group.js';

/** The most groups one event joins in one fan-out rule. */
export const MAX_FAN_OUT_GROUPS = 64;

/** What the engine needs to know about a rule's group-by. */
export interface GroupBySpec {
  readonly groupByFields: readonly string[];
  readonly hasOptionalGroupByFields: boolean;
  readonly hasGroupByFanOut?: boolean;
}

function groupText(value: JsonValue): string | undefined {
  if (value === null) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  return JSON.stringify(value);
}

type Reader = (fields: JsonObject) => JsonValue[];

/** Every distinct stringified value of one field, in document order (never throws). */
function distinctValues(fields: JsonObject, read: Reader): string[] {
  let values: readonly JsonValue[];
  try {
    values = read(fields);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const value of values) {
    const text = groupText(value);
    if (text !== undefined && !out.includes(text)) out.push(text);
  }
  return out;
}

/** The cross product of the fields' values, first field outermost, cut at `limit` groups. */
function crossProduct(perField: readonly (readonly string[])[], limit: number): string[][] {
  let groups: string[][] = [[]];
  for (const values of perField) {
    const next: string[][] = [];
    for (const group of groups) {
      for (const value of values) {
        if (next.length >= limit) break;
        next.push([...group, value]);
      }
      if (next.length >= limit) break;
    }
    groups = next;
  }
  return groups;
}

/**
 * Compile a rule's group-by once: the returned function gives every group an event belongs to
 * (one list of values per group, in the order of `groupByFields`), or undefined when the event
 * misses the rule for lack of a group-by value. Without fan-out this is `compileGroupBy` with its
 * one group wrapped in a list.
 */
export function compileGroupsOf(spec: GroupBySpec, limit = MAX_FAN_OUT_GROUPS): (fields: JsonObject) => string[][] | undefined {
  if (spec.hasGroupByFanOut !== true) {
    const single = compileGroupBy(spec.groupByFields, spec.hasOptionalGroupByFields);
    return (fields) => {
      const values = single(fields);
      return values === undefined ? undefined : [values];
    };
  }
  const readers = spec.groupByFields.map((field) => compileFieldPath(groupByPath(field)));
  const max = Math.max(1, Math.floor(limit));
  return (fields) => {
    const perField: string[][] = [];
    for (const read of readers) {
      const values = distinctValues(fields, read);
      if (values.length > 0) perField.push(values);
      else if (spec.hasOptionalGroupByFields) perField.push([MISSING_GROUP_VALUE]);
      else return undefined;
    }
    return crossProduct(perField, max);
  };
}

/**
 * The host of an event AS SEEN FROM ONE GROUP of a fan-out rule. The normaliser's `host` is the
 * first instance a call names; when that value is one of the values the event fanned out on for
 * some group-by field, the group's own value of that field is the host instead: a StopInstances
 * of `[a, b, c]` has host `c` in the group of `c`. Any other host is kept as it is.
 */
export function compileFanOutHost(spec: GroupBySpec): (fields: JsonObject, host: string | null, groupValues: readonly string[]) => string | null {
  if (spec.hasGroupByFanOut !== true) return (_fields, host) => host;
  const readers = spec.groupByFields.map((field) => compileFieldPath(groupByPath(field)));
  return (fields, host, groupValues) => {
    if (host === null) return null;
    for (let i = 0; i < readers.length; i++) {
      const read = readers[i];
      const own = groupValues[i];
      if (read === undefined || own === undefined) continue;
      if (own === host) return host;
      if (distinctValues(fields, read).includes(host)) return own;
    }
    return host;
  };
}
