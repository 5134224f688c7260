/**
 * Builders for the engine's tests: hand-made `CompiledRule`s (the rule loader is not needed to test
 * the engine) and `TrailEvent`s made from REAL CloudTrail records with a new time and id.
 *
 * Only the tests import this file. It is pure (the tests read the fixture file and pass its
 * records in), so it obeys the engine layer's lint rules.
 */
import type { JsonObject, JsonValue, Severity, TrailEvent } from '../core/types.js';
import { parseQuery } from '../query/parse.js';
import type { CompiledQuery } from '../query/types.js';
import type { CompiledCondition, CompiledRule, CompiledTemplate, RuleCase, RuleOptions, RuleQuery, TemplateContext } from '../rules/model.js';

/** Where the Stratus user-data detonation lives, relative to this folder. */
export const STRATUS_USER_DATA_FIXTURE = '../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json';

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The real records of the attack, by role. `describe` is one of its DescribeInstances polls. */
export interface AttackRecords {
  readonly stop: JsonObject;
  readonly modify: JsonObject;
  readonly start: JsonObject;
  readonly describe: JsonObject;
  readonly all: readonly JsonObject[];
}

/** Pick the attack's records out of the parsed fixture file (a JSON array, newest first). */
export function attackRecords(parsed: unknown): AttackRecords {
  if (!Array.isArray(parsed)) throw new Error('the Stratus fixture is not a JSON array');
  const all = parsed.filter(isJsonObject);
  const find = (name: string): JsonObject => {
    const found = all.find((r) => r.eventName === name);
    if (!found) throw new Error(`the Stratus fixture has no ${name} record`);
    return found;
  };
  return { stop: find('StopInstances'), modify: find('ModifyInstanceAttribute'), start: find('StartInstances'), describe: find('DescribeInstances'), all };
}

export const T0 = Date.parse('2024-08-01T12:00:00Z');

/** Milliseconds after T0. */
export function at(seconds: number, extraMs = 0): number {
  return T0 + seconds * 1000 + extraMs;
}

export interface EventSpec {
  /** Event time in epoch ms. */
  readonly time: number;
  /** eventID; null for an event without one (the key is then `key`). */
  readonly id: string | null;
  readonly key?: string;
  /** Top-level fields replaced on the copy (e.g. another `userIdentity`). */
  readonly patch?: JsonObject;
}

/**
 * A TrailEvent from a copy of a real record: eventTime and eventID replaced, `evt.name` derived
 * as the normaliser does, then `patch` applied.
 */
export function eventFrom(record: JsonObject, spec: EventSpec): TrailEvent {
  const fields = structuredClone(record);
  const iso = new Date(spec.time).toISOString();
  fields.eventTime = iso;
  if (spec.id === null) delete fields.eventID;
  else fields.eventID = spec.id;
  fields.evt = { name: typeof record.eventName === 'string' ? record.eventName : '' };
  for (const [k, v] of Object.entries(spec.patch ?? {})) fields[k] = v;
  const key = spec.key ?? spec.id ?? `key-${iso}`;
  return { fields, time: spec.time, key, ...(spec.id === null ? {} : { eventId: spec.id }), origin: { source: 'test', index: 0 } };
}

/** A copy of the record's userIdentity with another user name and ARN: a second caller. */
export function otherUser(record: JsonObject, userName: string): JsonObject {
  const identity = isJsonObject(record.userIdentity) ? structuredClone(record.userIdentity) : {};
  identity.userName = userName;
  identity.arn = `arn:aws:iam::309303190113:user/${userName}`;
  return { userIdentity: identity };
}

/** A query that matches events whose `eventName` is one of `names`; its AST names them, so it is indexable. */
export function eventNameQuery(names: readonly string[]): CompiledQuery {
  const text = names.map((n) => `@evt.name:${n}`).join(' OR ');
  const parsed = parseQuery(text);
  if (!parsed.ok) throw new Error(`test query does not parse: ${text}`);
  return { text, ast: parsed.value, matches: (fields) => typeof fields.eventName === 'string' && names.includes(fields.eventName) };
}

/** A query on the caller type only: no event name is provable, so the rule is unindexed. */
export function callerTypeQuery(type: string): CompiledQuery {
  const text = `@userIdentity.type:${type}`;
  const parsed = parseQuery(text);
  if (!parsed.ok) throw new Error(`test query does not parse: ${text}`);
  return { text, ast: parsed.value, matches: (fields) => isJsonObject(fields.userIdentity) && fields.userIdentity.type === type };
}

export function ruleQuery(name: string, query: CompiledQuery, groupByFields: readonly string[] = ['@userIdentity.arn'], hasOptionalGroupByFields = false): RuleQuery {
  return { name, query, aggregation: 'count', groupByFields, distinctFields: [], hasOptionalGroupByFields };
}

/** `a > 0 && b > 0 && …` over the given queries. */
export function allPositive(names: readonly string[]): CompiledCondition {
  return { text: names.map((n) => `${n} > 0`).join(' && '), queryNames: names, holds: (counts) => names.every((n) => (counts[n] ?? 0) > 0) };
}

/** `name >= n`. */
export function atLeast(name: string, n: number): CompiledCondition {
  return { text: `${name} >= ${n}`, queryNames: [name], holds: (counts) => (counts[name] ?? 0) >= n };
}

export function ruleCase(name: string, status: Severity, condition: CompiledCondition): RuleCase {
  return { name, status, condition };
}

function read(value: JsonValue | null | undefined, path: readonly string[]): string {
  let current: JsonValue | null | undefined = value;
  for (const part of path) current = isJsonObject(current) ? current[part] : undefined;
  return current === undefined ? '' : typeof current === 'string' ? current : JSON.stringify(current);
}

/** A template that renders every context value, so tests can see what the engine passed. */
export const CONTEXT_TEMPLATE: CompiledTemplate = {
  source: 'test template',
  render: (c: TemplateContext) =>
    [
      `rule=${c.ruleName}`,
      `case=${c.caseName}`,
      `user=${read(c.event, ['userIdentity', 'arn'])}`,
      `event=${read(c.event, ['eventName'])}`,
      `eventID=${read(c.event, ['eventID'])}`,
      `matched=${c.eventsMatched}`,
      `first=${c.firstSeen}`,
      `last=${c.lastSeen}`,
      `host=${c.host ?? '-'}`,
    ].join(' '),
};

export const TITLE_TEMPLATE: CompiledTemplate = { source: 'title', render: (c) => `${c.ruleName} [${c.caseName}]` };

export interface RuleSpec {
  readonly id?: string;
  readonly name?: string;
  readonly isEnabled?: boolean;
  readonly tags?: readonly string[];
  readonly queries?: readonly RuleQuery[];
  readonly groupByFields?: readonly string[];
  readonly hasOptionalGroupByFields?: boolean;
  readonly cases?: readonly RuleCase[];
  readonly options?: Partial<RuleOptions>;
  readonly message?: CompiledTemplate;
  readonly title?: CompiledTemplate;
}

/** The flagship's three queries (Stop, Modify, Start) by default. */
export const ATTACK_QUERIES: readonly RuleQuery[] = [
  ruleQuery('stop_instance', eventNameQuery(['StopInstances'])),
  ruleQuery('modify_instance_attribute', eventNameQuery(['ModifyInstanceAttribute'])),
  ruleQuery('start_instance', eventNameQuery(['StartInstances'])),
];

/** A threshold rule shaped like bd9-8o0-553 unless told otherwise. */
export function thresholdRule(spec: RuleSpec = {}): CompiledRule {
  const queries = spec.queries ?? ATTACK_QUERIES;
  return {
    id: spec.id ?? 'test-ec2-user-data',
    name: spec.name ?? 'EC2 instance user data modified',
    isEnabled: spec.isEnabled ?? true,
    tags: spec.tags ?? ['source:cloudtrail', 'security:attack'],
    message: spec.message ?? CONTEXT_TEMPLATE,
    title: spec.title ?? TITLE_TEMPLATE,
    queries,
    groupByFields: spec.groupByFields ?? ['@userIdentity.arn'],
    hasOptionalGroupByFields: spec.hasOptionalGroupByFields ?? false,
    cases: spec.cases ?? [ruleCase('attack', 'low', allPositive(queries.map((q) => q.name)))],
    options: { detectionMethod: 'threshold', evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 86400, ...spec.options },
    file: 'test/rules/test.yaml',
  };
}
