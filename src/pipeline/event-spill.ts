/**
 * The scan's ordering buffer: matched events go in in input order and come out in evaluation
 * order — (event time, key, arrival), the engine's order — with bounded memory.
 *
 * A scan reads files in the order they are listed, which is not time order (an S3 trail lists one
 * account and region after another). The engine must evaluate in time order, so it used to keep
 * every matched event until the end of the scan; memory grew with the input. Here events are
 * buffered up to `maxBufferedEvents`, then the buffer is sorted and written to a temporary file
 * (a "run", one JSON array per line); at the end the runs and the last buffer are merged (k-way,
 * through a binary heap), so the scan holds one buffer, one block per run, and what the engine
 * keeps for its windows. When there are `maxOpenRuns` runs, they are first merged into one. An event whose fields JSON cannot carry exactly (`-0`, `1e400`) stays in memory.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { JsonObject, JsonValue } from '../core/types.js';

/** One matched event as the scan keeps it until evaluation. */
export interface SpilledEvent {
  readonly time: number;
  readonly key: string;
  readonly eventId: string | null;
  /** Position in input order (the tie-break after time and key). */
  readonly arrival: number;
  /** Positions of the rules (in the scan's rule list) the event matched. */
  readonly rules: readonly number[];
  readonly fields: JsonObject;
}

export interface EventSpillOptions {
  /** Events held in memory before a run is written (default 65,536). */
  readonly maxBufferedEvents?: number;
  /** Runs merged at once; more are first merged into bigger runs (default 64). */
  readonly maxOpenRuns?: number;
  /** Where the temporary folder is made (default: the OS temporary folder). */
  readonly tempDir?: string;
}

/** The engine's evaluation order (src/engine/engine.ts compareOrder) with arrival last. */
export function compareSpilled(a: SpilledEvent, b: SpilledEvent): number {
  if (a.time !== b.time) return a.time - b.time;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.arrival - b.arrival;
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

function lineOf(e: SpilledEvent): string | undefined {
  if (!survivesJson(e.fields)) return undefined;
  try {
    return JSON.stringify([e.time, e.key, e.eventId, e.arrival, e.rules, e.fields]);
  } catch {
    return undefined; // nested too deep for JSON.stringify
  }
}

function eventOfLine(line: string): SpilledEvent {
  const [time, key, eventId, arrival, rules, fields] = JSON.parse(line) as [number, string, string | null, number, number[], JsonObject];
  return { time, key, eventId, arrival, rules, fields };
}

/** A source of events in evaluation order. */
interface Cursor {
  /** The next event, or undefined when done. */
  readonly head: SpilledEvent | undefined;
  advance(): void;
  close(): void;
}

class ArrayCursor implements Cursor {
  private i = 0;
  constructor(private readonly events: readonly SpilledEvent[]) {}
  get head(): SpilledEvent | undefined {
    return this.events[this.i];
  }
  advance(): void {
    this.i++;
  }
  close(): void {}
}

/** Reads a run file line by line, a block at a time. */
class RunCursor implements Cursor {
  private fd: number | undefined;
  private readonly buffer: Buffer;
  /** Keeps a character split across two blocks whole. */
  private readonly decoder = new StringDecoder('utf8');
  private lines: string[] = [];
  private lineIndex = 0;
  private carry = '';
  private isAtEnd = false;
  head: SpilledEvent | undefined;

  constructor(path: string, blockBytes: number) {
    this.fd = openSync(path, 'r');
    this.buffer = Buffer.allocUnsafe(blockBytes);
    this.advance();
  }

  advance(): void {
    for (;;) {
      const line = this.lines[this.lineIndex];
      if (line !== undefined) {
        this.lineIndex++;
        if (line === '') continue;
        this.head = eventOfLine(line);
        return;
      }
      if (this.isAtEnd || this.fd === undefined) {
        this.head = undefined;
        this.close();
        return;
      }
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      if (n === 0) {
        this.isAtEnd = true;
        const rest = this.carry + this.decoder.end();
        this.lines = rest === '' ? [] : [rest];
        this.carry = '';
      } else {
        const text = this.carry + this.decoder.write(this.buffer.subarray(0, n));
        const cut = text.lastIndexOf('\n');
        if (cut < 0) {
          this.carry = text;
          this.lines = [];
        } else {
          this.lines = text.slice(0, cut).split('\n');
          this.carry = text.slice(cut + 1);
        }
      }
      this.lineIndex = 0;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A binary min-heap of cursors by their head event. */
function* mergeCursors(cursors: readonly Cursor[]): Generator<SpilledEvent> {
  const heap = cursors.filter((c) => c.head !== undefined);
  const less = (i: number, j: number): boolean => compareSpilled(heap[i]?.head as SpilledEvent, heap[j]?.head as SpilledEvent) < 0;
  const swap = (i: number, j: number): void => {
    const t = heap[i] as Cursor;
    heap[i] = heap[j] as Cursor;
    heap[j] = t;
  };
  const down = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(l, m)) m = l;
      if (r < heap.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  try {
    while (heap.length > 0) {
      const top = heap[0] as Cursor;
      yield top.head as SpilledEvent;
      top.advance();
      if (top.head === undefined) {
        top.close();
        const last = heap.pop() as Cursor;
        if (heap.length > 0) heap[0] = last;
      }
      down(0);
    }
  } finally {
    for (const c of cursors) c.close();
  }
}

/** Bytes read per block from each run while merging (the merge holds one per run). */
const RUN_BLOCK_BYTES = 256 * 1024;

export class EventSpill {
  private readonly maxBuffered: number;
  private readonly maxOpenRuns: number;
  private readonly tempParent: string;
  private buffer: SpilledEvent[] = [];
  /** Events that cannot go through JSON: kept in memory, sorted at the end. */
  private readonly pinned: SpilledEvent[] = [];
  private dir: string | undefined;
  /** Run files with the number of events in each. */
  private runs: { readonly path: string; readonly events: number }[] = [];
  private runCount = 0;
  /** Events written to runs so far. */
  spilledEvents = 0;
  private count = 0;

  constructor(options: EventSpillOptions = {}) {
    this.maxBuffered = Math.max(1, options.maxBufferedEvents ?? 65_536);
    this.maxOpenRuns = Math.max(2, options.maxOpenRuns ?? 64);
    this.tempParent = options.tempDir ?? tmpdir();
  }

  /** Events added so far. */
  get size(): number {
    return this.count;
  }

  add(event: SpilledEvent): void {
    this.count++;
    this.buffer.push(event);
    if (this.buffer.length >= this.maxBuffered) this.spill();
  }

  private nextRunPath(): string {
    this.dir ??= mkdtempSync(join(this.tempParent, 'trailhound-scan-'));
    return join(this.dir, `run-${String(this.runCount++)}.jsonl`);
  }

  /** Sorts the buffer and writes it as a run. */
  private spill(): void {
    const events = this.buffer;
    this.buffer = [];
    events.sort(compareSpilled);
    const lines: string[] = [];
    for (const e of events) {
      const line = lineOf(e);
      if (line === undefined) this.pinned.push(e);
      else lines.push(line);
    }
    if (lines.length === 0) return;
    const path = this.nextRunPath();
    writeFileSync(path, `${lines.join('\n')}\n`);
    this.spilledEvents += lines.length;
    this.runs.push({ path, events: lines.length });
    if (this.runs.length >= this.maxOpenRuns) this.compact();
  }

  /**
   * Merges every run into one (keeps the number of open files and blocks bounded). With the
   * default limits this first happens past a million buffered events.
   */
  private compact(): void {
    const blockBytes = Math.max(16 * 1024, Math.floor(RUN_BLOCK_BYTES / 4));
    const inputs = this.runs;
    const path = this.nextRunPath();
    let events = 0;
    const fd = openSync(path, 'w');
    try {
      let lines: string[] = [];
      for (const e of mergeCursors(inputs.map((r) => new RunCursor(r.path, blockBytes)))) {
        lines.push(lineOf(e) ?? '');
        events++;
        if (lines.length >= 8192) {
          writeFileSync(fd, `${lines.join('\n')}\n`);
          lines = [];
        }
      }
      if (lines.length > 0) writeFileSync(fd, `${lines.join('\n')}\n`);
    } finally {
      closeSync(fd);
    }
    for (const r of inputs) rmSync(r.path, { force: true });
    this.runs = [{ path, events }];
  }

  /** Every event added, in evaluation order. Call once, after the last `add`. */
  *drain(): Generator<SpilledEvent> {
    const last = this.buffer;
    this.buffer = [];
    last.sort(compareSpilled);
    this.pinned.sort(compareSpilled);
    const blockBytes = Math.max(16 * 1024, Math.floor((RUN_BLOCK_BYTES * 8) / Math.max(1, this.runs.length)));
    const cursors: Cursor[] = [new ArrayCursor(last), new ArrayCursor(this.pinned), ...this.runs.map((r) => new RunCursor(r.path, Math.min(RUN_BLOCK_BYTES, blockBytes)))];
    yield* mergeCursors(cursors);
  }

  /** Removes the temporary files. Idempotent. */
  close(): void {
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.runs = [];
  }
}
