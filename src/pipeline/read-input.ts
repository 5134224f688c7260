/**
 * From inputs to CloudTrail records: the composition of the read path. A source gives an input's
 * bytes (src/sources/file.ts); here they are decoded (chunk-decoder.ts), split into values
 * (record-splitter.ts), prefiltered (prefilter.ts), parsed and expanded out of their envelopes
 * (src/normalise/expand.ts). Work is done a chunk at a time, synchronously: nothing is awaited per
 * record except a document that has to be classified (an envelope may hold gzip).
 *
 * `readInput` reads one input for the scan (in-process or in a worker: the same code, so the same
 * records, counts and diagnostics in the same order whatever the thread count). `readRecords` is
 * the record-by-record form over a list of paths, for tests and tools.
 *
 * Every bad input becomes one diagnostic (codes at the top of src/sources/file.ts), reported
 * through a `DiagnosticRun`: runs of one code are folded, and a gzip input's diagnostics are held
 * until the stream is known to be sound. Never throws for bad input.
 */
import { TrailhoundError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';
import type { RecordOrigin } from '../core/types.js';
import { expandRecordItem, expandSplitItem } from '../normalise/expand.js';
import type { Expansion, SplitItem, SplitOutput } from '../normalise/expand.js';
import { listInputs, openInput } from '../sources/file.js';
import type { OpenedInput, ReadableInput } from '../sources/file.js';
import type { InputRecord, ReadDiagnostic, ReadStats } from '../sources/source.js';
import { ChunkDecoder } from './chunk-decoder.js';
import { DiagnosticRun } from './diagnostic-run.js';
import type { Prefilter } from './prefilter.js';
import { RecordFacts, RecordSplitter, scanRecordObject } from './record-splitter.js';
import type { SplitVisitor } from './record-splitter.js';

export interface InputReadOptions {
  /** Skip the records it proves irrelevant; absent: every record is parsed. */
  readonly prefilter?: Prefilter;
  /** Cap on one value held whole, in characters (bytes for a decoded CloudWatch payload). Default 64 Mi. */
  readonly maxValueChars?: number;
  /** When aborted, reading stops quietly before the next chunk. */
  readonly signal?: AbortSignal;
  /** What `-` reads; defaults to `process.stdin`. */
  readonly stdin?: NodeJS.ReadableStream;
  /** The input already opened (to read it ahead); else it is opened here. */
  readonly opened?: Promise<OpenedInput>;
}

/** Where one input's records and problems go, in input order. */
export interface InputSink {
  /**
   * A record that was parsed: an object, not yet normalised; `index` counts records in the input.
   * `isOriginalText`: `text` is the record as written in the input (not `JSON.stringify(value)`,
   * which can differ from it: `1e400`, `-0`).
   */
  record(value: unknown, text: string, index: number, isOriginalText: boolean): void;
  /** A diagnostic, final (folded and released). */
  problem(diagnostic: ReadDiagnostic): void;
}

/** What reading one input counted. */
export interface InputCounts {
  /** Records (parsed or skipped). */
  records: number;
  /** Records the prefilter skipped (not parsed: they cannot match any rule, and would normalise). */
  skipped: number;
  /** Diagnostics delivered. */
  badInputs: number;
  /** Bytes read from disk or stdin (before decompression). */
  bytes: number;
}

export function createInputCounts(): InputCounts {
  return { records: 0, skipped: 0, badInputs: 0, bytes: 0 };
}

/** Whether `text` is one `{…}` value and nothing else (scanned into `facts`). */
function isOneObject(text: string, facts: RecordFacts): boolean {
  return text.charCodeAt(0) === 0x7b && scanRecordObject(text, 0, facts) === text.length;
}

/**
 * Reads one input, handing its records and diagnostics to `sink` and counting into `counts`. It
 * yields after the records of each chunk were handed over (so a consumer can pace itself or stop;
 * stopping early reports nothing more). Never throws for bad input.
 */
export async function* readInput(input: ReadableInput, options: InputReadOptions, sink: InputSink, counts: InputCounts): AsyncGenerator<undefined, void, undefined> {
  const source = input.path;
  const diagnostics = new DiagnosticRun(source, (diagnostic) => {
    counts.badInputs++;
    sink.problem(diagnostic);
  });
  const limits = options.maxValueChars === undefined ? {} : { maxValueChars: options.maxValueChars };
  const prefilter = options.prefilter !== undefined && !options.prefilter.isUseless ? options.prefilter : undefined;
  const facts = new RecordFacts();
  let index = 0;
  /** General-splitter outputs of the current chunk, handled after the push (documents need an await). */
  const queue: SplitOutput[] = [];

  const takeRecords = (expansion: Expansion, item: SplitItem): void => {
    for (const problem of expansion.problems) diagnostics.report(problem.code, problem.message, item.index, item.byteOffset);
    for (const record of expansion.records) {
      diagnostics.flush();
      counts.records++;
      sink.record(record.value, record.text, index++, record.text === item.text);
    }
  };
  const skip = (): void => {
    diagnostics.flush();
    counts.records++;
    counts.skipped++;
    index++;
  };
  const visitor: SplitVisitor = {
    element(text, start, end, itemIndex, byteOffset, elementFacts) {
      if (prefilter !== undefined && prefilter.canSkip(text, start, end, elementFacts)) {
        skip();
        return;
      }
      const item: SplitItem = { kind: 'record', text: text.slice(start, end), index: itemIndex, byteOffset };
      takeRecords(expandRecordItem(item), item);
    },
    output(out) {
      queue.push(out);
    },
  };
  const drain = async (): Promise<void> => {
    for (let i = 0; i < queue.length; i++) {
      const out = queue[i];
      if (out === undefined) continue;
      if (out.kind === 'problem') {
        diagnostics.report(out.code, out.message, out.index, out.byteOffset);
      } else if (out.kind === 'record') {
        if (prefilter !== undefined && isOneObject(out.text, facts) && prefilter.canSkip(out.text, 0, out.text.length, facts)) skip();
        else takeRecords(expandRecordItem(out), out);
      } else {
        takeRecords(await expandSplitItem(out, limits), out);
      }
    }
    queue.length = 0;
  };

  let opened: OpenedInput | undefined;
  try {
    opened = await (options.opened ?? openInput(input, options.stdin === undefined ? {} : { stdin: options.stdin }));
    if (opened.isGzip) diagnostics.hold();
    const decoder = new ChunkDecoder();
    const splitter = new RecordSplitter(limits);
    for await (const bytes of opened.chunks) {
      if (options.signal?.aborted === true) return;
      const text = decoder.decode(bytes);
      if (text.length > 0) splitter.push(text, decoder.isLastAscii, visitor);
      await drain();
      yield undefined;
    }
    const tail = decoder.end();
    if (tail.length > 0) splitter.push(tail, false, visitor);
    splitter.end(visitor);
    await drain();
    yield undefined;
  } catch (error) {
    if (error instanceof TrailhoundError && error.code === 'E_READ_GZIP') diagnostics.replaceHeld(error.code, error.message);
    else if (error instanceof TrailhoundError) diagnostics.report(error.code, error.message);
    else diagnostics.report('E_READ_IO', `reading stopped: ${quoteForMessage(error instanceof Error ? error.message : String(error), 160)}`);
  } finally {
    if (opened !== undefined) counts.bytes += opened.bytesRead();
    diagnostics.flush();
    diagnostics.release();
  }
}

/** Reads one input to its end (see `readInput`). */
export async function readWholeInput(input: ReadableInput, options: InputReadOptions, sink: InputSink, counts: InputCounts): Promise<void> {
  for await (const _ of readInput(input, options, sink, counts)) {
    // Each step hands its records to the sink; nothing to do between steps.
  }
}

/** Read through a call, so that a check after an await is not narrowed away by an earlier one. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

export interface ReadOptions {
  onDiagnostic(diagnostic: ReadDiagnostic): void;
  /** Updated as reading goes (the caller owns it; see `createReadStats`). */
  readonly stats: ReadStats;
  /** When aborted, reading stops quietly before the next record or input. */
  readonly signal?: AbortSignal;
  /** What `-` reads; defaults to `process.stdin`. */
  readonly stdin?: NodeJS.ReadableStream;
  /** Cap on one value held whole, in characters (bytes for a decoded CloudWatch payload). Default 64 Mi. */
  readonly maxValueChars?: number;
}

/**
 * Every CloudTrail record under `paths` (files, folders, `-` for stdin), in input order, parsed
 * (no prefilter), with one diagnostic per bad input through `options.onDiagnostic`. Never throws
 * for bad input; stops quietly when `options.signal` is aborted. See src/sources/file.ts for
 * formats and codes.
 */
export async function* readRecords(paths: readonly string[], options: ReadOptions): AsyncGenerator<InputRecord> {
  const { stats, signal } = options;
  let hasReadStdin = false;
  for await (const input of listInputs(paths)) {
    if (signal?.aborted === true) return;
    if (input.kind === 'unreadable') {
      stats.badInputs++;
      options.onDiagnostic({ source: input.path, code: input.code, message: input.message });
      continue;
    }
    if (input.kind === 'file' && input.skip !== undefined) {
      stats.skippedFiles++;
      continue;
    }
    if (input.kind === 'stdin') {
      if (hasReadStdin) {
        stats.badInputs++;
        options.onDiagnostic({ source: '-', code: 'E_READ_IO', message: 'standard input was already read; `-` may be given once' });
        continue;
      }
      hasReadStdin = true;
    }
    stats.files++;
    const pending: InputRecord[] = [];
    const counts = createInputCounts();
    const sink: InputSink = {
      record(value, text, index) {
        const origin: RecordOrigin = { source: input.path, index };
        pending.push({ value, text, origin });
      },
      problem(diagnostic) {
        stats.badInputs++;
        options.onDiagnostic(diagnostic);
      },
    };
    const readOptions: InputReadOptions = {
      ...(options.maxValueChars === undefined ? {} : { maxValueChars: options.maxValueChars }),
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
    };
    const steps = readInput(input, readOptions, sink, counts);
    try {
      for await (const _ of steps) {
        for (let i = 0; i < pending.length; i++) {
          if (isAborted(signal)) return;
          const record = pending[i];
          if (record === undefined) continue;
          stats.records++;
          yield record;
        }
        pending.length = 0;
      }
    } finally {
      await steps.return(undefined);
      stats.bytes += counts.bytes;
    }
  }
}
