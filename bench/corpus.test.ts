/**
 * The benchmark corpus generator, on a tiny corpus: the same seed gives the same bytes, files follow
 * the organization-trail S3 layout, the record count is exact, and the real pipeline (runScan with
 * the built-in rules) raises exactly the bd9-8o0-553 signals that truth.json promises.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../src/core/types.js';
import { runScan } from '../src/pipeline/scan.js';
import type { InputProblem } from '../src/pipeline/scan.js';
import { builtinRules } from '../test/support/detect.js';
import { writeCorpus } from './corpus.js';
import type { Corpus } from './corpus.js';
import { isFlagshipCall } from './ec2-calls.js';
import { corpusParams, fileSizes } from './plan.js';
import { Rng } from './rng.js';
import { DATADOG_RULE_ID, SCENARIO_KINDS } from './scenarios.js';

const TINY = corpusParams(2000, { seed: 'corpus-test', minRecordsPerFile: 100, maxRecordsPerFile: 300 });
const LAYOUT =
  /^AWSLogs\/o-[a-z0-9]{10}\/(\d{12})\/CloudTrail\/([a-z]{2}-[a-z]+-\d)\/(\d{4})\/(\d{2})\/(\d{2})\/\1_CloudTrail_\2_\3\4\5T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$/;

type Rec = Record<string, unknown>;

let work: string;
let corpus: Corpus;
let again: Corpus;
let otherSeed: Corpus;
let records: Map<string, Rec[]>;
let scan: { signals: readonly Signal[]; problems: InputProblem[] };

async function filesOf(c: Corpus): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of c.manifest.files) out.set(f.relPath, await readFile(join(c.dir, f.relPath)));
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'trailhound-bench-test-'));
  corpus = await writeCorpus(TINY, join(work, 'a'), { workers: 0 });
  again = await writeCorpus(TINY, join(work, 'b'), { workers: 0 });
  otherSeed = await writeCorpus({ ...TINY, seed: 'corpus-test-2' }, join(work, 'c'), { workers: 0 });
  records = new Map();
  for (const [path, bytes] of await filesOf(corpus)) {
    const doc = JSON.parse(gunzipSync(bytes).toString('utf8')) as { Records: Rec[] };
    records.set(path, doc.Records);
  }
  const problems: InputProblem[] = [];
  const result = await runScan({ paths: [corpus.logsDir], rules: builtinRules(), onProblem: (p) => problems.push(p) });
  scan = { signals: result.signals, problems };
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const allRecords = () => [...records.values()].flat();
const field = (r: Rec, key: string) => r[key];

describe('determinism', () => {
  it('the same seed writes the same files, byte for byte, and the same truth', async () => {
    const a = await filesOf(corpus);
    const b = await filesOf(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [path, bytes] of a) expect(b.get(path)?.equals(bytes), path).toBe(true);
    expect(await readFile(join(again.dir, 'truth.json'), 'utf8')).toBe(await readFile(join(corpus.dir, 'truth.json'), 'utf8'));
  });

  it('another seed writes other files', async () => {
    const a = await filesOf(corpus);
    const c = await filesOf(otherSeed);
    expect([...c.keys()].some((path) => a.has(path))).toBe(false);
    expect(otherSeed.truth.flagshipCallIds).not.toEqual(corpus.truth.flagshipCallIds);
  });
});

describe('layout and counts', () => {
  it('names every file as an organization trail in S3 does, under the account and region of its records', () => {
    expect(records.size).toBeGreaterThan(1);
    for (const [path, list] of records) {
      const m = LAYOUT.exec(path);
      expect(m, path).not.toBeNull();
      for (const r of list) {
        expect(field(r, 'recipientAccountId')).toBe(m?.[1]);
        expect(field(r, 'awsRegion')).toBe(m?.[2]);
      }
    }
  });

  it('keeps each file a time-ordered 5-minute chunk within the records-per-file bounds', () => {
    for (const [path, list] of records) {
      expect(list.length).toBeGreaterThanOrEqual(TINY.minRecordsPerFile);
      expect(list.length).toBeLessThanOrEqual(TINY.maxRecordsPerFile);
      const times = list.map((r) => Date.parse(String(field(r, 'eventTime'))));
      expect(times.every((t, i) => i === 0 || t >= (times[i - 1] ?? t)), path).toBe(true);
      expect((times[times.length - 1] ?? 0) - (times[0] ?? 0)).toBeLessThan(5 * 60 * 1000);
    }
  });

  it('writes exactly the records asked for, each with its own eventID, and says so in corpus.json', () => {
    const all = allRecords();
    expect(all).toHaveLength(TINY.records);
    expect(corpus.manifest.records).toBe(TINY.records);
    expect(new Set(all.map((r) => field(r, 'eventID'))).size).toBe(TINY.records);
    const declared = corpus.manifest.files.reduce((n, f) => n + f.records, 0);
    expect(declared).toBe(TINY.records);
  });

  it('mixes identity types, mostly read-only calls and some failed ones, about 1.5 KB a record', () => {
    const all = allRecords();
    const types = new Set(all.map((r) => (r['userIdentity'] as Rec | undefined)?.['type']));
    for (const t of ['IAMUser', 'AssumedRole', 'AWSService']) expect(types.has(t), t).toBe(true);
    const readOnly = all.filter((r) => r['readOnly'] === true).length / all.length;
    expect(readOnly).toBeGreaterThan(0.6);
    const failed = all.filter((r) => typeof r['errorCode'] === 'string').length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBe(corpus.manifest.failedCalls);
    const perRecord = corpus.manifest.uncompressedBytes / all.length;
    expect(perRecord).toBeGreaterThan(1200);
    expect(perRecord).toBeLessThan(1900);
  });
});

describe('planted truth', () => {
  it('plants every scenario kind once in a tiny corpus', () => {
    expect(corpus.truth.skippedScenarios).toEqual([]);
    expect(corpus.truth.scenarios.map((s) => s.kind).sort()).toEqual(SCENARIO_KINDS.map((k) => k.name).sort());
  });

  it('lists as flagship calls exactly the records the flagship filter selects', () => {
    const selected = allRecords()
      .filter(isFlagshipCall)
      .map((r) => String(field(r, 'eventID')))
      .sort();
    expect(selected).toEqual(corpus.truth.flagshipCallIds);
  });

  it('reads every file without a bad-input report', () => {
    expect(scan.problems).toEqual([]);
  });

  it('the real pipeline raises exactly the planted bd9-8o0-553 signals', () => {
    const got = scan.signals
      .filter((s) => s.ruleId === DATADOG_RULE_ID)
      .map((s) => JSON.stringify(s.group))
      .sort();
    const expected = corpus.truth.expectedSignals
      .filter((e) => e.ruleId === DATADOG_RULE_ID)
      .map((e) => JSON.stringify(e.group))
      .sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(got).toEqual(expected);
  });

  it.each(SCENARIO_KINDS.map((k) => [k.name, k.firesDatadogRule] as const))('scenario %s: bd9-8o0-553 fires for its first caller: %s', (name, fires) => {
    const scenario = corpus.truth.scenarios.find((s) => s.kind === name);
    const caller = scenario?.events[0]?.callerArn;
    expect(caller).toBeDefined();
    const raised = scan.signals.some((s) => s.ruleId === DATADOG_RULE_ID && s.group['@userIdentity.arn'] === caller);
    expect(raised).toBe(fires);
  });
});

describe('fileSizes', () => {
  it('splits any total into sizes that add up, each within the bounds whenever such a split exists', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300_000 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 4000 }), fc.string(), (total, min, extra, seed) => {
        const max = min + extra;
        const sizes = fileSizes(total, min, max, new Rng(seed));
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
        const feasible = total <= max || Math.floor(total / min) >= Math.ceil(total / max);
        if (feasible && total > max) for (const s of sizes) expect(s >= min && s <= max).toBe(true);
        if (total <= max) expect(sizes).toEqual([total]);
      }),
      { numRuns: 300 },
    );
  });
});
