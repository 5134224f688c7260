import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_RULES_DIR, loadRuleFiles } from '../cli/rule-files.js';
import type { CompiledRule } from '../rules/model.js';
import type { ReadDiagnostic } from '../sources/source.js';
import { runScan } from './scan.js';
import { readForScan } from './scan-read.js';
import type { ScanOptions, ScanResult } from './scan.js';
import { survivesJson } from './event-spill.js';
import { useScratch } from '../../test/support/scratch.js';
import { createEngine } from '../engine/engine.js';
import { normaliseRecord } from '../normalise/normalise.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));
type Rec = Record<string, unknown>;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full));
    else if (!name.endsWith('.md')) out.push(full);
  }
  return out;
}

const { freshDir, put } = useScratch('scan-read');

let rules: readonly CompiledRule[] = [];
beforeAll(async () => {
  const loaded = await loadRuleFiles([BUILTIN_RULES_DIR]);
  rules = loaded.rules;
});

interface Outcome {
  readonly result: ScanResult;
  readonly problems: ReadDiagnostic[];
}

async function scan(paths: string[], extra: Partial<ScanOptions> = {}): Promise<Outcome> {
  const problems: ReadDiagnostic[] = [];
  const result = await runScan({ paths, rules, onProblem: (p) => problems.push(p), now: () => 0, ...extra });
  return { result, problems };
}

/** Everything a scan reports, for comparison (the duration is the injected clock's: 0). */
function observable(outcome: Outcome): unknown {
  return { signals: outcome.result.signals, suppressed: outcome.result.suppressedSignals, summary: outcome.result.summary, problems: outcome.problems };
}

const stratusFile = join(FIXTURES, 'stratus-detonation-logs/aws.execution.ec2-user-data.json');
const attack = JSON.parse(readFileSync(stratusFile, 'utf8')) as Rec[];
const invictusDir = join(FIXTURES, 'invictus-aws-dataset/CloudTrail');
const invictusFiles = filesUnder(invictusDir);

describe('the prefilter changes nothing but speed', () => {
  it('on every fixture file, one by one', async () => {
    const files = filesUnder(FIXTURES);
    expect(files.length).toBeGreaterThan(600);
    let signals = 0;
    for (const file of files) {
      const full = await scan([file], { isPrefilterEnabled: false });
      const fast = await scan([file], { isPrefilterEnabled: true });
      expect(observable(fast), file).toEqual(observable(full));
      signals += full.result.signals.length;
    }
    expect(signals).toBeGreaterThan(10);
  });

  it('on the whole fixture tree at once, where some records are skipped unparsed', async () => {
    const full = await scan([FIXTURES], { isPrefilterEnabled: false });
    const fast = await scan([FIXTURES], { isPrefilterEnabled: true });
    expect(observable(fast)).toEqual(observable(full));
    expect(full.result.summary.records).toBe(310 + 2900 + 563 + 9 + 10);
    const counted = await readForScan({ paths: [invictusDir], rules, threads: 1 }, { event: () => undefined, problem: () => undefined });
    expect(counted.records).toBe(2900);
    // Nearly all of these are an IAM user's calls, which ec2-instance-credentials-used-elsewhere
    // matches; the service calls are skipped.
    expect(counted.prefiltered).toBeGreaterThan(50);
    expect(counted.events).toBe(counted.records);
  });

  /** Log files holding the attack, written in ways that must not fool the prefilter. */
  const variants: { shape: string; text: () => string; hasAttack?: false }[] = [
    { shape: 'records as CloudTrail writes them', text: () => JSON.stringify({ Records: attack }) },
    { shape: 'keys in reverse order', text: () => JSON.stringify({ Records: attack.map((r) => Object.fromEntries(Object.entries(r).reverse())) }) },
    { shape: 'every eventName unicode-escaped', text: () => JSON.stringify({ Records: attack }).replace(/"eventName":"(.)/g, (_, c: string) => `"eventName":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) },
    { shape: 'the key eventName unicode-escaped', text: () => JSON.stringify({ Records: attack }).replaceAll('"eventName"', '"event\\u004eame"') },
    { shape: 'blanks around every colon', text: () => JSON.stringify({ Records: attack }, null, ' ').replace(/\n\s*/g, ' ') },
    { shape: 'pretty-printed', text: () => JSON.stringify({ Records: attack }, null, 2) },
    { shape: 'a huge record between the attack records', text: () => JSON.stringify({ Records: [attack[0], { ...attack[1], pad: 'x'.repeat(3_000_000) }, ...attack.slice(2)] }) },
    {
      shape: 'the real names hidden behind decoy duplicate keys',
      text: () => `{"Records":[${attack.map((r) => JSON.stringify({ eventName: 'DescribeInstances', ...r })).join(',')}]}`,
    },
    {
      shape: 'the decoy name last, after the real one (JSON keeps the last)',
      text: () => `{"Records":[${attack.map((r) => JSON.stringify(r).replace(/}$/, ',"eventName":"DescribeInstances"}')).join(',')}]}`,
      hasAttack: false,
    },
    {
      shape: 'literals of the rules inside nested JSON strings of other records',
      text: () => JSON.stringify({ Records: [...attack, ...attack.slice(0, 5).map((r) => ({ ...r, eventName: 'DescribeTags', requestParameters: { doc: JSON.stringify(r) } }))] }),
    },
    { shape: 'nested Records', text: () => JSON.stringify({ Records: [{ Records: attack.slice(0, 3) }, ...attack] }) },
    { shape: 'shuffled records', text: () => JSON.stringify({ Records: [...attack].sort((a, b) => String(a.eventID).localeCompare(String(b.eventID))) }) },
  ];

  it.each(variants)('$shape: the same signals', async ({ text, hasAttack }) => {
    const dir = freshDir();
    const body = text();
    const paths = [put(dir, 'plain.json', body), put(dir, 'zipped.json.gz', gzipSync(body))];
    const full = await scan(paths, { isPrefilterEnabled: false });
    const fast = await scan(paths, { isPrefilterEnabled: true });
    expect(observable(fast)).toEqual(observable(full));
    expect(full.result.signals.some((s) => s.ruleId === 'bd9-8o0-553')).toBe(hasAttack ?? true);
  });

  it('records cut across chunk boundaries anywhere (stdin in random pieces, property)', async () => {
    const body = Buffer.from(JSON.stringify({ Records: [...invictusFiles.slice(0, 2).flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { Records: Rec[] }).Records), ...attack] }));
    const reference = await scan(['-'], { isPrefilterEnabled: false, stdin: Readable.from([body]) });
    expect(reference.result.signals.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(body.length), { maxLength: 40 }), async (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const at of points) {
          pieces.push(body.subarray(from, at));
          from = at;
        }
        pieces.push(body.subarray(from));
        const fast = await scan(['-'], { isPrefilterEnabled: true, stdin: Readable.from(pieces.filter((p) => p.length > 0)) });
        expect(observable(fast)).toEqual(observable(reference));
      }),
      { numRuns: 25 },
    );
  });
});

describe('worker threads change nothing but speed', () => {
  /** A multi-file corpus: log files plain and gzipped, arrays, JSON lines, and bad files. */
  function corpus(): string {
    const dir = freshDir();
    invictusFiles.forEach((file, i) => {
      const text = readFileSync(file);
      if (i % 2 === 0) put(dir, `AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/${String(i).padStart(3, '0')}.json.gz`, gzipSync(text));
      else put(dir, `AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/${String(i).padStart(3, '0')}.json`, text);
    });
    put(dir, 'attack/stratus.json', readFileSync(stratusFile));
    put(dir, 'attack/lines.jsonl.gz', gzipSync(attack.map((r) => JSON.stringify(r)).join('\n')));
    const gz = gzipSync(readFileSync(invictusFiles[0] ?? ''));
    put(dir, 'bad/cut.json.gz', gz.subarray(0, gz.length >> 1));
    put(dir, 'bad/not-json.json', 'hello');
    put(dir, 'bad/empty.json', '');
    put(dir, 'bad/archive.zip', readFileSync(join(FIXTURES, 'otrf-security-datasets/ec2_proxy_s3_exfiltration.zip')));
    put(dir, 'bad/mixed.json', `{"Records":[${JSON.stringify(attack[0])},{"x":tru},${JSON.stringify(attack[1])},7,{"eventName":"A"}]}`);
    put(dir, 'AWSLogs/111122223333/CloudTrail-Digest/us-east-1/d.json.gz', 'digest');
    return dir;
  }

  it.each([{ isPrefilterEnabled: true }, { isPrefilterEnabled: false }])('1, 2 and 3 threads give the same signals, ids, summary and diagnostics in the same order (prefilter $isPrefilterEnabled)', async ({ isPrefilterEnabled }) => {
    const dir = corpus();
    const paths = [dir, join(dir, 'missing.json')];
    const one = await scan(paths, { threads: 1, isPrefilterEnabled });
    expect(one.result.signals.length).toBeGreaterThan(0);
    expect(one.problems.map((p) => p.code)).toEqual(expect.arrayContaining(['E_READ_GZIP', 'E_READ_JSON', 'E_READ_EMPTY', 'E_READ_UNSUPPORTED', 'E_READ_NOT_CLOUDTRAIL', 'E_RECORD_NO_TIME', 'E_READ_IO']));
    expect(one.result.summary.skippedFiles).toBe(1);
    for (const threads of [2, 3]) {
      const many = await scan(paths, { threads, isPrefilterEnabled });
      expect(observable(many)).toEqual(observable(one));
    }
  });

  it('stdin among files is read in its turn', async () => {
    const dir = corpus();
    const stdin = () => Readable.from([gzipSync(JSON.stringify({ Records: attack }))]);
    const paths = [join(dir, 'AWSLogs'), '-', join(dir, 'attack'), '-'];
    const one = await scan(paths, { threads: 1, stdin: stdin() });
    const two = await scan(paths, { threads: 2, stdin: stdin() });
    expect(observable(two)).toEqual(observable(one));
    expect(one.problems.filter((p) => p.source === '-').map((p) => p.code)).toEqual(['E_READ_IO']);
  });

  it('a value JSON cannot carry exactly comes across threads intact', async () => {
    expect(survivesJson({ a: [1, { b: 2.5 }], c: 'x' })).toBe(true);
    expect(survivesJson({ a: [1, { b: -0 }] })).toBe(false);
    expect(survivesJson({ a: Number.POSITIVE_INFINITY })).toBe(false);
    // A record of the root user (the root-user-activity rule matches it) with odd numbers in it.
    const record = attack.find((r) => r.eventName === 'StopInstances') ?? {};
    const root = JSON.stringify({ ...record, userIdentity: { type: 'Root', arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333' } }).replace(/}$/, ',"big":1e400,"negative":-0}');
    const dir = freshDir();
    const paths = [put(dir, 'a.json', `{"Records":[${root}]}`), put(dir, 'b.json', JSON.stringify({ Records: attack }))];
    const one = await scan(paths, { threads: 1 });
    const two = await scan(paths, { threads: 2 });
    expect(one.result.signals.some((s) => s.ruleId === 'root-user-activity')).toBe(true);
    expect(observable(two)).toEqual(observable(one));
  });
});

describe('the ordering buffer and the field projection change nothing but memory', () => {
  it('spilling after a few dozen events, with runs merged early, gives the same results on the whole fixture tree', async () => {
    const reference = await scan([FIXTURES]);
    expect(reference.result.signals.length).toBeGreaterThan(10);
    const spilled = await scan([FIXTURES], { spill: { maxBufferedEvents: 40, maxOpenRuns: 3 } });
    expect(observable(spilled)).toEqual(observable(reference));
    const spilledThreads = await scan([FIXTURES], { threads: 2, spill: { maxBufferedEvents: 25, maxOpenRuns: 4 } });
    expect(observable(spilledThreads)).toEqual(observable(reference));
  }, 120_000);

  it('the engine raises the same signals from projected and from whole fields, on every fixture record', () => {
    const records = filesUnder(FIXTURES)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => {
        const value: unknown = JSON.parse(readFileSync(f, 'utf8'));
        if (Array.isArray(value)) return value as unknown[];
        if (typeof value === 'object' && value !== null && Array.isArray((value as { Records?: unknown }).Records)) return (value as { Records: unknown[] }).Records;
        return [value];
      });
    expect(records.length).toBeGreaterThan(3000);
    const run = (isProjectingFields: boolean): unknown => {
      const engine = createEngine(rules, { isProjectingFields });
      records.forEach((value, index) => {
        const n = normaliseRecord(value, { source: 'fixtures', index });
        if (n.ok) engine.ingest(n.event);
      });
      engine.finish();
      return engine.signals();
    };
    const whole = run(false);
    expect((whole as unknown[]).length).toBeGreaterThan(10);
    expect(run(true)).toEqual(whole);
  });

  it('a record delivered twice counts once; the same eventID at another time is another event', async () => {
    const stop = attack.find((r) => r.eventName === 'StopInstances') ?? {};
    const dir = freshDir();
    const twice = put(dir, 'twice.json', JSON.stringify({ Records: [...attack, stop] }));
    const again = put(dir, 'again.json', JSON.stringify({ Records: attack }));
    const once = await scan([put(dir, 'once.json', JSON.stringify({ Records: attack }))]);
    const repeated = await scan([twice, again], { threads: 2 });
    expect(repeated.result.summary.duplicates).toBe(attack.length + 1);
    expect(repeated.result.signals).toEqual(once.result.signals);
    const later = { ...stop, eventTime: '2099-01-01T00:00:00Z' };
    const moved = await scan([put(dir, 'moved.json', JSON.stringify({ Records: [...attack, later] }))]);
    expect(moved.result.summary.duplicates).toBe(0);
  });
});
