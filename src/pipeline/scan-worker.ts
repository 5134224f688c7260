/**
 * A scan's read worker (started by scan-pool.ts): reads the files it is given, one at a time and in
 * the order given, through the same code as the main thread does with `--threads 1` (scan-input.ts),
 * and sends back only the records that match a query of a rule, with every count and diagnostic.
 * While it reads one file it already reads the next one from disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { JsonObject, TrailEvent } from '../core/types.js';
import { openInput } from '../sources/file.js';
import type { OpenedInput } from '../sources/file.js';
import type { ReadDiagnostic } from '../sources/source.js';
import { Prefilter } from './prefilter.js';
import { createScanInputCounts, scanInput } from './scan-input.js';
import { survivesJson } from './event-spill.js';
import { ScanMatcher } from './scan-match.js';
import type { EventBatch, ReadRequest, WorkerMessage, WorkerSetup } from './scan-protocol.js';

/** Events (or diagnostics) from which a batch is sent without waiting for the end of the file. */
const BATCH_RECORDS = 512;

/** Collects one input's matching events into batches (see `EventBatch`). */
class BatchBuilder {
  private entries: string[] = [];
  private records: unknown[] = [];

  get size(): number {
    return this.entries.length;
  }

  add(event: TrailEvent, value: unknown, text: string | undefined, fields: JsonObject, rules: readonly number[]): void {
    let entry: string | undefined;
    if (survivesJson(fields)) {
      try {
        entry = JSON.stringify([event.origin.index, event.time, event.key, event.eventId ?? null, fields, rules]);
      } catch {
        // Nested too deep for JSON.stringify: sent as the record instead.
      }
    }
    if (entry === undefined) {
      entry = `[${event.origin.index}]`;
      this.records.push(text ?? value);
    }
    this.entries.push(entry);
  }

  take(): EventBatch {
    const batch = { events: `[${this.entries.join(',')}]`, records: this.records };
    this.entries = [];
    this.records = [];
    return batch;
  }
}

function startWorker(): void {
  const port = parentPort;
  if (port === null) return;
  const setup = workerData as WorkerSetup;
  const matcher = new ScanMatcher(setup.rules);
  const prefilter = setup.prefilter === null ? undefined : new Prefilter(setup.prefilter);
  const queue: { readonly request: ReadRequest; readonly opened: Promise<OpenedInput> }[] = [];
  let isBusy = false;

  const read = async (request: ReadRequest, opened: Promise<OpenedInput>): Promise<void> => {
    const counts = createScanInputCounts();
    const batch = new BatchBuilder();
    let problems: ReadDiagnostic[] = [];
    const options = {
      opened,
      ...(prefilter === undefined ? {} : { prefilter }),
      ...(setup.maxValueChars === undefined ? {} : { maxValueChars: setup.maxValueChars }),
    };
    const sink = {
      event(event: TrailEvent, value: unknown, text: string | undefined): void {
        const matched = matcher.match(event.fields);
        if (matched !== undefined) batch.add(event, value, text, matcher.project(event.fields, matched), matched);
      },
      problem(diagnostic: ReadDiagnostic): void {
        problems.push(diagnostic);
      },
    };
    for await (const _ of scanInput({ kind: 'file', path: request.path }, options, sink, counts)) {
      if (batch.size >= BATCH_RECORDS || problems.length >= BATCH_RECORDS) {
        const message: WorkerMessage = { kind: 'part', seq: request.seq, batch: batch.take(), problems };
        port.postMessage(message);
        problems = [];
      }
    }
    const done: WorkerMessage = { kind: 'done', seq: request.seq, batch: batch.take(), problems, counts };
    port.postMessage(done);
  };

  const pump = async (): Promise<void> => {
    if (isBusy) return;
    isBusy = true;
    try {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await read(next.request, next.opened);
    } finally {
      isBusy = false;
    }
  };

  port.on('message', (request: ReadRequest) => {
    // Opened (small files: read from disk) now, while the file before it is still being read.
    const opened = openInput({ kind: 'file', path: request.path });
    opened.catch(() => undefined);
    queue.push({ request, opened });
    pump().catch((error: unknown) => {
      // Reading never throws for bad input: anything here is a bug; let the main thread know.
      throw error instanceof Error ? error : new Error(String(error));
    });
  });
}

startWorker();
