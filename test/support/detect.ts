/**
 * Test support: run the real pipeline pieces (rule loader, normaliser, engine) over in-memory records,
 * and read real fixture records. Used by the scenario and e2e suites.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Signal } from '../../src/core/types.js';
import { createEngine } from '../../src/engine/engine.js';
import { normaliseRecord } from '../../src/normalise/normalise.js';
import { loadRules } from '../../src/rules/load.js';
import type { CompiledRule } from '../../src/rules/model.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'cloudtrail');

export type Rec = Record<string, unknown>;

/** The built-in rules, loaded as the CLI loads them (fails the test on any rule error). */
export function builtinRules(): CompiledRule[] {
  const dir = join(REPO_ROOT, 'rules');
  const files = readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .map((f) => ({ path: `rules/${f}`, text: readFileSync(join(dir, f), 'utf8') }));
  const loaded = loadRules(files);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`built-in rules have errors: ${JSON.stringify(errors)}`);
  return loaded.rules;
}

/** Normalise and detect over records; records that fail normalisation are skipped (and counted). */
export function detect(records: readonly unknown[], rules: readonly CompiledRule[] = builtinRules()): Signal[] {
  const engine = createEngine(rules);
  records.forEach((value, index) => {
    const n = normaliseRecord(value, { source: 'test', index });
    if (n.ok) engine.ingest(n.event);
  });
  engine.finish();
  return engine.signals();
}

export function readJson(relativePath: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, relativePath), 'utf8'));
}

/** Records of a fixture file of any of the shapes in the fixtures folder. */
export function fixtureRecords(relativePath: string): Rec[] {
  const value = readJson(relativePath);
  if (Array.isArray(value)) return value as Rec[];
  if (value && typeof value === 'object' && Array.isArray((value as { Records?: unknown }).Records)) return (value as { Records: Rec[] }).Records;
  return [value as Rec];
}

/** The three records of the real Stratus user-data attack, oldest first: Stop, Modify, Start. */
export function stratusAttack(): { stop: Rec; modify: Rec; start: Rec; all: Rec[] } {
  const all = fixtureRecords('stratus-detonation-logs/aws.execution.ec2-user-data.json');
  const find = (name: string) => {
    const r = all.find((x) => x.eventName === name);
    if (!r) throw new Error(`fixture lacks ${name}`);
    return structuredClone(r);
  };
  return { stop: find('StopInstances'), modify: find('ModifyInstanceAttribute'), start: find('StartInstances'), all };
}

/** A copy of `base` with `patch` applied (top-level keys replaced) and a fresh eventID. */
export function variant(base: Rec, patch: Rec, id: string): Rec {
  return { ...structuredClone(base), ...structuredClone(patch), eventID: id };
}

export function at(base: Rec, isoTime: string, id: string, patch: Rec = {}): Rec {
  return variant(base, { ...patch, eventTime: isoTime }, id);
}

export function allFixtureFiles(dir = FIXTURES): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...allFixtureFiles(p));
    else if (/\.json(\.cloudtrail)?$/.test(entry.name)) out.push(p);
  }
  return out;
}
