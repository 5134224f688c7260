/**
 * Reading CloudTrail inputs from files, folders and stdin (`trailhound scan PATH…`): listing them,
 * opening them, and giving their bytes back, gunzipped when they are gzip.
 *
 * Every input is sniffed by content, never by name: gzip (magic 1f 8b) is inflated on the fly; zip,
 * bzip2, xz and zstd are refused. Turning the bytes into records (decoding, splitting, parsing,
 * envelopes) is the pipeline's job (src/pipeline/read-input.ts); this module knows nothing of JSON.
 * Memory stays flat: small files are read whole (so that the next one can be read ahead), large
 * ones and stdin are streamed.
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
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TrailhoundError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';

/** One input found by `listInputs`. */
export type InputDescriptor =
  | { readonly kind: 'file'; readonly path: string; readonly skip?: 'digest' | 'insight' }
  | { readonly kind: 'stdin'; readonly path: '-' }
  | { readonly kind: 'unreadable'; readonly path: string; readonly code: 'E_READ_IO' | 'E_READ_NOT_FILE'; readonly message: string };

/** An input that can be opened: a file that is not skipped, or stdin. */
export type ReadableInput = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'stdin'; readonly path: '-' };

export interface OpenOptions {
  /** What `-` reads; defaults to `process.stdin`. */
  readonly stdin?: NodeJS.ReadableStream;
}

/** One opened input: its raw size as it is read, and its bytes, decompressed when it is gzip. */
export interface OpenedInput {
  /** The input starts with the gzip magic: `chunks` are inflated as they are read. */
  readonly isGzip: boolean;
  /**
   * The input's bytes (decompressed), in order, in chunks of any size. Iterating throws a
   * TrailhoundError: E_READ_IO (reading failed) or E_READ_GZIP (corrupt or truncated gzip, after
   * every chunk decoded before the damage). Ending the iteration early closes the input. Iterate once.
   */
  readonly chunks: AsyncIterable<Uint8Array>;
  /** Bytes read from disk or stdin so far (before decompression); final once `chunks` is done. */
  readonly bytesRead: () => number;
}

/** Bytes read from disk per chunk when a file is streamed. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Regular files up to this size are read whole when opened, so that opening the next file while
 * the current one is processed reads it ahead (CloudTrail log files are well below it).
 */
export const WHOLE_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** Decompressed bytes per chunk: large chunks cost far less per byte (and per record) than zlib's 16 KiB default. */
const INFLATE_CHUNK_BYTES = 1024 * 1024;
const STREAMED_INFLATE_CHUNK_BYTES = 64 * 1024;

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

/** Reads a stream, counting its bytes; failures become E_READ_IO. */
async function* streamBytes(stream: AsyncIterable<unknown>, count: (n: number) => void): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Uint8Array);
      count(bytes.byteLength);
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

/** Decompressed bytes per chunk once an error is found, to give back as much as possible. */
const SALVAGE_CHUNK_BYTES = 16 * 1024;

/**
 * After a gzip error found `produced` bytes into a buffer's output: the bytes after those that zlib
 * can still give before the damage (large output chunks are lost whole when an error is found in
 * them, so the buffer is inflated again in small pieces). Stops quietly at the damage.
 */
async function* salvage(compressed: Uint8Array, produced: number): AsyncGenerator<Uint8Array> {
  const inflater = createGunzip({ chunkSize: SALVAGE_CHUNK_BYTES });
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < compressed.byteLength; at += SALVAGE_CHUNK_BYTES) pieces.push(compressed.subarray(at, at + SALVAGE_CHUNK_BYTES));
  pipeline(Readable.from(pieces), inflater, () => undefined);
  let seen = 0;
  try {
    for await (const chunk of inflater as AsyncIterable<Uint8Array>) {
      if (seen + chunk.byteLength > produced) yield chunk.subarray(Math.max(0, produced - seen));
      seen += chunk.byteLength;
    }
  } catch {
    // The same damage again: what came before it is out.
  } finally {
    inflater.destroy();
  }
}

/** The decompressed bytes of a gzip stream; a damaged stream ends in E_READ_GZIP after its good part. */
async function* gunzip(compressed: Uint8Array | AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  const isWhole = compressed instanceof Uint8Array;
  // A streamed input cannot be inflated again after an error: smaller chunks lose less at the damage.
  const inflater = createGunzip({ chunkSize: isWhole ? INFLATE_CHUNK_BYTES : STREAMED_INFLATE_CHUNK_BYTES });
  if (isWhole) inflater.end(compressed);
  // pipeline forwards errors and tear-down both ways; its own callback has nothing left to do.
  else pipeline(Readable.from(compressed), inflater, () => undefined);
  let produced = 0;
  let failure: unknown;
  try {
    for await (const chunk of inflater as AsyncIterable<Uint8Array>) {
      produced += chunk.byteLength;
      yield chunk;
    }
  } catch (error) {
    if (error instanceof TrailhoundError) throw error;
    failure = error;
  } finally {
    inflater.destroy();
  }
  if (failure === undefined) return;
  if (isWhole) {
    for await (const chunk of salvage(compressed, produced)) {
      produced += chunk.byteLength;
      yield chunk;
    }
  }
  const detail = quoteForMessage(failure instanceof Error ? failure.message : 'unknown error', 80);
  const message =
    errorCode(failure) === 'Z_BUF_ERROR'
      ? `gzip data is truncated after ${produced} decompressed bytes (${detail}); the records before that point were read`
      : `gzip data is corrupt, found after ${produced} decompressed bytes (${detail}); damage can start earlier, so the last records read from this input may be wrong`;
  throw new TrailhoundError('E_READ_GZIP', message, { cause: failure });
}

/** One buffer as a stream of chunks (none when it is empty). */
function once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return Readable.from(bytes.byteLength > 0 ? [bytes] : []) as AsyncIterable<Uint8Array>;
}

/** The whole content of a small regular file, or undefined to stream it (large, or not a regular file). */
async function readWhole(path: string): Promise<Uint8Array | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new TrailhoundError('E_READ_IO', describeIoError(error), { cause: error });
  }
  if (!info.isFile() || info.size > WHOLE_FILE_MAX_BYTES) return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    throw new TrailhoundError('E_READ_IO', describeIoError(error), { cause: error });
  }
}

/**
 * Opens one input and sniffs it: an archive that is not unpacked here is refused
 * (E_READ_UNSUPPORTED), gzip is inflated as it is read, anything else is passed through. A regular
 * file up to `WHOLE_FILE_MAX_BYTES` is read whole here, so a caller that opens the next input
 * before it is done with this one reads ahead; a larger file, a FIFO or stdin is streamed.
 * Throws a TrailhoundError (E_READ_IO, E_READ_UNSUPPORTED).
 */
export async function openInput(input: ReadableInput, options: OpenOptions = {}): Promise<OpenedInput> {
  let bytesRead = 0;
  const count = (n: number): void => {
    bytesRead += n;
  };
  const whole = input.kind === 'file' ? await readWhole(input.path) : undefined;
  let head: Uint8Array;
  let rest: Uint8Array | AsyncGenerator<Uint8Array>;
  if (whole !== undefined) {
    count(whole.byteLength);
    head = whole;
    rest = whole;
  } else {
    const stream: AsyncIterable<unknown> = input.kind === 'stdin' ? (options.stdin ?? process.stdin) : createReadStream(input.path, { highWaterMark: READ_CHUNK_BYTES });
    const sniffed = await sniff(streamBytes(stream, count));
    head = sniffed.head;
    rest = sniffed.rest;
  }
  const archive = UNSUPPORTED_MAGIC.find((magic) => startsWith(head, magic.bytes));
  if (archive !== undefined) {
    if (!(rest instanceof Uint8Array)) await rest.return(undefined);
    throw new TrailhoundError('E_READ_UNSUPPORTED', `this is ${archive.name}, which is not unpacked here: unpack it and scan the files inside`);
  }
  const isGzip = startsWith(head, GZIP_MAGIC);
  const chunks = isGzip ? gunzip(rest) : rest instanceof Uint8Array ? once(rest) : rest;
  return { isGzip, chunks, bytesRead: () => bytesRead };
}
