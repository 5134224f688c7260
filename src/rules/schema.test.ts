import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { FieldInfo } from './schema.js';
import { CASE_FIELDS, OPTIONS_FIELDS, QUERY_FIELDS, RULE_FIELDS, caseSchema, optionsSchema, querySchema, ruleSchema, ruleTopSchema } from './schema.js';

const TABLES: { name: string; fields: Readonly<Record<string, FieldInfo>>; keys: readonly string[] }[] = [
  { name: 'rule', fields: RULE_FIELDS, keys: Object.keys(ruleTopSchema.shape) },
  { name: 'query', fields: QUERY_FIELDS, keys: Object.keys(querySchema.shape) },
  { name: 'case', fields: CASE_FIELDS, keys: Object.keys(caseSchema.shape) },
  { name: 'options', fields: OPTIONS_FIELDS, keys: Object.keys(optionsSchema.shape) },
];

describe('rule schema field tables', () => {
  it.each(TABLES)('the $name table describes exactly the fields of its schema', ({ fields, keys }) => {
    expect(Object.keys(fields).sort()).toEqual([...keys].sort());
  });

  it.each(TABLES)('in the $name table, a field has a neutral-value test exactly when it is unsupported', ({ fields }) => {
    for (const [key, info] of Object.entries(fields)) {
      expect([key, info.isNeutral !== undefined]).toEqual([key, info.kind === 'unsupported']);
      expect(info.description.length).toBeGreaterThan(10);
    }
  });

  it.each([
    { field: 'filters', neutral: [[], null, undefined], active: [[{ action: 'suppress', query: 'x' }]] },
    { field: 'referenceTables', neutral: [[], null], active: [[{ tableName: 'known_ips', fieldPairs: [] }]] },
    { field: 'schedulingOptions', neutral: [{}, null], active: [{ rrule: 'FREQ=HOURLY' }] },
  ])('treats $field as neutral only when empty', ({ field, neutral, active }) => {
    const isNeutral = RULE_FIELDS[field as keyof typeof RULE_FIELDS].isNeutral;
    for (const value of neutral) expect(isNeutral?.(value)).toBe(true);
    for (const value of active) expect(isNeutral?.(value)).toBe(false);
  });

  it('accepts the logs data source only as neutral', () => {
    expect(QUERY_FIELDS.dataSource.isNeutral?.('logs')).toBe(true);
    expect(QUERY_FIELDS.dataSource.isNeutral?.('audit')).toBe(false);
  });
});

describe('ruleSchema', () => {
  it('accepts the flagship rule as one whole document', () => {
    const document: unknown = parseYaml(readFileSync(new URL('../../rules/bd9-8o0-553.yaml', import.meta.url), 'utf8'));
    const parsed = ruleSchema.safeParse(document);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.queries.map((q) => q.name)).toEqual(['stop_instance', 'modify_instance_attribute', 'start_instance']);
  });

  it.each([
    { name: 'a string window', patch: { options: { evaluationWindow: '900', keepAlive: 3600, maxSignalDuration: 3600 } }, path: ['options', 'evaluationWindow'] },
    { name: 'an unknown severity', patch: { cases: [{ status: 'urgent', condition: 'a > 0' }] }, path: ['cases', 0, 'status'] },
    { name: 'an unknown aggregation', patch: { queries: [{ query: 'x', aggregation: 'avg' }] }, path: ['queries', 0, 'aggregation'] },
  ])('refuses $name', ({ patch, path }) => {
    const base = { name: 'r', queries: [{ query: 'x' }], cases: [{ status: 'low', condition: 'a > 0' }], options: { evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 3600 } };
    expect(ruleSchema.safeParse(base).success).toBe(true);
    const parsed = ruleSchema.safeParse({ ...base, ...patch });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path)).toContainEqual(path);
  });
});
