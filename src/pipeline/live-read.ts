/**
 * From the bytes of one delivered object (an S3 object, a file of a watched folder) to CloudTrail
 * records, by exactly the path `scan` reads a file with: `openInput` sniffs the bytes (gzip is
 * inflated, archives are refused) and `readWholeInput` splits them, peels every envelope and
 * reports bad parts as diagnostics. Nothing here throws for bad input.
 *
 * An object is **poison** when it cannot be used as a whole: it cannot be fetched, its gzip is
 * damaged, it is an archive, it is too large, or nothing in it is CloudTrail. A poison object is
 * never partly processed (the live runtime refuses the whole step), so that re-reading it later —
 * the SQS redrive policy, a restart — cannot half-duplicate it. Problems inside an otherwise good
 * object (one value that is not CloudTrail) are only reported, and the rest is processed, as `scan`
 * does.
 */
import { Readable } from 'node:stream';
import { TrailhoundError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';
import { openInput } from '../sources/file.js';
import type { InputRecord, ReadDiagnostic } from '../sources/source.js';
import { createInputCounts, readWholeInput } from './read-input.js';

/** Diagnostic codes that make a whole object unusable (besides "nothing in it is CloudTrail"). */
const POISON_CODES: ReadonlySet<string> = new Set(['E_S3_GET', 'E_READ_GZIP', 'E_READ_IO', 'E_READ_UNSUPPORTED', 'E_READ_TOO_LARGE', 'E_READ_EMPTY']);

/** What reading one object gave. */
export interface ObjectRead {
  /** `s3://bucket/key` or the file path: the `origin.source` of every record. */
  readonly location: string;
  readonly records: readonly InputRecord[];
  /** Every problem found, in order (already folded: a run of one code is one diagnostic). */
  readonly problems: readonly ReadDiagnostic[];
  /** Set when the object is poison (see the file comment): why, in one line. */
  readonly poison?: string;
  /** Bytes fetched (before decompression). */
  readonly bytes: number;
}

export interface ObjectReadOptions {
  /** Cap on one value held whole, in characters (as `scan`'s). Default: the reader's (64 Mi). */
  readonly maxValueChars?: number;
  readonly signal?: AbortSignal;
}

/** Whether a read makes its object poison; the reason, or undefined. */
export function poisonReason(records: number, problems: readonly ReadDiagnostic[]): string | undefined {
  const fatal = problems.find((p) => POISON_CODES.has(p.code));
  if (fatal !== undefined) return `${fatal.code}: ${fatal.message}`;
  if (records === 0 && problems.length > 0) {
    const first = problems[0];
    return first === undefined ? undefined : `no CloudTrail record in it (${first.code}: ${first.message})`;
  }
  return undefined;
}

/**
 * Reads one object whose bytes `open` gives (still gzipped, as S3 or the disk holds them). A
 * rejection of `open` (E_S3_GET…) becomes a diagnostic with its code, and makes the object poison.
 */
export async function readObjectRecords(location: string, open: () => Promise<AsyncIterable<Uint8Array>>, options: ObjectReadOptions = {}): Promise<ObjectRead> {
  const records: InputRecord[] = [];
  const problems: ReadDiagnostic[] = [];
  const counts = createInputCounts();
  const opened = (async () => {
    let bytes: AsyncIterable<Uint8Array>;
    try {
      bytes = await open();
    } catch (error) {
      if (error instanceof TrailhoundError) throw error;
      throw new TrailhoundError('E_READ_IO', `cannot open ${quoteForMessage(location, 200)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    // openInput reads a stream as it reads standard input: sniffed, gunzipped on the fly.
    return openInput({ kind: 'stdin', path: '-' }, { stdin: Readable.from(bytes) });
  })();
  await readWholeInput(
    { kind: 'file', path: location },
    { opened, ...(options.maxValueChars !== undefined ? { maxValueChars: options.maxValueChars } : {}), ...(options.signal !== undefined ? { signal: options.signal } : {}) },
    {
      record(value, text, index) {
        records.push({ value, text, origin: { source: location, index } });
      },
      problem(diagnostic) {
        problems.push(diagnostic);
      },
    },
    counts,
  );
  const poison = poisonReason(records.length, problems);
  return { location, records, problems, bytes: counts.bytes, ...(poison !== undefined ? { poison } : {}) };
}
