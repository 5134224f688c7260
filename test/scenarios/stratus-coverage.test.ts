/**
 * The pack against whole corpora: every Stratus Red Team detonation should raise something, and the
 * two flagship rules must stay silent on the corpora that hold no user-data attack.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, allFixtureFiles, builtinRules, detect, fixtureRecords } from '../support/detect.js';

const rules = builtinRules();
const FLAGSHIPS = new Set(['bd9-8o0-553', 'aws-ec2-user-data-modified-then-started']);
const stratusFiles = readdirSync(join(FIXTURES, 'stratus-detonation-logs')).filter((f) => f.endsWith('.json'));

describe('Stratus Red Team coverage', () => {
  const raised = new Map(stratusFiles.map((f) => [f, new Set(detect(fixtureRecords(`stratus-detonation-logs/${f}`), rules).map((s) => s.ruleId))]));

  it('the corpus holds the 35 detonations', () => {
    expect(stratusFiles).toHaveLength(35);
  });

  it('at least 30 of the 35 detonations raise a signal from the pack', () => {
    const silent = [...raised].filter(([, ids]) => ids.size === 0).map(([f]) => f);
    expect(stratusFiles.length - silent.length, `silent: ${silent.join(', ')}`).toBeGreaterThanOrEqual(30);
  });

  it('the user-data detonation raises both flagship rules', () => {
    const ids = raised.get('aws.execution.ec2-user-data.json');
    expect([...(ids ?? [])].filter((id) => FLAGSHIPS.has(id)).sort()).toEqual([...FLAGSHIPS].sort());
  });

  it('no other detonation raises a flagship rule', () => {
    const others = [...raised].filter(([f, ids]) => f !== 'aws.execution.ec2-user-data.json' && [...ids].some((id) => FLAGSHIPS.has(id)));
    expect(others.map(([f]) => f)).toEqual([]);
  });
});

describe('flagship rules on corpora without the attack', () => {
  it.each(['invictus-aws-dataset', 'traildiscover-log-examples'])('%s raises no flagship signal', (corpus) => {
    const files = allFixtureFiles(join(FIXTURES, corpus));
    const records = files.flatMap((f) => fixtureRecords(relative(FIXTURES, f)));
    expect(records.length).toBeGreaterThan(500);
    const flagship = detect(records, rules).filter((s) => FLAGSHIPS.has(s.ruleId));
    expect(flagship).toEqual([]);
  });
});
