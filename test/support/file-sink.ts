/**
 * Test support for the sinks that append lines to a file (jsonl, ocsf): the file read back, and
 * Node's file system with fsync held on demand and a log of the steps taken.
 */
import { readFileSync } from 'node:fs';
import { nodeFileSystem } from '../../src/sinks/jsonl.js';
import type { JsonlFileHandle, JsonlFileSystem } from '../../src/sinks/jsonl.js';

/** Each non-empty line of the file parsed as JSON; [] when the file does not exist. */
export function readJsonLines(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** Node's file system, with fsync held while `gate` is set, appends failing while `appendFailure` is, and a log of the steps taken. */
export class WatchedFileSystem implements JsonlFileSystem {
  gate: Promise<void> | undefined;
  appendFailure: Error | undefined;
  readonly steps: string[] = [];

  async open(path: string, mode: number): Promise<{ readonly handle: JsonlFileHandle; readonly isCreated: boolean }> {
    const opened = await nodeFileSystem.open(path, mode);
    const inner = opened.handle;
    this.steps.push(opened.isCreated ? 'create' : 'open');
    const handle: JsonlFileHandle = {
      size: () => inner.size(),
      read: (position, length) => inner.read(position, length),
      truncate: (length) => {
        this.steps.push(`truncate ${length}`);
        return inner.truncate(length);
      },
      append: async (data) => {
        if (this.appendFailure !== undefined) throw this.appendFailure;
        this.steps.push('append');
        await inner.append(data);
      },
      sync: async () => {
        if (this.gate !== undefined) await this.gate;
        this.steps.push('sync');
        await inner.sync();
      },
      close: () => inner.close(),
    };
    return { handle, isCreated: opened.isCreated };
  }

  async syncDirectory(path: string): Promise<void> {
    this.steps.push('sync directory');
    await nodeFileSystem.syncDirectory(path);
  }

  /** Holds every fsync until the returned function is called (the conformance suite's `holdDurability`). */
  holdSyncs(): () => void {
    let release: () => void = () => undefined;
    this.gate = new Promise((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = undefined;
      release();
    };
  }
}
