// @ts-check
/* global console, URL */
/**
 * Benchmark probe: the floor. Streams every listed file through zlib's gunzip and counts the
 * decompressed bytes; nothing else. `--threads N` splits the files over N worker threads (each one
 * file at a time), to measure the floor of N cores in one process.
 *
 * Plain JavaScript on purpose: the measured process is `node` and this file, with no TypeScript
 * loader adding start-up time and memory (bin/trailhound.js is plain JavaScript too).
 *
 *   node bench/probes/gunzip.js --list FILE [--threads N]      prints {"files":…,"bytes":…}
 */
import { createReadStream, readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import { parseArgs } from 'node:util';

/** @param {string} path @returns {Promise<number>} decompressed bytes */
function gunzipFile(path) {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const gunzip = createGunzip();
    gunzip.on('data', (/** @type {Buffer} */ chunk) => {
      bytes += chunk.length;
    });
    gunzip.on('end', () => resolve(bytes));
    gunzip.on('error', reject);
    const input = createReadStream(path, { highWaterMark: 256 * 1024 });
    input.on('error', reject);
    input.pipe(gunzip);
  });
}

/** @param {readonly string[]} paths */
async function gunzipAll(paths) {
  let bytes = 0;
  for (const path of paths) bytes += await gunzipFile(path);
  return { files: paths.length, bytes };
}

if (isMainThread) {
  const { values } = parseArgs({ options: { list: { type: 'string' }, threads: { type: 'string', default: '1' } } });
  if (!values.list) throw new Error('usage: gunzip.js --list FILE [--threads N]');
  const paths = readFileSync(values.list, 'utf8').split('\n').filter(Boolean);
  const threads = Math.max(1, Number(values.threads));
  if (threads === 1) {
    console.log(JSON.stringify(await gunzipAll(paths)));
  } else {
    /** @type {string[][]} */
    const shares = Array.from({ length: threads }, () => []);
    paths.forEach((path, i) => shares[i % threads]?.push(path));
    const results = await Promise.all(
      shares.map(
        (share) =>
          new Promise((resolve, reject) => {
            const worker = new Worker(new URL(import.meta.url), { workerData: share });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    const total = results.reduce((sum, r) => ({ files: sum.files + r.files, bytes: sum.bytes + r.bytes }), { files: 0, bytes: 0 });
    console.log(JSON.stringify(total));
  }
} else {
  parentPort?.postMessage(await gunzipAll(/** @type {string[]} */ (workerData)));
}
