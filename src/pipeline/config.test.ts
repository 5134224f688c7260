import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SourcePosition } from '../core/types.js';
import { CONFIG_DIAGNOSTIC_CODES, loadConfig } from './config.js';

const NOW = Date.UTC(2026, 0, 1);

function load(text: string, path = 'trailhound.yaml'): ReturnType<typeof loadConfig> {
  return loadConfig({ path, text }, NOW);
}

const GOOD = `environments:
  "111122223333": production
  "444455556666": ' staging '
defaultEnvironment: production
suppressions:
  - ruleId: bd9-8o0-553
    reason: the build bot
`;

describe('loadConfig: good files', () => {
  it('reads environments, the default and the suppressions', () => {
    const result = load(GOOD);
    expect(result.diagnostics).toEqual([]);
    if (!result.ok) throw new Error('expected a config');
    expect(result.value.environments).toEqual({ environments: { '111122223333': 'production', '444455556666': 'staging' }, defaultEnvironment: 'production' });
    expect(result.value.suppressions.map((s) => [s.ruleIds, s.reason, s.source])).toEqual([[['bd9-8o0-553'], 'the build bot', 'trailhound.yaml:6:5']]);
  });

  it.each([
    { name: 'an empty file', text: '' },
    { name: 'a comment only', text: '# nothing\n' },
    { name: 'an empty mapping', text: '{}\n' },
  ])('reads $name as the empty configuration', ({ text }) => {
    const result = load(text);
    expect(result.ok && result.value).toEqual({ environments: {}, suppressions: [], sinks: [] });
  });

  it('reads the same configuration from JSON', () => {
    const json = JSON.stringify({ environments: { '111122223333': 'production' }, suppressions: [{ ruleQuery: '*', reason: 'r' }] });
    const result = load(json, 'trailhound.json');
    expect(result.ok && result.value.environments).toEqual({ environments: { '111122223333': 'production' } });
  });

  it('keeps warnings (an expired entry) with the configuration', () => {
    const result = load('suppressions:\n  - ruleId: x\n    reason: r\n    expires: 2025-01-01\n');
    expect(result.ok).toBe(true);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['W_SUPPRESSION_EXPIRED']);
    expect(result.ok && result.value.suppressions).toEqual([]);
  });
});

describe('loadConfig: every problem, with its position', () => {
  const rows: { name: string; text: string; code: string; path?: string; position?: SourcePosition; hint?: RegExp }[] = [
    { name: 'a YAML syntax error', text: 'environments: {"111122223333": prod\n', code: 'E_CONFIG_SYNTAX', hint: /syntax/ },
    { name: 'two documents', text: 'defaultEnvironment: a\n---\ndefaultEnvironment: b\n', code: 'E_CONFIG_SYNTAX', position: { line: 3, column: 1 }, hint: /one mapping/ },
    { name: 'a list instead of a mapping', text: '- a\n', code: 'E_CONFIG_SCHEMA', position: { line: 1, column: 1 } },
    { name: 'an environment that is not a string', text: 'environments:\n  "111122223333": 3\n', code: 'E_CONFIG_SCHEMA', path: 'environments["111122223333"]', position: { line: 2, column: 19 } },
    { name: 'an empty environment name', text: "environments:\n  \"111122223333\": ''\n", code: 'E_CONFIG_SCHEMA', path: 'environments["111122223333"]' },
    { name: 'a misspelt field', text: 'enviroments: {}\n', code: 'E_CONFIG_UNKNOWN_FIELD', path: 'enviroments', position: { line: 1, column: 1 }, hint: /did you mean 'environments'/ },
    { name: 'an account id YAML read as a number', text: 'environments:\n  012345678901: production\n', code: 'E_CONFIG_ACCOUNT', path: 'environments["12345678901"]', position: { line: 2, column: 3 }, hint: /quote the account id/ },
    { name: 'an account alias instead of an id', text: 'environments:\n  prod-account: production\n', code: 'E_CONFIG_ACCOUNT', path: 'environments["prod-account"]', hint: /12-digit/ },
    { name: 'a bad suppression entry', text: 'suppressions:\n  - ruleId: x\n', code: 'E_SUPPRESSION_SCHEMA', path: 'suppressions[0].reason', position: { line: 2, column: 5 } },
  ];

  it.each(rows)('$name gives $code and no configuration', ({ text, code, path, position, hint }) => {
    const result = load(text);
    expect(result.ok).toBe(false);
    const found = result.diagnostics.find((d) => d.code === code);
    expect(found, JSON.stringify(result.diagnostics)).toBeDefined();
    expect(found?.severity).toBe('error');
    expect(found?.file).toBe('trailhound.yaml');
    if (path !== undefined) expect(found?.path).toBe(path);
    if (position !== undefined) expect(found?.position).toEqual(position);
    if (hint !== undefined) expect(found?.hint).toMatch(hint);
  });

  it('covers every code the loader can give (E_CONFIG_PATH comes from the CLI)', () => {
    const tested = new Set(rows.map((r) => r.code));
    expect(Object.keys(CONFIG_DIAGNOSTIC_CODES).filter((c) => !tested.has(c) && c !== 'E_CONFIG_PATH')).toEqual([]);
  });

  it('reports problems of the environments and of the suppressions together', () => {
    const result = load('environments:\n  "1": production\ncolour: red\nsuppressions:\n  - reason: r\n');
    expect(result.diagnostics.map((d) => d.code).sort()).toEqual(['E_CONFIG_ACCOUNT', 'E_CONFIG_UNKNOWN_FIELD', 'E_SUPPRESSION_NO_RULE']);
  });
});

describe('docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  it('lists every config diagnostic code with its severity', () => {
    const rows = new Map([...doc.matchAll(/^\| `([EW]_[A-Z_]+)` \| (error|warning) \|/gm)].map((m) => [m[1], m[2]]));
    expect(rows).toEqual(new Map(Object.entries(CONFIG_DIAGNOSTIC_CODES).map(([code, info]) => [code, info.severity])));
  });

  it('shows a configuration file that loads without a diagnostic', () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(block).toMatch(/^environments:/m);
    expect(load(block).diagnostics).toEqual([]);
  });
});
