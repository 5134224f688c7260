/**
 * What the scan's main thread and its read workers say to each other (scan-pool.ts,
 * scan-worker.ts). Plain data only: it crosses threads by structured clone.
 */
import type { QueryNode } from '../query/ast.js';
import type { ReadDiagnostic } from '../sources/source.js';
import type { PrefilterPlan } from './prefilter.js';
import type { ScanInputCounts } from './scan-input.js';

/** A rule as a worker needs it: enough to tell whether an event matches one of its queries. */
export interface WorkerRule {
  readonly id: string;
  /** Each query's AST and text; the worker compiles them again (`compileAst`). */
  readonly queries: readonly { readonly ast: QueryNode; readonly text: string }[];
  /** The attribute paths a matched event is read at afterwards (src/engine/projection.ts); null: every field. */
  readonly paths: readonly string[] | null;
}

/** `workerData` of a read worker. */
export interface WorkerSetup {
  /** The enabled rules: a worker sends only the events that match one of their queries. */
  readonly rules: readonly WorkerRule[];
  /** null: every record is parsed. */
  readonly prefilter: PrefilterPlan | null;
  readonly maxValueChars?: number;
}

/** Main → worker: read this file (inputs are numbered in scan order by `seq`). */
export interface ReadRequest {
  readonly seq: number;
  readonly path: string;
}

/**
 * Events of one input that matched a rule, in input order. `events` is the JSON text of an array
 * with one entry per event: `[index, time, key, eventId or null, fields, rules]`, the normalised
 * event (index: the record's index in the input) with only the members its rules read, and the
 * positions in `WorkerSetup.rules` of the rules it matched. An event whose fields JSON cannot carry exactly
 * (`-0`, a number too large for a double) is `[index]` instead, and its record is the next item
 * of `records`: its JSON text as written (a string), or its parsed value; the main thread
 * normalises it again (the same record gives the same event).
 */
export interface EventBatch {
  readonly events: string;
  readonly records: unknown[];
}

/** Worker → main. */
export type WorkerMessage =
  | {
      readonly kind: 'part';
      readonly seq: number;
      readonly batch: EventBatch;
      /** Diagnostics (read problems and refused records), in input order. */
      readonly problems: ReadDiagnostic[];
    }
  | {
      readonly kind: 'done';
      readonly seq: number;
      readonly batch: EventBatch;
      readonly problems: ReadDiagnostic[];
      readonly counts: ScanInputCounts;
    };
