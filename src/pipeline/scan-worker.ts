/**
 * A scan's read worker (started by scan-pool.ts): reads the files it is given, one at a time and in
 * the order given, through the same code as the main thread does with `--threads 1` (scan-input.ts),
 * and sends back only the records that match a query of a rule, with every count and diagnostic.
 * While it reads one file it already reads the next one from disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { JsonObject, JsonValue, TrailEvent } from '../core/types.js';
import { buildRuleIndex } from '../engine/rule-index.js';
import { compileAst } from '../query/compile.js';
import type { CompiledQuery } from '../query/types.js';
import { openInput } from '../sources/file.js';
import type { OpenedInput } from '../sources/file.js';
import type { ReadDiagnostic } from '../sources/source.js';
import { Prefilter } from './prefilter.js';
import { createScanInputCounts, scanInput } from './scan-input.js';
import type { EventBatch, ReadRequest, WorkerMessage, WorkerSetup } from './scan-protocol.js';

/** Events (or diagnostics) from which a batch is sent without waiting for the end of the file. */
const BATCH_RECORDS = 512;

/** Tells whether normalised fields match a query of one of the rules (through the rule index). */
export function compileRuleMatcher(setup: WorkerSetup): (fields: JsonObject) => boolean {
  const rules = setup.rules.map((rule) => rule.queries.map((q) => compileAst(q.ast, q.text)));
  const index = buildRuleIndex<readonly CompiledQuery[]>(rules, (queries) => queries);
  return (fields) => {
    for (const queries of index.candidates(fields)) for (const query of queries) if (query.matches(fields)) return true;
    return false;
  };
}

/**
 * Whether `JSON.parse(JSON.stringify(value))` gives `value` back exactly: no `-0` and no infinite
 * number (`1e400` parses to Infinity, which JSON writes as null). Iterative: records can nest deep.
 */
export function survivesJson(value: JsonValue): boolean {
  const stack: JsonValue[] = [value];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === 'number') {
      if (!Number.isFinite(item) || Object.is(item, -0)) return false;
    } else if (Array.isArray(item)) {
      for (const inner of item) stack.push(inner);
    } else if (typeof item === 'object' && item !== null) {
      for (const key in item) if (Object.hasOwn(item, key)) stack.push(item[key] as JsonValue);
    }
  }
  return true;
}

/** Collects one input's matching events into batches (see `EventBatch`). */
class BatchBuilder {
  private entries: string[] = [];
  private records: unknown[] = [];

  get size(): number {
    return this.entries.length;
  }

  add(event: TrailEvent, value: unknown, text: string | undefined): void {
    let entry: string | undefined;
    if (survivesJson(event.fields)) {
      try {
        entry = JSON.stringify([event.origin.index, event.time, event.key, event.eventId ?? null, event.fields]);
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
  const matches = compileRuleMatcher(setup);
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
        if (matches(event.fields)) batch.add(event, value, text);
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
