import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import { attackRecords } from '../../test/support/live-fixtures.js';
import { readObjectRecords } from './live-read.js';

const records = attackRecords();
const document = JSON.stringify({ Records: records });
/** The data as a network body gives it: in two chunks. */
const bytes = (data: Uint8Array | string) => () => {
  const all = Buffer.from(data);
  return Promise.resolve(Readable.from([all.subarray(0, Math.floor(all.length / 2)), all.subarray(Math.floor(all.length / 2))]) as AsyncIterable<Uint8Array>);
};

describe('readObjectRecords', () => {
  it.each([
    { name: 'a gzipped CloudTrail log file', data: gzipSync(document) },
    { name: 'a plain CloudTrail log file', data: Buffer.from(document) },
    { name: 'a JSON array of records', data: Buffer.from(JSON.stringify(records)) },
    { name: 'JSON lines, gzipped', data: gzipSync(records.map((r) => JSON.stringify(r)).join('\n')) },
  ])('reads every record of $name, as scan does', async ({ data }) => {
    const read = await readObjectRecords('s3://b/k', bytes(data));
    expect(read.poison).toBeUndefined();
    expect(read.problems).toEqual([]);
    expect(read.records.map((r) => (r.value as { eventID: string }).eventID)).toEqual(records.map((r) => r.eventID));
    expect(read.records.every((r, i) => r.origin.source === 's3://b/k' && r.origin.index === i)).toBe(true);
  });

  it.each([
    { name: 'truncated gzip', data: gzipSync(document).subarray(0, 200), code: 'E_READ_GZIP' },
    { name: 'a zip archive', data: Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4]), code: 'E_READ_UNSUPPORTED' },
    { name: 'HTML', data: Buffer.from('<html>no</html>'), code: 'E_READ_JSON' },
    { name: 'an empty object', data: Buffer.alloc(0), code: 'E_READ_EMPTY' },
  ])('$name is poison ($code)', async ({ data, code }) => {
    const read = await readObjectRecords('s3://b/k', bytes(data));
    expect(read.poison).toContain(code);
    expect(read.problems.map((p) => p.code)).toContain(code);
  });

  it('an object that cannot be fetched is poison with the fetch error', async () => {
    const read = await readObjectRecords('s3://b/k', () => Promise.reject(new TrailhoundError('E_S3_GET', 'AccessDenied')));
    expect(read.poison).toMatch(/^E_S3_GET: AccessDenied/);
    expect(read.records).toEqual([]);
  });

  it('one bad value among good records is reported, and the object is not poison', async () => {
    const text = [JSON.stringify(records[0]), '{"not": "cloudtrail"}', JSON.stringify(records[1])].join('\n');
    const read = await readObjectRecords('file.json', bytes(text));
    expect(read.poison).toBeUndefined();
    expect(read.records).toHaveLength(2);
    expect(read.problems.map((p) => p.code)).toEqual(['E_READ_NOT_CLOUDTRAIL']);
  });
});
