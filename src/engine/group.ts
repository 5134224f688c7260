/**
 * Group-by values: which group of a rule an event belongs to.
 *
 * The value of a group-by field is the FIRST value `getFieldValues` finds at its path (the path is
 * the field as written in the rule without its leading `@`; arrays are fanned out and `null`s
 * skipped by the field access), stringified: strings as they are,
 * numbers and booleans as JSON text, objects and arrays as compact JSON. No value, `null` and the
 * empty string all mean "missing": the event is ignored for the rule, unless the rule has
 * `hasOptionalGroupByFields`, in which case the value is `N/A`.
 */
import type { JsonObject, JsonValue } from '../core/types.js';
import { compileFieldPath, getFieldValues } from '../query/field-access.js';

/** The value of a missing group-by field in a rule with optional group-by fields (Datadog's). */
export const MISSING_GROUP_VALUE = 'N/A';

/** `@userIdentity.arn` → `userIdentity.arn`; `host` stays `host`. */
export function groupByPath(field: string): string {
  return field.startsWith('@') ? field.slice(1) : field;
}

function stringify(value: JsonValue): string | undefined {
  if (value === null) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  return JSON.stringify(value);
}

function firstValue(fields: JsonObject, read: (fields: JsonObject) => JsonValue[]): string | undefined {
  let values: readonly JsonValue[];
  try {
    values = read(fields);
  } catch {
    return undefined;
  }
  const first = values[0];
  return first === undefined ? undefined : stringify(first);
}

/** The stringified value of one group-by field (as written in the rule), or undefined when it is missing. */
export function groupValueOf(fields: JsonObject, field: string): string | undefined {
  return firstValue(fields, (f) => getFieldValues(f, groupByPath(field)));
}

/**
 * Compile a rule's group-by once: the returned function gives an event's values for every
 * group-by field, in order, or undefined when a field is missing and the rule does not allow it.
 * A rule without group-by fields has one group: `[]`.
 */
export function compileGroupBy(groupByFields: readonly string[], hasOptionalGroupByFields: boolean): (fields: JsonObject) => string[] | undefined {
  const readers = groupByFields.map((field) => compileFieldPath(groupByPath(field)));
  return (fields) => {
    const values: string[] = [];
    for (const read of readers) {
      const value = firstValue(fields, read);
      if (value !== undefined) values.push(value);
      else if (hasOptionalGroupByFields) values.push(MISSING_GROUP_VALUE);
      else return undefined;
    }
    return values;
  };
}

/** Uncompiled convenience twin of `compileGroupBy`. */
export function groupValuesOf(fields: JsonObject, groupByFields: readonly string[], hasOptionalGroupByFields: boolean): string[] | undefined {
  return compileGroupBy(groupByFields, hasOptionalGroupByFields)(fields);
}

/** A canonical, unambiguous text for a group: the key of its state and part of its signals' ids. */
export function groupKeyOf(values: readonly string[]): string {
  return JSON.stringify(values);
}

/** `Signal.group`: values keyed by the group-by field as written in the rule (`@userIdentity.arn`). */
export function groupRecord(groupByFields: readonly string[], values: readonly string[]): Record<string, string> {
  // fromEntries defines own properties: a field spelled `__proto__` stays a plain key.
  return Object.fromEntries(groupByFields.map((field, i) => [field, values[i] ?? MISSING_GROUP_VALUE]));
}
