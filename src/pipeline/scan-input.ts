/**
 * One input of a scan, read and normalised: the code that runs for each input, in the main thread
 * (`--threads 1`) or in a worker (scan-worker.ts), so that both give the same events, counts and
 * diagnostics in the same order.
 */
import type { TrailEvent } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import type { ReadableInput } from '../sources/file.js';
import type { ReadDiagnostic } from '../sources/source.js';
import { createInputCounts, readInput } from './read-input.js';
import type { InputCounts, InputReadOptions } from './read-input.js';

/** What reading one input for a scan counted. */
export interface ScanInputCounts extends InputCounts {
  /**
   * Records parsed and normalised. The records the prefilter skipped (`skipped`) would all have
   * normalised too (the prefilter checks it): events = normalised + skipped.
   */
  normalised: number;
  /** Records the normaliser refused (each also a diagnostic). */
  badRecords: number;
}

export function createScanInputCounts(): ScanInputCounts {
  return { ...createInputCounts(), normalised: 0, badRecords: 0 };
}

/** Where one input's normalised events and diagnostics go, in input order. */
export interface ScanInputSink {
  /**
   * A normalised event; `text` is the record's JSON text when it is the text as written in the
   * input (so that `JSON.parse(text)` gives `value` back exactly), else undefined.
   */
  event(event: TrailEvent, value: unknown, text: string | undefined): void;
  /** A diagnostic: a bad input (read) or a record the normaliser refused. */
  problem(diagnostic: ReadDiagnostic): void;
}

/**
 * Reads one input (see `readInput`) and normalises each parsed record. Yields after each chunk.
 * Never throws for bad input.
 */
export async function* scanInput(input: ReadableInput, options: InputReadOptions, sink: ScanInputSink, counts: ScanInputCounts): AsyncGenerator<undefined, void, undefined> {
  const source = input.path;
  const steps = readInput(
    input,
    options,
    {
      record(value, text, index, isOriginalText) {
        const normalised = normaliseRecord(value, { source, index });
        if (normalised.ok) {
          counts.normalised++;
          sink.event(normalised.event, value, isOriginalText ? text : undefined);
        } else {
          counts.badRecords++;
          sink.problem({ source, index, code: normalised.code, message: normalised.message });
        }
      },
      problem(diagnostic) {
        sink.problem(diagnostic);
      },
    },
    counts,
  );
  yield* steps;
}
