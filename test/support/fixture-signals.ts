/**
 * Test support: every signal the built-in rules raise on every CloudTrail fixture file (one engine
 * run per file, as `scan` runs a file), loaded once per test file. For the output formats' tests:
 * whatever shapes of signal the rules produce, each must map to a valid document.
 */
import { relative } from 'node:path';
import type { Signal } from '../../src/core/types.js';
import { allFixtureFiles, builtinRules, detect, FIXTURES, fixtureRecords } from './detect.js';

export interface FixtureSignal {
  /** The fixture file, relative to test/fixtures/cloudtrail. */
  readonly file: string;
  readonly signal: Signal;
}

let cached: FixtureSignal[] | undefined;

export function allFixtureSignals(): FixtureSignal[] {
  if (cached !== undefined) return cached;
  const rules = builtinRules();
  const out: FixtureSignal[] = [];
  for (const path of allFixtureFiles()) {
    const file = relative(FIXTURES, path);
    let records: ReturnType<typeof fixtureRecords>;
    try {
      records = fixtureRecords(file);
    } catch {
      continue; // a file that is not JSON (the reader's tests cover those)
    }
    for (const signal of detect(records, rules)) out.push({ file, signal });
  }
  cached = out;
  return out;
}
