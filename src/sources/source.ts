/**
 * What every source (file, S3, SQS, HTTP) hands to the pipeline: CloudTrail records, one at a time,
 * each with its raw JSON text and where it came from, plus diagnostics for the inputs it could not
 * read. Sources depend on `core` only.
 */
import type { RecordOrigin } from '../core/types.js';

/** One CloudTrail record as read, before normalisation. */
export interface InputRecord {
  /** The record as `JSON.parse` returned it: a JSON object, but still untrusted. */
  readonly value: unknown;
  /**
   * The record's JSON text. For records read from a file, stdin or a CloudWatch Logs message this is
   * the text as written (escape sequences included); for a record peeled out of an EventBridge
   * envelope or out of a whole parsed document it is `JSON.stringify(value)`. It may share memory
   * with the chunk it was cut from: do not keep it longer than the record.
   */
  readonly text: string;
  /** `source` is the path (or `-` for stdin); `index` counts the records yielded from that input. */
  readonly origin: RecordOrigin;
}

/** One problem with an input. Reading always goes on after it. */
export interface ReadDiagnostic {
  /** The path (or `-`) the problem is in. Attacker-influenced: escape it before printing. */
  readonly source: string;
  /** Stable code, see the list at the top of src/sources/file.ts. */
  readonly code: string;
  /** What was wrong, in one line; any quoted input is escaped and shortened. */
  readonly message: string;
  /**
   * Zero-based ordinal of the JSON value the problem is in, counting the elements of the top-level
   * array or `Records` array and the top-level values of JSON lines, when the problem is in one.
   */
  readonly index?: number;
  /** Offset in the (decompressed) input, in UTF-8 bytes, where the problem starts. */
  readonly byteOffset?: number;
}

/** Counters a reader updates as it goes; the caller owns the object and reads it when it likes. */
export interface ReadStats {
  /** Inputs opened (files and stdin), whatever came out of them. */
  files: number;
  /** CloudTrail digest and insight objects skipped without being read. */
  skippedFiles: number;
  /** Records yielded. */
  records: number;
  /** Diagnostics reported (each is one bad input, value, or run of identical problems). */
  badInputs: number;
  /** Bytes read from disk or stdin, before decompression. */
  bytes: number;
}

/** A zeroed `ReadStats`. */
export function createReadStats(): ReadStats {
  return { files: 0, skippedFiles: 0, records: 0, badInputs: 0, bytes: 0 };
}
