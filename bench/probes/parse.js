// @ts-check
/* global console, Buffer */
/**
 * Benchmark probe: what any engine that parses every record pays. Streams every listed file
 * through zlib's gunzip, then `JSON.parse`s the whole log file (`{"Records":[…]}`, so every record
 * is parsed) and counts the records. One file at a time, one thread.
 *
 * Plain JavaScript on purpose (see gunzip.js).
 *
 *   node bench/probes/parse.js --list FILE      prints {"files":…,"records":…,"bytes":…}
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { parseArgs } from 'node:util';

/** @param {string} path @returns {Promise<Buffer>} */
function gunzipFile(path) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    const gunzip = createGunzip();
    gunzip.on('data', (/** @type {Buffer} */ chunk) => chunks.push(chunk));
    gunzip.on('end', () => resolve(Buffer.concat(chunks)));
    gunzip.on('error', reject);
    const input = createReadStream(path, { highWaterMark: 256 * 1024 });
    input.on('error', reject);
    input.pipe(gunzip);
  });
}

const { values } = parseArgs({ options: { list: { type: 'string' } } });
if (!values.list) throw new Error('usage: parse.js --list FILE');
const paths = readFileSync(values.list, 'utf8').split('\n').filter(Boolean);
let records = 0;
let bytes = 0;
for (const path of paths) {
  const buffer = await gunzipFile(path);
  bytes += buffer.length;
  /** @type {unknown} */
  const document = JSON.parse(buffer.toString('utf8'));
  const list = typeof document === 'object' && document !== null && 'Records' in document ? document.Records : undefined;
  if (Array.isArray(list)) records += list.length;
}
console.log(JSON.stringify({ files: paths.length, records, bytes }));
