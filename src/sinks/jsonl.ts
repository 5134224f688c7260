/**
 * The `jsonl:PATH` sink: appends one JSON line per signal change to a file (the signal in its latest
 * version; an update is a new line with the same `id`, so a reader keeps the last line of each id).
 *
 * Durability: each delivery is one append of all its lines followed by fsync, and resolves only
 * after the fsync, so "delivered" means "on disk". When the file is created, its directory is
 * fsynced too, so the file itself survives a crash.
 *
 * Restarts: the file is opened for appending, never truncated as a whole. A crash in the middle of
 * an append can leave a last line without its line feed; such a line was never acknowledged, so
 * opening the file cuts it off (everything up to the last line feed is kept), and every line in the
 * file is then a complete JSON document. The same changes are delivered again after the restart.
 *
 * File I/O goes through a small `JsonlFileSystem` interface (Node's by default), which tests replace
 * to hold or fail a step. The `ocsf:PATH` sink (src/sinks/ocsf.ts) is this sink writing another line
 * (`formatLine`).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TrailhoundError } from '../core/errors.js';
import { DeliveryQueue, signalLine } from './sink.js';
import type { SignalChange, SignalSink } from './sink.js';

/** An open file, for appending and for repairing its tail. */
export interface JsonlFileHandle {
  size(): Promise<number>;
  /** Up to `length` bytes from `position`. */
  read(position: number, length: number): Promise<Uint8Array>;
  truncate(length: number): Promise<void>;
  /** Appends every byte (looping over partial writes). */
  append(data: Uint8Array): Promise<void>;
  /** fsync. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface JsonlFileSystem {
  /** Opens `path` for reading and appending, creating it with `mode` when missing. */
  open(path: string, mode: number): Promise<{ readonly handle: JsonlFileHandle; readonly isCreated: boolean }>;
  /** fsyncs a directory (so a file created in it survives a crash); a no-op where not supported. */
  syncDirectory(path: string): Promise<void>;
}

function nodeHandle(handle: FileHandle): JsonlFileHandle {
  return {
    size: async () => (await handle.stat()).size,
    read: async (position, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    },
    truncate: (length) => handle.truncate(length),
    append: async (data) => {
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        if (bytesWritten <= 0) throw new Error('the file accepted no bytes');
        offset += bytesWritten;
      }
    },
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
}

/** Node's file system. */
export const nodeFileSystem: JsonlFileSystem = {
  async open(path, mode) {
    try {
      // 'ax+': create exclusively, so we know whether this open created the file.
      return { handle: nodeHandle(await open(path, 'ax+', mode)), isCreated: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return { handle: nodeHandle(await open(path, 'a+', mode)), isCreated: false };
  },
  async syncDirectory(path) {
    let directory: FileHandle;
    try {
      directory = await open(path, 'r');
    } catch {
      return;
    }
    try {
      await directory.sync();
    } catch {
      // Some platforms and file systems do not fsync directories.
    } finally {
      await directory.close();
    }
  },
};

export interface JsonlSinkOptions {
  readonly path: string;
  /** Permissions of a file the sink creates. Default 0o600 (signals name accounts, users and hosts). */
  readonly fileMode?: number;
  /** File I/O; Node's by default. */
  readonly fileSystem?: JsonlFileSystem;
  /** The line written for one change, ending with a line feed (default `signalLine`: the signal as JSON). */
  readonly formatLine?: (change: SignalChange) => string;
  /** The sink's kind in its name and messages (default `jsonl`; the OCSF sink says `ocsf`). */
  readonly label?: string;
}

const LINE_FEED = 0x0a;
const TAIL_BLOCK = 64 * 1024;

/**
 * Where the file's complete lines end: its size when it is empty or ends with a line feed, else
 * just after the last line feed (0 when there is none).
 */
async function completeLinesEnd(handle: JsonlFileHandle): Promise<number> {
  const size = await handle.size();
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - TAIL_BLOCK);
    const block = await handle.read(start, end - start);
    if (end === size && block[block.length - 1] === LINE_FEED) return size;
    const at = block.lastIndexOf(LINE_FEED);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class JsonlSink implements SignalSink {
  readonly name: string;
  private readonly queue = new DeliveryQueue();
  private isClosed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly handle: JsonlFileHandle,
    private readonly formatLine: (change: SignalChange) => string,
    label: string,
  ) {
    this.name = `${label}:${path}`;
  }

  deliver(changes: readonly SignalChange[]): Promise<void> {
    if (this.isClosed) return Promise.reject(new TrailhoundError('E_SINK_CLOSED', `the sink ${this.name} is closed`));
    if (changes.length === 0) return this.queue.run(() => Promise.resolve());
    let data: Buffer;
    try {
      data = Buffer.from(changes.map((change) => this.formatLine(change)).join(''), 'utf8');
    } catch (error) {
      const failure = new TrailhoundError('E_SINK_WRITE', `cannot format signals for ${this.path}: ${errorText(error)}`, { cause: error });
      return this.queue.run(() => Promise.reject(failure));
    }
    return this.queue.run(async () => {
      try {
        await this.handle.append(data);
        await this.handle.sync();
      } catch (error) {
        throw new TrailhoundError('E_SINK_WRITE', `cannot write signals to ${this.path}: ${errorText(error)}`, { cause: error });
      }
    });
  }

  close(): Promise<void> {
    this.isClosed = true;
    this.closing ??= this.queue.idle().then(() => this.handle.close());
    return this.closing;
  }
}

/**
 * Opens (creating when missing) the file and repairs a torn last line. Rejects with E_SINK_OPEN when
 * the file cannot be opened for appending (missing directory, a directory, no permission…).
 */
export async function openJsonlSink(options: JsonlSinkOptions): Promise<SignalSink> {
  const path = resolve(options.path);
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  let opened: { readonly handle: JsonlFileHandle; readonly isCreated: boolean };
  try {
    opened = await fileSystem.open(path, options.fileMode ?? 0o600);
  } catch (error) {
    throw new TrailhoundError('E_SINK_OPEN', `cannot open ${path} to append signals: ${errorText(error)}; check that the directory exists and is writable`, { cause: error });
  }
  const { handle } = opened;
  try {
    const end = await completeLinesEnd(handle);
    if (end < (await handle.size())) {
      await handle.truncate(end);
      await handle.sync();
    }
    if (opened.isCreated) {
      await handle.sync();
      await fileSystem.syncDirectory(dirname(path));
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw new TrailhoundError('E_SINK_OPEN', `cannot prepare ${path} for appending signals: ${errorText(error)}`, { cause: error });
  }
  return new JsonlSink(path, handle, options.formatLine ?? signalLine, options.label ?? 'jsonl');
}
