import { readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { listInputs } from '../sources/file.js';
import type { InputRecord, ReadDiagnostic, ReadStats } from '../sources/source.js';
import { createReadStats } from '../sources/source.js';
import { readRecords } from './read-input.js';
import type { ReadOptions } from './read-input.js';
import { useScratch } from '../../test/support/scratch.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));

type Rec = Record<string, unknown>;

const { freshDir, put } = useScratch('reader');

interface Outcome {
  records: InputRecord[];
  diagnostics: ReadDiagnostic[];
  stats: ReadStats;
}

async function read(paths: string[], extra: Partial<Omit<ReadOptions, 'onDiagnostic' | 'stats'>> = {}): Promise<Outcome> {
  const diagnostics: ReadDiagnostic[] = [];
  const stats = createReadStats();
  const records: InputRecord[] = [];
  for await (const record of readRecords(paths, { ...extra, stats, onDiagnostic: (d) => diagnostics.push(d) })) records.push(record);
  return { records, diagnostics, stats };
}

const values = (outcome: Outcome): unknown[] => outcome.records.map((r) => r.value);
const codes = (outcome: Outcome): string[] => outcome.diagnostics.map((d) => d.code);

/** The records in one fixture file, counted independently of the reader: parse the whole file. */
function recordsInFile(path: string): Rec[] {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (Array.isArray(parsed)) return parsed as Rec[];
  const object = parsed as Rec;
  return Array.isArray(object.Records) ? (object.Records as Rec[]) : [object];
}

const invictusDir = join(FIXTURES, 'invictus-aws-dataset/CloudTrail');
const invictusFile = join(invictusDir, '218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json');
const invictusText = readFileSync(invictusFile, 'utf8');
const invictusRecords = recordsInFile(invictusFile);
const stratusFile = join(FIXTURES, 'stratus-detonation-logs/aws.execution.ec2-user-data.json');
const stratusRecords = recordsInFile(stratusFile);
const [first, second, third] = stratusRecords as [Rec, Rec, Rec];

describe('reading the real fixture folders', () => {
  it.each([
    { folder: 'stratus-detonation-logs', expectedCodes: [] },
    { folder: 'invictus-aws-dataset', expectedCodes: ['E_READ_JSON', 'E_READ_JSON'] },
    { folder: 'traildiscover-log-examples', expectedCodes: [] },
    { folder: 'panther-tests', expectedCodes: [] },
    { folder: 'samples', expectedCodes: [] },
  ])('every record of $folder comes out, in sorted file order', async ({ folder, expectedCodes }) => {
    const outcome = await read([join(FIXTURES, folder)]);
    const jsonFiles: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (!/(LICENSE|\.md)$/.test(name)) jsonFiles.push(full);
      }
    };
    walk(join(FIXTURES, folder));
    expect(values(outcome)).toEqual(jsonFiles.flatMap(recordsInFile));
    expect(codes(outcome)).toEqual(expectedCodes);
    expect(outcome.stats.records).toBe(outcome.records.length);
    expect(outcome.stats.files).toBe(jsonFiles.length + expectedCodes.length);
  });

  it('the README table totals come out of the whole fixture tree, and the zip gives one diagnostic', async () => {
    const outcome = await read([FIXTURES]);
    expect(outcome.records.length).toBe(310 + 2900 + 563 + 9 + 10);
    expect(outcome.diagnostics.filter((d) => d.code === 'E_READ_UNSUPPORTED').map((d) => d.source)).toEqual([join(FIXTURES, 'otrf-security-datasets/ec2_proxy_s3_exfiltration.zip')]);
    expect(outcome.stats.badInputs).toBe(outcome.diagnostics.length);
  });

  it('origin names the file and counts records within it', async () => {
    const outcome = await read([stratusFile, invictusFile]);
    expect(outcome.records.map((r) => r.origin)).toEqual([...stratusRecords.map((_, index) => ({ source: stratusFile, index })), ...invictusRecords.map((_, index) => ({ source: invictusFile, index }))]);
  });

  it('a record text is the text of that record in the file', async () => {
    const outcome = await read([invictusFile]);
    for (const record of outcome.records.slice(0, 20)) {
      expect(invictusText).toContain(record.text);
      expect(JSON.parse(record.text)).toEqual(record.value);
    }
  });
});

describe('sniffing by content, not by name', () => {
  it.each([
    { shape: 'a gzipped log file named .json.gz', name: 'a.json.gz', content: gzipSync(invictusText), expected: invictusRecords },
    { shape: 'a gzipped log file with no telling name', name: 'blob', content: gzipSync(invictusText), expected: invictusRecords },
    { shape: 'a plain array named .gz', name: 'b.json.gz', content: readFileSync(stratusFile), expected: stratusRecords },
    { shape: 'a gzipped JSON lines file', name: 'c.jsonl', content: gzipSync(stratusRecords.map((r) => JSON.stringify(r)).join('\n')), expected: stratusRecords },
    { shape: 'two gzip members back to back', name: 'd.gz', content: Buffer.concat([gzipSync(JSON.stringify([first])), gzipSync(JSON.stringify([second, third]))]), expected: [first, second, third] },
    { shape: 'a file with a UTF-8 BOM', name: 'e.json', content: `\uFEFF${JSON.stringify([first, second])}`, expected: [first, second] },
  ])('$shape', async ({ name, content, expected }) => {
    const path = put(freshDir(), name, content);
    const outcome = await read([path]);
    expect(values(outcome)).toEqual(expected);
    expect(outcome.diagnostics).toEqual([]);
    expect(outcome.stats.bytes).toBe(statSync(path).size);
  });

  it('multi-byte UTF-8 split across every read boundary decodes intact', async () => {
    const variants = [first, second, third].map((r, n) => ({ ...r, userAgent: `Ünïcødé ☃ 中文 𝄞😀 #${n}` }));
    const bytes = Buffer.from(variants.map((r) => JSON.stringify(r)).join('\n'), 'utf8');
    for (const size of [1, 2, 3, 5, 7]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const outcome = await read(['-'], { stdin: Readable.from(chunks) });
      expect(values(outcome)).toEqual(variants);
      expect(outcome.diagnostics).toEqual([]);
    }
  });

  it('a log file much larger than the value cap is still read: records stream one by one', async () => {
    const path = put(freshDir(), 'big.json.gz', gzipSync(invictusText));
    const outcome = await read([path], { maxValueChars: 20_000 });
    expect(invictusText.length).toBeGreaterThan(60_000);
    expect(values(outcome)).toEqual(invictusRecords);
    expect(outcome.diagnostics).toEqual([]);
  });
});

describe('envelopes in files', () => {
  const awslogs = (messages: readonly Rec[]): Rec => ({
    awslogs: {
      data: gzipSync(JSON.stringify({ messageType: 'DATA_MESSAGE', owner: '123456789012', logGroup: 'trail', logStream: 's', subscriptionFilters: ['f'], logEvents: messages.map((m, n) => ({ id: String(n), timestamp: n, message: JSON.stringify(m) })) })).toString('base64'),
    },
  });
  const eventBridge = (detail: Rec): Rec => ({ version: '0', id: '1', 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.ec2', account: '123456789012', time: '2024-08-01T12:04:18Z', region: 'us-east-1', resources: [], detail });

  it.each([
    { shape: 'an EventBridge envelope as a single document', content: JSON.stringify(eventBridge(first), null, 2), expected: [first] },
    { shape: 'EventBridge envelopes as JSON lines', content: [first, second, third].map((r) => JSON.stringify(eventBridge(r))).join('\n'), expected: [first, second, third] },
    { shape: 'EventBridge envelopes in an array', content: JSON.stringify([eventBridge(first), eventBridge(second)]), expected: [first, second] },
    { shape: 'an encoded CloudWatch Logs payload', content: JSON.stringify(awslogs([first, second, third])), expected: [first, second, third] },
    { shape: 'encoded CloudWatch Logs payloads as JSON lines', content: `${JSON.stringify(awslogs([first]))}\n${JSON.stringify(awslogs([second, third]))}\n`, expected: [first, second, third] },
    {
      shape: 'a decoded CloudWatch Logs DATA_MESSAGE and a CONTROL_MESSAGE',
      content: `${JSON.stringify({ messageType: 'CONTROL_MESSAGE', logGroup: '', logEvents: [{ id: '', timestamp: 0, message: 'CWL CONTROL MESSAGE: Checking health of destination' }] })}\n${JSON.stringify({ messageType: 'DATA_MESSAGE', logGroup: 'trail', logEvents: [{ id: '1', timestamp: 1, message: JSON.stringify(second) }] })}`,
      expected: [second],
    },
    { shape: 'a mix of plain records and envelopes as JSON lines', content: [JSON.stringify(first), JSON.stringify(eventBridge(second)), JSON.stringify(awslogs([third]))].join('\n'), expected: [first, second, third] },
  ])('$shape', async ({ content, expected }) => {
    const outcome = await read([put(freshDir(), 'in.json', content)]);
    expect(values(outcome)).toEqual(expected);
    expect(outcome.diagnostics).toEqual([]);
  });
});

describe('bad input: one diagnostic each, and everything else is still read', () => {
  const gz = gzipSync(invictusText);
  const half = gz.subarray(0, gz.length >> 1);
  // What a gunzip can decode from the first half, found independently of the reader.
  const prefix = gunzipSync(half, { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
  const beforeCut = invictusRecords.filter((r) => prefix.includes(JSON.stringify(r)));
  const damageAt = gz.length >> 1;
  const corrupt = Buffer.from(gz);
  corrupt.fill(0x55, damageAt, damageAt + 64);
  const beforeDamage = gunzipSync(gz.subarray(0, damageAt), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
  const intactBeforeDamage = invictusRecords.filter((r) => beforeDamage.includes(JSON.stringify(r)));

  it('a gzipped log file cut in half yields every record before the cut, then one E_READ_GZIP', async () => {
    expect(beforeCut.length).toBeGreaterThan(10);
    expect(beforeCut).toEqual(invictusRecords.slice(0, beforeCut.length));
    const dir = freshDir();
    const cut = put(dir, 'cut.json.gz', half);
    const after = put(dir, 'later.json', JSON.stringify([first]));
    const outcome = await read([cut, after]);
    expect(values(outcome)).toEqual([...beforeCut, first]);
    expect(outcome.diagnostics).toMatchObject([{ source: cut, code: 'E_READ_GZIP' }]);
    expect(outcome.diagnostics[0]?.message).toContain('truncated');
  });

  it('gzip damaged in the middle gives one E_READ_GZIP (garbage decoded before the check fails is folded in), after the records before the damage', async () => {
    const outcome = await read([put(freshDir(), 'bad.gz', corrupt)]);
    expect(codes(outcome)).toEqual(['E_READ_GZIP']);
    expect(outcome.diagnostics[0]?.message).toContain('corrupt');
    expect(intactBeforeDamage.length).toBeGreaterThan(10);
    expect(values(outcome).slice(0, intactBeforeDamage.length)).toEqual(intactBeforeDamage);
  });

  it.each([
    { bad: 'an empty file', content: '', expectedCodes: ['E_READ_EMPTY'] },
    { bad: 'an empty gzip file', content: gzipSync(''), expectedCodes: ['E_READ_EMPTY'] },
    { bad: 'a text file', content: readFileSync(join(FIXTURES, 'README.md')), expectedCodes: ['E_READ_JSON'] },
    { bad: 'random binary', content: Buffer.from(Array.from({ length: 4096 }, (_, n) => (n * 7919) % 256)), expectedCodes: ['E_READ_JSON'] },
    { bad: 'a JSON document that is not CloudTrail', content: '{"foo":1}', expectedCodes: ['E_READ_NOT_CLOUDTRAIL'] },
    { bad: 'an array of 500 objects that are not CloudTrail', content: JSON.stringify(Array.from({ length: 500 }, (_, n) => ({ name: `pkg-${n}` }))), expectedCodes: ['E_READ_NOT_CLOUDTRAIL'] },
    { bad: 'a zip archive', content: readFileSync(join(FIXTURES, 'otrf-security-datasets/ec2_proxy_s3_exfiltration.zip')), expectedCodes: ['E_READ_UNSUPPORTED'] },
  ])('$bad gives exactly one diagnostic: $expectedCodes', async ({ content, expectedCodes }) => {
    const dir = freshDir();
    const bad = put(dir, 'bad', content);
    const good = put(dir, 'good.json', JSON.stringify([first]));
    const outcome = await read([bad, good]);
    expect(codes(outcome)).toEqual(expectedCodes);
    expect(outcome.diagnostics[0]?.source).toBe(bad);
    expect(values(outcome)).toEqual([first]);
    expect(outcome.stats).toMatchObject({ files: 2, badInputs: 1, records: 1 });
  });

  it('a run of identical problems in one input is one diagnostic with a count', async () => {
    const outcome = await read([put(freshDir(), 'pkgs.json', JSON.stringify(Array.from({ length: 500 }, (_, n) => ({ name: `pkg-${n}` }))))]);
    expect(outcome.diagnostics).toHaveLength(1);
    expect(outcome.diagnostics[0]?.message).toContain('and 499 more like it');
    expect(outcome.diagnostics[0]).toMatchObject({ index: 0, byteOffset: 1 });
  });

  it('bad values separated by good records each get their own diagnostic', async () => {
    const text = `{"Records":[${JSON.stringify(first)},{"x":tru},${JSON.stringify(second)},{"y":fals},${JSON.stringify(third)}]}`;
    const outcome = await read([put(freshDir(), 'log.json', text)]);
    expect(values(outcome)).toEqual([first, second, third]);
    expect(outcome.diagnostics.map((d) => [d.code, d.index])).toEqual([
      ['E_READ_JSON', 1],
      ['E_READ_JSON', 3],
    ]);
  });

  it('a broken JSON line is reported once and the lines around it are read', async () => {
    const text = [JSON.stringify(first), JSON.stringify(second).slice(0, 150), JSON.stringify(third)].join('\n');
    const outcome = await read([put(freshDir(), 'lines.jsonl', gzipSync(text))]);
    expect(values(outcome)).toEqual([first, third]);
    expect(outcome.diagnostics).toMatchObject([{ code: 'E_READ_JSON', byteOffset: Buffer.byteLength(`${JSON.stringify(first)}\n`) }]);
  });

  it.each([
    { bad: 'a path that does not exist', path: (dir: string) => join(dir, 'missing.json') },
    { bad: 'a path through a file', path: (dir: string) => join(put(dir, 'plain.json', '[]'), 'below') },
  ])('$bad gives one E_READ_IO and the next path is read', async ({ path }) => {
    const dir = freshDir();
    const good = put(dir, 'good.json', JSON.stringify([first]));
    const outcome = await read([path(dir), good]);
    expect(codes(outcome)).toEqual(['E_READ_IO']);
    expect(values(outcome)).toEqual([first]);
  });
});

describe('walking folders', () => {
  it('walks recursively in sorted order, skips dot entries, and reports broken links', async () => {
    const dir = freshDir();
    put(dir, 'b/2.json', JSON.stringify([second]));
    put(dir, 'b/10.json', JSON.stringify([first]));
    put(dir, 'a.json', JSON.stringify([third]));
    put(dir, 'c/d/e.json', JSON.stringify({ Records: [first] }));
    put(dir, '.hidden/x.json', 'not json');
    put(dir, '.DS_Store', Buffer.from([0, 0, 0, 1, 0x42, 0x75, 0x64, 0x31]));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'broken-link'));
    const listed = [];
    for await (const input of listInputs([dir])) listed.push(input);
    expect(listed).toEqual([
      { kind: 'file', path: join(dir, 'a.json') },
      { kind: 'file', path: join(dir, 'b/10.json') },
      { kind: 'file', path: join(dir, 'b/2.json') },
      { kind: 'unreadable', path: join(dir, 'broken-link'), code: 'E_READ_IO', message: 'no such file or folder' },
      { kind: 'file', path: join(dir, 'c/d/e.json') },
    ]);
    const outcome = await read([dir]);
    expect(values(outcome)).toEqual([third, first, second, first]);
    expect(codes(outcome)).toEqual(['E_READ_IO']);
  });

  it('follows links but ends symbolic link loops, reading each file once', async () => {
    const dir = freshDir();
    put(dir, 'logs/x.json', JSON.stringify([first]));
    symlinkSync(dir, join(dir, 'logs/loop-to-top'));
    symlinkSync(join(dir, 'logs'), join(dir, 'logs/loop-to-self'));
    const outcome = await read([dir]);
    expect(outcome.records.map((r) => r.origin.source)).toEqual([join(dir, 'logs/x.json')]);
    expect(outcome.diagnostics).toEqual([]);
  });

  it('skips CloudTrail digest and insight objects in the S3 layout, counting them and reading nothing', async () => {
    const dir = freshDir();
    const account = 'AWSLogs/o-a1b2c3d4e5/123456789012';
    const log = put(dir, `${account}/CloudTrail/us-east-1/2023/07/10/123456789012_CloudTrail_us-east-1_20230710T1145Z_s7dp.json.gz`, gzipSync(invictusText));
    // Garbage content: reading either would give a diagnostic.
    put(dir, `${account}/CloudTrail-Digest/us-east-1/2023/07/10/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20230710T120000Z.json.gz`, 'not json');
    put(dir, `${account}/CloudTrail-Insight/us-east-1/2023/07/10/123456789012_CloudTrail-Insight_us-east-1_20230710T1145Z_abc.json.gz`, 'not json');
    const outcome = await read([join(dir, 'AWSLogs')]);
    expect(values(outcome)).toEqual(invictusRecords);
    expect(outcome.diagnostics).toEqual([]);
    expect(outcome.stats).toMatchObject({ files: 1, skippedFiles: 2, records: invictusRecords.length, bytes: statSync(log).size });
  });
});

describe('stdin and stopping', () => {
  it('`-` reads stdin (gzipped here), and a second `-` is one E_READ_IO', async () => {
    const outcome = await read(['-', '-'], { stdin: Readable.from([gzipSync(JSON.stringify([first, second]))]) });
    expect(values(outcome)).toEqual([first, second]);
    expect(outcome.records.map((r) => r.origin)).toEqual([
      { source: '-', index: 0 },
      { source: '-', index: 1 },
    ]);
    expect(codes(outcome)).toEqual(['E_READ_IO']);
  });

  it('stdin given as text chunks is read too', async () => {
    const text = JSON.stringify([first, second]);
    const outcome = await read(['-'], { stdin: Readable.from([text.slice(0, 100), text.slice(100)], { objectMode: true }) });
    expect(values(outcome)).toEqual([first, second]);
  });

  it('an aborted signal stops reading before the next record', async () => {
    const controller = new AbortController();
    const stats = createReadStats();
    const seen: InputRecord[] = [];
    for await (const record of readRecords([invictusFile, stratusFile], { stats, signal: controller.signal, onDiagnostic: () => undefined })) {
      seen.push(record);
      if (seen.length === 3) controller.abort();
    }
    expect(seen.length).toBe(3);
    expect(stats.records).toBe(3);
  });

  it('a consumer that stops early leaves no diagnostics behind', async () => {
    const diagnostics: ReadDiagnostic[] = [];
    for await (const record of readRecords([put(freshDir(), 'x.gz', gzipSync(invictusText))], { stats: createReadStats(), onDiagnostic: (d) => diagnostics.push(d) })) {
      expect(record.value).toEqual(invictusRecords[0]);
      break;
    }
    expect(diagnostics).toEqual([]);
  });
});
