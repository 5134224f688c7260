/**
 * The benchmark corpus on disk: generated once per set of parameters into
 * bench/.corpus/<key>/ (gitignored) and reused. `<key>` hashes the parameters and the generator's
 * own source, so a change to the generator makes a new corpus instead of reusing a stale one.
 *
 *   <key>/AWSLogs/o-…/<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz   the trail
 *   <key>/corpus.json                                                   files and totals
 *   <key>/truth.json                                                    what was planted, what must fire
 *
 * Files are written by worker threads (one file at a time each), or in this thread when `workers`
 * is 0 (tests). Each file follows from its own spec, so the bytes do not depend on the order.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FLAGSHIP_FILTER_TEXT } from './ec2-calls.js';
import type { WorkerRequest } from './generate-worker.js';
import { planCorpus } from './plan.js';
import type { CorpusParams, CorpusPlan, ExpectedSignal, ExpectedTargetSignal, FileSpec, ScenarioTruth } from './plan.js';
import { loadTemplates } from './templates.js';
import { createWriterContext, writeCorpusFile } from './write-file.js';
import type { FileResult } from './write-file.js';

export const DEFAULT_CORPUS_ROOT = fileURLToPath(new URL('./.corpus/', import.meta.url));

/** Bump when the corpus format changes in a way the source hash would not show. */
const FORMAT_VERSION = 1;
const GENERATOR_SOURCES = ['rng.ts', 'identities.ts', 'templates.ts', 'ec2-calls.ts', 'scenarios.ts', 'plan.ts', 'write-file.ts', 'corpus.ts'];

export interface CorpusManifest {
  readonly key: string;
  readonly params: CorpusParams;
  readonly records: number;
  readonly uncompressedBytes: number;
  readonly gzipBytes: number;
  readonly failedCalls: number;
  readonly files: readonly { readonly relPath: string; readonly records: number; readonly uncompressedBytes: number; readonly gzipBytes: number }[];
  readonly accounts: number;
  readonly streams: number;
  readonly timeSpan: { readonly start: string; readonly end: string };
  readonly generatedAt: string;
  readonly generationMs: number;
  readonly workers: number;
}

export interface CorpusTruth {
  readonly key: string;
  readonly records: number;
  readonly flagshipFilter: string;
  /** eventIDs of every record the flagship filter selects (planted and ordinary), sorted. */
  readonly flagshipCallIds: readonly string[];
  readonly expectedSignals: readonly ExpectedSignal[];
  readonly expectedTargetSignals: readonly ExpectedTargetSignal[];
  readonly scenarios: readonly ScenarioTruth[];
  readonly skippedScenarios: readonly string[];
}

export interface Corpus {
  readonly dir: string;
  /** The folder to scan: the `AWSLogs` tree (corpus.json and truth.json sit beside it). */
  readonly logsDir: string;
  readonly manifest: CorpusManifest;
  readonly truth: CorpusTruth;
  readonly isReused: boolean;
}

export interface GenerateOptions {
  /** Where corpora live; default bench/.corpus/. */
  readonly root?: string;
  /** Worker threads; 0 writes in this thread. Default: the number of cores. */
  readonly workers?: number;
  readonly onProgress?: (filesDone: number, filesTotal: number) => void;
}

/** The cache key of a corpus: its parameters and the generator's source. */
export function corpusKey(params: CorpusParams): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ FORMAT_VERSION, params }));
  for (const name of GENERATOR_SOURCES) hash.update(readFileSync(new URL(`./${name}`, import.meta.url)));
  return `${params.records}-${hash.digest('hex').slice(0, 12)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

async function readCorpus(dir: string): Promise<Corpus | undefined> {
  try {
    const manifest: unknown = JSON.parse(await readFile(join(dir, 'corpus.json'), 'utf8'));
    const truth: unknown = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8'));
    if (!isRecord(manifest) || !isRecord(truth) || !Array.isArray(manifest['files']) || !Array.isArray(truth['flagshipCallIds'])) return undefined;
    // Our own files, written by writeCorpus below: their shape was checked above as far as we rely on it.
    return { dir, logsDir: join(dir, 'AWSLogs'), manifest: manifest as unknown as CorpusManifest, truth: truth as unknown as CorpusTruth, isReused: true };
  } catch {
    return undefined;
  }
}

async function writeInThread(files: readonly FileSpec[], root: string, onDone: (r: FileResult) => void): Promise<void> {
  const ctx = createWriterContext();
  for (const spec of files) onDone(await writeCorpusFile(spec, root, ctx));
}

/**
 * Workers do not inherit the TypeScript loader the bench runs under (`node --import tsx`): each
 * registers it first, then loads the worker module.
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(new URL('./generate-worker.ts', import.meta.url).href)}); });`;

async function writeInWorkers(files: readonly FileSpec[], root: string, count: number, onDone: (r: FileResult) => void): Promise<void> {
  const queue = [...files];
  const runOne = (worker: Worker) =>
    new Promise<void>((resolve, reject) => {
      const sendNext = () => {
        const spec = queue.shift();
        if (!spec) {
          resolve();
          return;
        }
        const request: WorkerRequest = { spec, root };
        worker.postMessage(request);
      };
      worker.on('message', (message: { ok: true; result: FileResult } | { ok: false; message: string }) => {
        if (!message.ok) {
          reject(new Error(`corpus worker failed: ${message.message}`));
          return;
        }
        onDone(message.result);
        sendNext();
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        if (code !== 0) reject(new Error(`corpus worker exited with code ${code}`));
      });
      sendNext();
    });
  const workers = Array.from({ length: Math.min(count, files.length) }, () => new Worker(WORKER_BOOTSTRAP, { eval: true }));
  try {
    await Promise.all(workers.map(runOne));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function truthOf(key: string, plan: CorpusPlan, results: readonly FileResult[]): CorpusTruth {
  const ids = [...plan.plantedFlagshipCalls, ...results.flatMap((r) => r.flagshipCallIds)].sort();
  return {
    key,
    records: plan.params.records,
    flagshipFilter: FLAGSHIP_FILTER_TEXT,
    flagshipCallIds: ids,
    expectedSignals: plan.expectedSignals,
    expectedTargetSignals: plan.expectedTargetSignals,
    scenarios: plan.scenarios,
    skippedScenarios: plan.skippedScenarios,
  };
}

/** Generate the corpus of `params` into `dir` (replacing whatever is there). */
export async function writeCorpus(params: CorpusParams, dir: string, options: Omit<GenerateOptions, 'root'> = {}): Promise<Corpus> {
  const started = performance.now();
  const key = corpusKey(params);
  const plan = planCorpus(params, loadTemplates());
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const results: FileResult[] = [];
  const onDone = (r: FileResult) => {
    results.push(r);
    options.onProgress?.(results.length, plan.files.length);
  };
  const workers = options.workers ?? availableParallelism();
  if (workers > 0) await writeInWorkers(plan.files, dir, workers, onDone);
  else await writeInThread(plan.files, dir, onDone);
  results.sort((a, b) => a.index - b.index);

  const last = plan.files.reduce((m, f) => Math.max(m, f.slotStartMs), plan.startMs) + 5 * 60 * 1000;
  const manifest: CorpusManifest = {
    key,
    params,
    records: results.reduce((n, r) => n + r.records, 0),
    uncompressedBytes: results.reduce((n, r) => n + r.uncompressedBytes, 0),
    gzipBytes: results.reduce((n, r) => n + r.gzipBytes, 0),
    failedCalls: results.reduce((n, r) => n + r.failedCalls, 0),
    files: results.map(({ relPath, records, uncompressedBytes, gzipBytes }) => ({ relPath, records, uncompressedBytes, gzipBytes })),
    accounts: plan.accounts.length,
    streams: plan.streams.length,
    timeSpan: { start: new Date(plan.startMs).toISOString(), end: new Date(last).toISOString() },
    generatedAt: new Date().toISOString(),
    generationMs: Math.round(performance.now() - started),
    workers,
  };
  const truth = truthOf(key, plan, results);
  await writeFile(join(dir, 'truth.json'), `${JSON.stringify(truth, null, 2)}\n`);
  await writeFile(join(dir, 'corpus.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, logsDir: join(dir, 'AWSLogs'), manifest, truth, isReused: false };
}

/** The corpus of `params`: reused from the cache when it is there and complete, else generated. */
export async function ensureCorpus(params: CorpusParams, options: GenerateOptions = {}): Promise<Corpus> {
  const root = options.root ?? DEFAULT_CORPUS_ROOT;
  const key = corpusKey(params);
  const dir = join(root, key);
  if (existsSync(join(dir, 'truth.json'))) {
    const cached = await readCorpus(dir);
    if (cached) return cached;
  }
  // Write under a temporary name and rename when complete: an interrupted run leaves no half corpus.
  const partial = join(root, `${key}.partial-${process.pid}`);
  const written = await writeCorpus(params, partial, options);
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  return { ...written, dir, logsDir: join(dir, 'AWSLogs') };
}
