import { readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import { WHOLE_FILE_MAX_BYTES, listInputs, openInput } from './file.js';
import type { ReadableInput } from './file.js';
import { useScratch } from '../../test/support/scratch.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));
const invictusText = readFileSync(join(FIXTURES, 'invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json'), 'utf8');

const { freshDir, put } = useScratch('source');

/** Every byte of an input as `openInput` gives it, and what it threw at the end (if anything). */
async function readAll(input: ReadableInput, stdin?: NodeJS.ReadableStream): Promise<{ bytes: Buffer; isGzip: boolean; bytesRead: number; error: unknown }> {
  const opened = await openInput(input, stdin === undefined ? {} : { stdin });
  const parts: Uint8Array[] = [];
  let error: unknown;
  try {
    for await (const chunk of opened.chunks) parts.push(chunk);
  } catch (caught) {
    error = caught;
  }
  return { bytes: Buffer.concat(parts), isGzip: opened.isGzip, bytesRead: opened.bytesRead(), error };
}

async function openError(input: ReadableInput): Promise<unknown> {
  try {
    await openInput(input);
  } catch (error) {
    return error;
  }
  return undefined;
}

const big = Buffer.from(invictusText.repeat(Math.ceil((WHOLE_FILE_MAX_BYTES + 1) / invictusText.length)), 'utf8');

describe('opening an input: bytes back, gunzipped when gzip, sniffed by content', () => {
  it.each([
    { shape: 'plain JSON read whole', name: 'a.json', content: Buffer.from(invictusText), isGzip: false },
    { shape: 'gzip with no telling name', name: 'blob', content: gzipSync(invictusText), isGzip: true },
    { shape: 'plain JSON named .gz', name: 'b.json.gz', content: Buffer.from(invictusText), isGzip: false },
    { shape: 'two gzip members back to back', name: 'c.gz', content: Buffer.concat([gzipSync('{"Records":['), gzipSync(']}')]), isGzip: true },
    { shape: 'a file larger than the whole-file limit, streamed', name: 'big.json', content: big, isGzip: false },
    { shape: 'a gzipped file larger than the whole-file limit, streamed', name: 'big.json.gz', content: gzipSync(big, { level: 1 }), isGzip: true },
    { shape: 'an empty file', name: 'empty', content: Buffer.alloc(0), isGzip: false },
  ])('$shape', async ({ name, content, isGzip }) => {
    const path = put(freshDir(), name, content);
    const result = await readAll({ kind: 'file', path });
    expect(result.error).toBeUndefined();
    expect(result.isGzip).toBe(isGzip);
    expect(result.bytes.equals(isGzip ? gunzipSync(content) : content)).toBe(true);
    expect(result.bytesRead).toBe(statSync(path).size);
  });

  it('stdin is streamed, as bytes or as text chunks', async () => {
    const gz = await readAll({ kind: 'stdin', path: '-' }, Readable.from([gzipSync(invictusText)]));
    expect(gz.bytes.toString('utf8')).toBe(invictusText);
    const text = await readAll({ kind: 'stdin', path: '-' }, Readable.from([invictusText.slice(0, 10), invictusText.slice(10)], { objectMode: true }));
    expect(text.bytes.toString('utf8')).toBe(invictusText);
    expect(text.bytesRead).toBe(Buffer.byteLength(invictusText));
  });

  it.each([
    { archive: 'zip', content: readFileSync(join(FIXTURES, 'otrf-security-datasets/ec2_proxy_s3_exfiltration.zip')), named: 'a zip archive' },
    { archive: 'bzip2', content: Buffer.from('BZh91AY&SY'), named: 'a bzip2 file' },
    { archive: 'xz', content: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]), named: 'an xz file' },
    { archive: 'zstd', content: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]), named: 'a zstd file' },
  ])('a $archive archive is refused with E_READ_UNSUPPORTED', async ({ content, named }) => {
    const error = await openError({ kind: 'file', path: put(freshDir(), 'x', content) });
    expect(error).toBeInstanceOf(TrailhoundError);
    expect(error).toMatchObject({ code: 'E_READ_UNSUPPORTED' });
    expect((error as Error).message).toContain(named);
  });

  it.each([
    { bad: 'a missing path', path: (dir: string) => join(dir, 'missing.json'), says: 'no such file or folder' },
    { bad: 'a path through a file', path: (dir: string) => join(put(dir, 'plain.json', '[]'), 'below'), says: 'not a folder' },
  ])('$bad is E_READ_IO, said in words', async ({ path, says }) => {
    const error = await openError({ kind: 'file', path: path(freshDir()) });
    expect(error).toMatchObject({ code: 'E_READ_IO' });
    expect((error as Error).message).toContain(says);
  });

  it.each([
    { damage: 'cut in half', cut: (gz: Buffer) => gz.subarray(0, gz.length >> 1), says: 'truncated' },
    {
      damage: 'overwritten in the middle',
      cut: (gz: Buffer) => {
        const copy = Buffer.from(gz);
        copy.fill(0x55, gz.length >> 1, (gz.length >> 1) + 64);
        return copy;
      },
      says: 'corrupt',
    },
  ])('gzip $damage gives the bytes before the damage, then E_READ_GZIP', async ({ cut, says }) => {
    const damaged = cut(gzipSync(invictusText));
    const result = await readAll({ kind: 'file', path: put(freshDir(), 'bad.gz', damaged) });
    expect(result.error).toMatchObject({ code: 'E_READ_GZIP' });
    expect((result.error as Error).message).toContain(says);
    const before = gunzipSync(damaged.subarray(0, damaged.length >> 1), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(result.bytes.subarray(0, 1000).equals(before.subarray(0, 1000))).toBe(true);
    expect(invictusText.startsWith(result.bytes.subarray(0, Math.min(result.bytes.length, before.length)).toString('utf8'))).toBe(true);
  });
});

describe('listing inputs', () => {
  it('walks recursively in sorted order, skips dot entries, and reports broken links', async () => {
    const dir = freshDir();
    put(dir, 'b/2.json', '[]');
    put(dir, 'b/10.json', '[]');
    put(dir, 'a.json', '[]');
    put(dir, 'c/d/e.json', '[]');
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
  });

  it('marks digest and insight objects as skipped, names `-` as stdin, and keeps the order of the paths', async () => {
    const dir = freshDir();
    const digest = put(dir, 'AWSLogs/1/CloudTrail-Digest/us-east-1/x.json.gz', 'x');
    const insight = put(dir, 'AWSLogs/1/CloudTrail-Insight/us-east-1/y.json.gz', 'y');
    const log = put(dir, 'AWSLogs/1/CloudTrail/us-east-1/z.json.gz', 'z');
    const listed = [];
    for await (const input of listInputs([log, '-', join(dir, 'AWSLogs')])) listed.push(input);
    expect(listed).toEqual([
      { kind: 'file', path: log },
      { kind: 'stdin', path: '-' },
      { kind: 'file', path: log },
      { kind: 'file', path: digest, skip: 'digest' },
      { kind: 'file', path: insight, skip: 'insight' },
    ]);
  });
});
