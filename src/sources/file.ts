/**
 * Reading CloudTrail from files, folders and stdin: `trailhound scan PATH…`.
 *
 * Every input is sniffed by content, never by name: gzip (magic 1f 8b) is inflated on the fly, then
 * the text is split into values (src/normalise/expand.ts) and each value is parsed and classified:
 * CloudTrail log files `{"Records":[…]}`, arrays of records, single records, JSON lines, EventBridge
 * envelopes and CloudWatch Logs subscription payloads. Memory stays flat: files are streamed, one
 * value at a time; only a top-level value that is not a `Records` object or an array (a single
 * record, an envelope) is held whole, up to `maxValueChars`.
 *
 * Bad input never stops a scan: each problem becomes one diagnostic and reading goes on with the
 * next value, line or file. A run of identical problems in one input (say, 5,000 lines that are not
 * CloudTrail) is reported once, with a count.
 *
 * Diagnostic codes (stable):
 *   E_READ_IO              a path cannot be opened or read (missing, permission, I/O error, a folder
 *                          that cannot be listed), or `-` (stdin) is named twice
 *   E_READ_NOT_FILE        a folder entry that is neither a regular file nor a folder (socket, device,
 *                          FIFO); not read (name it explicitly to read a FIFO)
 *   E_READ_UNSUPPORTED     an archive that is not unpacked here (zip, bzip2, xz, zstd): unpack it first
 *   E_READ_GZIP            corrupt or truncated gzip, in a file or in a CloudWatch Logs payload; every
 *                          record decoded before the damage is kept
 *   E_READ_EMPTY           the input holds nothing but whitespace
 *   E_READ_JSON            invalid JSON: a value that does not parse, a value left unfinished, text
 *                          that is not JSON at all
 *   E_READ_TOO_LARGE       one value (document, record or decoded CloudWatch payload) over the size cap
 *   E_READ_NOT_CLOUDTRAIL  valid JSON that is neither a CloudTrail record nor a known envelope, or a
 *                          non-object in a `Records` array
 *   E_READ_ENVELOPE        an EventBridge or CloudWatch Logs envelope whose body is malformed
 *
 * Folder walks: entries in sorted (UTF-16 code unit) order, recursively; symbolic links are
 * followed, except to a folder that is already being walked (so loops end); names starting with `.`
 * (`.git`, `.DS_Store`) are not walked into or read. Paths that contain `CloudTrail-Digest` or
 * `CloudTrail-Insight` (the digest and insight sibling folders of `CloudTrail/` in the S3 layout
 * `AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/…`) are counted as skipped and not opened.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TrailhoundError } from '../core/errors.js';
import { expandSplitItem, quoteForMessage, splitJsonRecords } from '../normalise/expand.js';
import type { InputRecord, ReadDiagnostic, ReadStats } from './source.js';

/** One input found by `listInputs`. */
export type InputDescriptor =
  | { readonly kind: 'file'; readonly path: string; readonly skip?: 'digest' | 'insight' }
  | { readonly kind: 'stdin'; readonly path: '-' }
  | { readonly kind: 'unreadable'; readonly path: string; readonly code: 'E_READ_IO' | 'E_READ_NOT_FILE'; readonly message: string };

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

/** Bytes read from disk per chunk. */
const READ_CHUNK_BYTES = 256 * 1024;

/** Leading bytes of archives that are not unpacked here. */
const UNSUPPORTED_MAGIC: readonly { readonly name: string; readonly bytes: readonly number[] }[] = [
  { name: 'a zip archive', bytes: [0x50, 0x4b, 0x03, 0x04] },
  { name: 'an empty zip archive', bytes: [0x50, 0x4b, 0x05, 0x06] },
  { name: 'a bzip2 file', bytes: [0x42, 0x5a, 0x68] },
  { name: 'an xz file', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'a zstd file', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
];

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** How many leading bytes sniffing needs. */
const SNIFF_BYTES = 6;

/** Whether a digest or insight object: counted as skipped, never opened. */
function skipKind(path: string): 'digest' | 'insight' | undefined {
  if (path.includes('CloudTrail-Digest')) return 'digest';
  if (path.includes('CloudTrail-Insight')) return 'insight';
  return undefined;
}

function fileInput(path: string): InputDescriptor {
  const skip = skipKind(path);
  return skip === undefined ? { kind: 'file', path } : { kind: 'file', path, skip };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' ? code : undefined;
}

/** A one-line description of a file-system error, without the path (the diagnostic carries it). */
function describeIoError(error: unknown): string {
  const code = errorCode(error);
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a folder';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return `cannot be read: ${quoteForMessage(message, 160)}`;
    }
  }
}

function unreadable(path: string, error: unknown): InputDescriptor {
  return { kind: 'unreadable', path, code: 'E_READ_IO', message: describeIoError(error) };
}

function identity(info: { dev: number; ino: number }): string {
  return `${info.dev}:${info.ino}`;
}

async function* walk(folder: string, ancestors: readonly string[]): AsyncGenerator<InputDescriptor> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    yield unreadable(folder, error);
    return;
  }
  names.sort();
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(folder, name);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    if (info.isDirectory()) {
      const id = identity(info);
      if (!ancestors.includes(id)) yield* walk(path, [...ancestors, id]);
    } else if (info.isFile()) {
      yield fileInput(path);
    } else {
      yield { kind: 'unreadable', path, code: 'E_READ_NOT_FILE', message: 'neither a regular file nor a folder; not read' };
    }
  }
}

/**
 * The inputs behind `paths`, in order: `-` is stdin; a folder is walked (see the file comment); any
 * other path is one input, whatever its kind (so a named FIFO or `/dev/stdin` can be read).
 */
export async function* listInputs(paths: readonly string[]): AsyncGenerator<InputDescriptor> {
  for (const path of paths) {
    if (path === '-') {
      yield { kind: 'stdin', path: '-' };
      continue;
    }
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    if (info.isDirectory()) yield* walk(path, [identity(info)]);
    else yield fileInput(path);
  }
}

/** Diagnostics held back at most, per input, while a gzip stream is not yet known to be sound. */
const MAX_HELD_DIAGNOSTICS = 100;

/**
 * Reports diagnostics for one input, folding a run of same-code problems into one. For gzip
 * input it can hold them back: deflate data damaged in the middle decodes to garbage before the
 * stream's check fails, and the garbage's problems are then folded into the one gzip diagnostic.
 */
class DiagnosticRun {
  private pending: ReadDiagnostic | undefined;
  private repeats = 0;
  private lastByteOffset: number | undefined;
  private held: ReadDiagnostic[] | undefined;

  constructor(
    private readonly source: string,
    private readonly options: ReadOptions,
  ) {}

  report(code: string, message: string, index?: number, byteOffset?: number): void {
    if (this.pending !== undefined && this.pending.code === code) {
      this.repeats++;
      this.lastByteOffset = byteOffset;
      return;
    }
    this.flush();
    const base = { source: this.source, code, message };
    const withIndex = index === undefined ? base : { ...base, index };
    this.pending = byteOffset === undefined ? withIndex : { ...withIndex, byteOffset };
  }

  flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    let diagnostic = pending;
    if (this.repeats > 0) {
      const upTo = this.lastByteOffset === undefined ? '' : `, up to byte ${this.lastByteOffset}`;
      diagnostic = { ...pending, message: `${pending.message} (and ${this.repeats} more like it${upTo})` };
    }
    this.repeats = 0;
    this.lastByteOffset = undefined;
    this.deliver(diagnostic);
  }

  /** From now on, keep diagnostics back (up to a bound) until `release` or `replaceHeld`. */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held;
    this.held = undefined;
    for (const diagnostic of held ?? []) this.deliver(diagnostic);
  }

  /** Drops what is held and reports one diagnostic in its place, saying how many were dropped. */
  replaceHeld(code: string, message: string): void {
    this.pending = undefined;
    this.repeats = 0;
    const dropped = this.held?.length ?? 0;
    this.held = undefined;
    this.report(code, dropped === 0 ? message : `${message}; ${dropped} problem(s) in the data decoded before the error are not reported separately`);
  }

  private deliver(diagnostic: ReadDiagnostic): void {
    if (this.held !== undefined) {
      this.held.push(diagnostic);
      if (this.held.length >= MAX_HELD_DIAGNOSTICS) this.release();
      return;
    }
    this.options.stats.badInputs++;
    this.options.onDiagnostic(diagnostic);
  }
}

/** The raw bytes of one input, counted into `stats.bytes`; failures become E_READ_IO. */
async function* readBytes(input: InputDescriptor, options: ReadOptions): AsyncGenerator<Uint8Array> {
  const stream: AsyncIterable<unknown> = input.kind === 'stdin' ? (options.stdin ?? process.stdin) : createReadStream(input.path, { highWaterMark: READ_CHUNK_BYTES });
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Uint8Array);
      options.stats.bytes += bytes.byteLength;
      yield bytes;
    }
  } catch (error) {
    throw new TrailhoundError('E_READ_IO', describeIoError(error), { cause: error });
  }
}

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((byte, i) => head[i] === byte);
}

/** Reads until `SNIFF_BYTES` bytes (or the end) are in hand; gives them back with the rest. */
async function sniff(bytes: AsyncGenerator<Uint8Array>): Promise<{ head: Uint8Array; rest: AsyncGenerator<Uint8Array> }> {
  const parts: Uint8Array[] = [];
  let length = 0;
  while (length < SNIFF_BYTES) {
    const next = await bytes.next();
    if (next.done === true) break;
    parts.push(next.value);
    length += next.value.byteLength;
  }
  const head = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      if (head.byteLength > 0) yield head;
      yield* bytes;
    } finally {
      await bytes.return(undefined);
    }
  }
  return { head, rest: rest() };
}

/** The decompressed bytes of a gzip stream; a damaged stream ends in E_READ_GZIP after its good part. */
async function* gunzip(compressed: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  const inflater = createGunzip();
  // pipeline forwards errors and tear-down both ways; its own callback has nothing left to do.
  pipeline(Readable.from(compressed), inflater, () => undefined);
  let produced = 0;
  try {
    for await (const chunk of inflater as AsyncIterable<Uint8Array>) {
      produced += chunk.byteLength;
      yield chunk;
    }
  } catch (error) {
    if (error instanceof TrailhoundError) throw error;
    const detail = quoteForMessage(error instanceof Error ? error.message : String(error), 80);
    const message =
      errorCode(error) === 'Z_BUF_ERROR'
        ? `gzip data is truncated after ${produced} decompressed bytes (${detail}); the records before that point were read`
        : `gzip data is corrupt, found after ${produced} decompressed bytes (${detail}); damage can start earlier, so the last records read from this input may be wrong`;
    throw new TrailhoundError('E_READ_GZIP', message, { cause: error });
  }
}

/** Decodes UTF-8 across chunk boundaries (a BOM is kept: the splitter skips it and counts its bytes). */
async function* decodeUtf8(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for await (const chunk of bytes) {
    const text = decoder.decode(chunk, { stream: true });
    if (text.length > 0) yield text;
  }
  const tail = decoder.decode();
  if (tail.length > 0) yield tail;
}

/** Every record of one input, in order: sniff, gunzip if gzip, decode, split, parse, expand. */
async function* readInput(input: InputDescriptor, options: ReadOptions): AsyncGenerator<InputRecord> {
  const { stats, signal } = options;
  const source = input.path;
  const diagnostics = new DiagnosticRun(source, options);
  const limits = options.maxValueChars === undefined ? {} : { maxValueChars: options.maxValueChars };
  let index = 0;
  try {
    const { head, rest } = await sniff(readBytes(input, options));
    const archive = UNSUPPORTED_MAGIC.find((magic) => startsWith(head, magic.bytes));
    if (archive !== undefined) {
      await rest.return(undefined);
      diagnostics.report('E_READ_UNSUPPORTED', `this is ${archive.name}, which is not unpacked here: unpack it and scan the files inside`);
      return;
    }
    const isGzip = startsWith(head, GZIP_MAGIC);
    if (isGzip) diagnostics.hold();
    const text = decodeUtf8(isGzip ? gunzip(rest) : rest);
    const items = splitJsonRecords(text, (problem) => diagnostics.report(problem.code, problem.message, problem.index, problem.byteOffset), limits);
    for await (const item of items) {
      const expansion = await expandSplitItem(item, limits);
      for (const problem of expansion.problems) diagnostics.report(problem.code, problem.message, item.index, item.byteOffset);
      for (const record of expansion.records) {
        if (signal?.aborted === true) return;
        diagnostics.flush();
        stats.records++;
        yield { value: record.value, text: record.text, origin: { source, index: index++ } };
      }
    }
  } catch (error) {
    if (error instanceof TrailhoundError && error.code === 'E_READ_GZIP') diagnostics.replaceHeld(error.code, error.message);
    else if (error instanceof TrailhoundError) diagnostics.report(error.code, error.message);
    else diagnostics.report('E_READ_IO', `reading stopped: ${quoteForMessage(error instanceof Error ? error.message : String(error), 160)}`);
  } finally {
    diagnostics.flush();
    diagnostics.release();
  }
}

/**
 * Every CloudTrail record under `paths` (files, folders, `-` for stdin), in input order, with one
 * diagnostic per bad input through `options.onDiagnostic`. Never throws for bad input; stops
 * quietly when `options.signal` is aborted. See the file comment for formats and codes.
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
    yield* readInput(input, options);
  }
}
