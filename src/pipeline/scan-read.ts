/**
 * The read side of `trailhound scan`: every input under the scan's paths, read, prefiltered,
 * parsed and normalised, handed to the caller (the engine) in input order.
 *
 * - `threads: 1` reads in the main thread, one input after the other, opening the next file while
 *   the current one is read (its bytes come from disk meanwhile; gunzip runs on libuv's threads).
 * - `threads: N > 1` (when there are at least two files to read) starts N read workers
 *   (scan-worker.ts) and gives them files, a few ahead each. A worker reads, prefilters, parses
 *   and normalises, keeps only the records that match a query of a rule, and sends their text
 *   back; the main thread takes each input's results in input order (holding those that come
 *   early), parses and normalises those few records again and hands them on. So the events, and
 *   every count and diagnostic, are the same and in the same order whatever the thread count, and
 *   the engine's own dedup (first eventID wins) sees the same first event.
 *
 * Standard input is always read by the main thread, when its turn comes.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TrailhoundError } from '../core/errors.js';
import type { JsonObject, TrailEvent } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import type { CompiledRule } from '../rules/model.js';
import { listInputs, openInput } from '../sources/file.js';
import type { InputDescriptor, OpenedInput, ReadableInput } from '../sources/file.js';
import type { ReadDiagnostic } from '../sources/source.js';
import { Prefilter, planPrefilter } from './prefilter.js';
import type { PrefilterPlan } from './prefilter.js';
import { createScanInputCounts, scanInput } from './scan-input.js';
import type { ScanInputCounts } from './scan-input.js';
import type { EventBatch, ReadRequest, WorkerMessage, WorkerRule, WorkerSetup } from './scan-protocol.js';
import { scanRuleSpecs } from './scan-match.js';

export interface ScanReadOptions {
  readonly paths: readonly string[];
  /** The rules the events are for (the prefilter and the workers' filter are built from them). */
  readonly rules: readonly CompiledRule[];
  /** Read threads: 1 reads in the main thread; default: the number of cores. */
  readonly threads?: number;
  /** Skip, unparsed, the records that cannot match any rule (default true). */
  readonly isPrefilterEnabled?: boolean;
  readonly signal?: AbortSignal;
  readonly stdin?: NodeJS.ReadableStream;
  readonly maxValueChars?: number;
  /**
   * The rules as the workers match them (`scanRuleSpecs`); a worker's event comes with the
   * positions in this list of the rules it matched, and only their fields. Default: built from
   * `rules`, every member kept.
   */
  readonly ruleSpecs?: readonly WorkerRule[];
}

/** Where the events and diagnostics go, in input order. */
export interface ScanReadSink {
  /**
   * A normalised event. With one thread every normalised record comes here; with workers only
   * those that match a query of a rule (the others could not change any result), with `matched`:
   * the positions in `ruleSpecs` of the rules it matched (its fields may hold only what they read).
   */
  event(event: TrailEvent, matched?: readonly number[]): void;
  /**
   * Every record that was parsed and normalised, as read (`text`: its JSON text when it is the
   * text as written, else undefined), before `event`. Only in the main thread: a scan that needs
   * every record (`scan --state`, indexing events) reads with one thread and no prefilter.
   */
  record?(value: unknown, text: string | undefined): void;
  problem(problem: ReadDiagnostic): void;
  /** Called after each piece of input (a chunk, or a worker's batch), for progress. */
  progress?(stats: ScanReadStats): void;
}

export interface ScanReadStats {
  /** Inputs opened (files and stdin). */
  files: number;
  /** CloudTrail digest and insight objects skipped without being read. */
  skippedFiles: number;
  records: number;
  /** Records normalised, and records the prefilter skipped (which would have been). */
  events: number;
  /** Records the prefilter skipped. */
  prefiltered: number;
  /** Diagnostics about the input (unreadable, bad gzip or JSON, not CloudTrail). */
  badInputs: number;
  /** Records the normaliser refused (each also a diagnostic). */
  badRecords: number;
  bytes: number;
}

function addCounts(stats: ScanReadStats, counts: ScanInputCounts): void {
  stats.records += counts.records;
  stats.events += counts.normalised + counts.skipped;
  stats.prefiltered += counts.skipped;
  stats.badInputs += counts.badInputs;
  stats.badRecords += counts.badRecords;
  stats.bytes += counts.bytes;
}

/** How many read threads `--threads` gives by default: the number of cores. */
export function defaultThreads(): number {
  return availableParallelism();
}

/** What to do with one listed input, decided in input order. */
type Step =
  | { readonly kind: 'problem'; readonly problem: ReadDiagnostic }
  | { readonly kind: 'skip' }
  | { readonly kind: 'read'; readonly input: ReadableInput };

/** Turns listed inputs into steps: unreadable paths, skipped objects, a second `-`. */
class Stepper {
  private hasStdin = false;

  step(input: InputDescriptor): Step {
    if (input.kind === 'unreadable') return { kind: 'problem', problem: { source: input.path, code: input.code, message: input.message } };
    if (input.kind === 'file') return input.skip === undefined ? { kind: 'read', input: { kind: 'file', path: input.path } } : { kind: 'skip' };
    if (this.hasStdin) return { kind: 'problem', problem: { source: '-', code: 'E_READ_IO', message: 'standard input was already read; `-` may be given once' } };
    this.hasStdin = true;
    return { kind: 'read', input };
  }
}

/**
 * Reads every input under `options.paths` for a scan (see the file comment); returns the counts.
 * Never throws for bad input; stops quietly when `options.signal` is aborted.
 */
export async function readForScan(options: ScanReadOptions, sink: ScanReadSink): Promise<ScanReadStats> {
  const stats: ScanReadStats = { files: 0, skippedFiles: 0, records: 0, events: 0, prefiltered: 0, badInputs: 0, badRecords: 0, bytes: 0 };
  const plan = options.isPrefilterEnabled === false ? null : planPrefilter(options.rules);
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()));
  const stepper = new Stepper();
  const listing = listInputs(options.paths)[Symbol.asyncIterator]();
  // Look ahead for a second file: with fewer, threads are not worth starting.
  const ahead: Step[] = [];
  let files = 0;
  let isListed = false;
  while (threads > 1 && files < 2) {
    const next = await listing.next();
    if (next.done === true) {
      isListed = true;
      break;
    }
    const step = stepper.step(next.value);
    ahead.push(step);
    if (step.kind === 'read' && step.input.kind === 'file') files++;
  }
  const steps = async function* (): AsyncGenerator<Step> {
    yield* ahead;
    if (isListed) return;
    for (let next = await listing.next(); next.done !== true; next = await listing.next()) yield stepper.step(next.value);
  };
  if (threads > 1 && files >= 2) await readInWorkers(steps(), threads, plan, options, sink, stats);
  else await readInThread(steps(), plan, options, sink, stats);
  return stats;
}

/** Applies a step that needs no reading. */
function applySimple(step: Step, sink: ScanReadSink, stats: ScanReadStats): void {
  if (step.kind === 'problem') {
    stats.badInputs++;
    sink.problem(step.problem);
  } else if (step.kind === 'skip') {
    stats.skippedFiles++;
  }
}

/** Reads one input in this thread, handing every normalised event on. */
async function readHere(input: ReadableInput, opened: Promise<OpenedInput> | undefined, prefilter: Prefilter | undefined, options: ScanReadOptions, sink: ScanReadSink, stats: ScanReadStats): Promise<void> {
  stats.files++;
  const counts = createScanInputCounts();
  const readOptions = {
    ...(opened === undefined ? {} : { opened }),
    ...(prefilter === undefined ? {} : { prefilter }),
    ...(options.maxValueChars === undefined ? {} : { maxValueChars: options.maxValueChars }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  };
  const inputSink = {
    event: (event: TrailEvent, value: unknown, text: string | undefined) => {
      sink.record?.(value, text);
      sink.event(event);
    },
    problem: (problem: ReadDiagnostic) => sink.problem(problem),
  };
  for await (const _ of scanInput(input, readOptions, inputSink, counts)) {
    // Progress counts what was read so far; the final counts are added below.
    sink.progress?.({ ...stats, records: stats.records + counts.records, bytes: stats.bytes + counts.bytes });
  }
  addCounts(stats, counts);
}

async function readInThread(steps: AsyncIterable<Step>, plan: PrefilterPlan | null, options: ScanReadOptions, sink: ScanReadSink, stats: ScanReadStats): Promise<void> {
  const prefilter = plan === null ? undefined : new Prefilter(plan);
  let current: { readonly input: ReadableInput; readonly opened: Promise<OpenedInput> | undefined } | undefined;
  const open = (input: ReadableInput): Promise<OpenedInput> | undefined => {
    if (input.kind !== 'file') return undefined;
    const opened = openInput(input);
    opened.catch(() => undefined);
    return opened;
  };
  for await (const step of steps) {
    if (options.signal?.aborted === true) return;
    if (step.kind !== 'read') {
      // Steps are applied in order: one that comes after the current input waits for it.
      if (current !== undefined) {
        await readHere(current.input, current.opened, prefilter, options, sink, stats);
        current = undefined;
      }
      applySimple(step, sink, stats);
      continue;
    }
    // Open the next file now (a small one is read from disk while the current one is read).
    const next = { input: step.input, opened: open(step.input) };
    if (current !== undefined) await readHere(current.input, current.opened, prefilter, options, sink, stats);
    current = next;
  }
  if (current !== undefined && options.signal?.aborted !== true) await readHere(current.input, current.opened, prefilter, options, sink, stats);
}

// ---------------------------------------------------------------------------------------------
// Workers

/** Young generation of a read worker: parsing makes many short-lived objects (15-25% faster than the default here). */
const WORKER_YOUNG_GENERATION_MB = 32;

/** Files handed to each worker ahead of the one the main thread waits for. */
const FILES_AHEAD_PER_WORKER = 3;

function spawnWorker(setup: WorkerSetup): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./scan-worker.js', self), { workerData: setup, resourceLimits });
  // Running from the TypeScript sources (tests, tsx): the worker registers tsx's loader first.
  const tsx = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const target = new URL('./scan-worker.ts', self).href;
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(target)}); });`;
  return new Worker(code, { eval: true, workerData: setup, resourceLimits });
}

/** One input's slot in the merge: what came back for it so far. */
interface Slot {
  readonly step: Step;
  readonly parts: WorkerMessage[];
  isDone: boolean;
  readonly worker: number;
}

async function readInWorkers(steps: AsyncIterable<Step>, threads: number, plan: PrefilterPlan | null, options: ScanReadOptions, sink: ScanReadSink, stats: ScanReadStats): Promise<void> {
  const setup: WorkerSetup = {
    rules: options.ruleSpecs ?? scanRuleSpecs(options.rules, false),
    prefilter: plan,
    ...(options.maxValueChars === undefined ? {} : { maxValueChars: options.maxValueChars }),
  };
  const workers = Array.from({ length: threads }, () => spawnWorker(setup));
  const outstanding = workers.map(() => 0);
  const slots = new Map<number, Slot>();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  workers.forEach((worker, w) => {
    worker.on('message', (message: WorkerMessage) => {
      const slot = slots.get(message.seq);
      if (slot === undefined) return;
      slot.parts.push(message);
      if (message.kind === 'done') {
        slot.isDone = true;
        outstanding[w] = (outstanding[w] ?? 1) - 1;
      }
      notify();
    });
    worker.on('error', (error) => {
      failure ??= error;
      notify();
    });
    worker.on('exit', (code) => {
      if (code !== 0) failure ??= new Error(`a read worker stopped with exit code ${code}`);
      notify();
    });
  });
  const until = (): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
    });
  const prefilter = plan === null ? undefined : new Prefilter(plan);
  const iterator = steps[Symbol.asyncIterator]();
  let listed = 0;
  let head = 0;
  let isListed = false;
  const window = threads * FILES_AHEAD_PER_WORKER;
  try {
    for (;;) {
      if (failure !== undefined) throw new TrailhoundError('E_SCAN_WORKER', `a read worker failed: ${failure.message}`, { cause: failure });
      if (options.signal?.aborted === true) return;
      // Hand out files up to the window ahead of the head.
      while (!isListed && listed - head < window) {
        const next = await iterator.next();
        if (next.done === true) {
          isListed = true;
          break;
        }
        const step = next.value;
        let worker = -1;
        if (step.kind === 'read' && step.input.kind === 'file') {
          worker = outstanding.indexOf(Math.min(...outstanding));
          outstanding[worker] = (outstanding[worker] ?? 0) + 1;
          const request: ReadRequest = { seq: listed, path: step.input.path };
          workers[worker]?.postMessage(request);
        }
        slots.set(listed, { step, parts: [], isDone: false, worker });
        listed++;
      }
      const slot = slots.get(head);
      if (slot === undefined) return;
      const { step } = slot;
      if (step.kind !== 'read') {
        applySimple(step, sink, stats);
      } else if (slot.worker < 0) {
        await readHere(step.input, undefined, prefilter, options, sink, stats);
      } else {
        for (let part = slot.parts.shift(); part !== undefined; part = slot.parts.shift()) applyPart(step.input.path, part, sink, stats);
        if (!slot.isDone) {
          // Messages only arrive between turns of the event loop: wait for the next one.
          await until();
          continue;
        }
      }
      slots.delete(head);
      head++;
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

function applyPart(source: string, part: WorkerMessage, sink: ScanReadSink, stats: ScanReadStats): void {
  applyBatch(source, part.batch, sink);
  for (const problem of part.problems) sink.problem(problem);
  if (part.kind === 'done') {
    stats.files++;
    addCounts(stats, part.counts);
  }
  sink.progress?.(stats);
}

function internalError(source: string, what: string): TrailhoundError {
  return new TrailhoundError('E_SCAN_WORKER', `internal error: ${what} (${source})`);
}

/** The events a worker sent (see `EventBatch`), handed on in order. */
function applyBatch(source: string, batch: EventBatch, sink: ScanReadSink): void {
  const entries: unknown = JSON.parse(batch.events);
  if (!Array.isArray(entries)) throw internalError(source, 'a read worker sent a malformed batch');
  let extra = 0;
  for (const entry of entries as unknown[][]) {
    const [index, time, key, eventId, fields, matched] = entry;
    if (typeof index !== 'number') throw internalError(source, 'a read worker sent a malformed event');
    if (entry.length === 1) {
      // The record itself: normalised again here (the same record gives the same event).
      const payload = batch.records[extra++];
      const value: unknown = typeof payload === 'string' ? JSON.parse(payload) : payload;
      const normalised = normaliseRecord(value, { source, index });
      if (!normalised.ok) throw internalError(source, `record ${index}, normalised by a read worker, did not normalise again`);
      sink.event(normalised.event);
      continue;
    }
    if (typeof time !== 'number' || typeof key !== 'string' || typeof fields !== 'object' || fields === null || !Array.isArray(matched)) throw internalError(source, 'a read worker sent a malformed event');
    const event: TrailEvent = {
      fields: fields as JsonObject,
      time,
      ...(typeof eventId === 'string' ? { eventId } : {}),
      key,
      origin: { source, index },
    };
    sink.event(event, matched as number[]);
  }
}
