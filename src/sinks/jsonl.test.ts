import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { openJsonlSink } from './jsonl.js';
import { WatchedFileSystem, readJsonLines } from '../../test/support/file-sink.js';
import { combineSinks, openSink, parseSinkSpec } from './spec.js';

function parseFile(path: string): Signal[] {
  return readJsonLines(path) as Signal[];
}

function harness(): SinkHarness {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-jsonl-'));
  const path = join(dir, 'signals.jsonl');
  const fileSystem = new WatchedFileSystem();
  return {
    open: () => openJsonlSink({ path, fileSystem }),
    written: () => Promise.resolve(parseFile(path)),
    openUnwritable: () => {
      // A path below a regular file: no writer can create it (not even root).
      writeFileSync(join(dir, 'plain-file'), '');
      return openJsonlSink({ path: join(dir, 'plain-file', 'signals.jsonl') });
    },
    holdDurability: () => fileSystem.holdSyncs(),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

runSinkConformance('jsonl', () => Promise.resolve(harness()));

describe('jsonl sink', () => {
  const dirs: string[] = [];
  const tempPath = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'trailhound-jsonl-'));
    dirs.push(dir);
    return join(dir, 'signals.jsonl');
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the file readable by its owner only, fsyncs it and its directory, and fsyncs each delivery after the append', async () => {
    const path = tempPath();
    const fileSystem = new WatchedFileSystem();
    const sink = await openJsonlSink({ path, fileSystem });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await sink.deliver(realSignalChanges().slice(0, 2));
    await sink.deliver(realSignalChanges().slice(2, 3));
    expect(fileSystem.steps).toEqual(['create', 'sync', 'sync directory', 'append', 'sync', 'append', 'sync']);
    await sink.close();
  });

  it('appends to an existing file without touching its lines', async () => {
    const path = tempPath();
    const [first, second] = realSignalChanges();
    writeFileSync(path, `${JSON.stringify(first?.signal)}\n`);
    const fileSystem = new WatchedFileSystem();
    const sink = await openJsonlSink({ path, fileSystem });
    await sink.deliver(second ? [second] : []);
    await sink.close();
    expect(parseFile(path).map((s) => s.id)).toEqual([first?.signal.id, second?.signal.id]);
    expect(fileSystem.steps[0]).toBe('open');
    expect(fileSystem.steps.some((s) => s.startsWith('truncate'))).toBe(false);
  });

  it.each([
    ['a torn line after complete ones', 2, '{"id":"torn-by-a-cra'],
    ['a torn line alone in the file', 0, '{"id":"torn'],
    ['a torn line longer than one read block', 1, `{"message":"${'x'.repeat(200_000)}`],
  ])('reopening cuts off %s and keeps every complete line', async (_name, completeLines, torn) => {
    const path = tempPath();
    const changes = realSignalChanges();
    const complete = changes.slice(0, completeLines).map((c) => `${JSON.stringify(c.signal)}\n`);
    writeFileSync(path, complete.join(''));
    appendFileSync(path, torn);
    const sink = await openJsonlSink({ path });
    const next = changes.slice(completeLines, completeLines + 2);
    await sink.deliver(next);
    await sink.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    expect(parseFile(path).map((s) => s.id)).toEqual([...changes.slice(0, completeLines), ...next].map((c) => c.signal.id));
  });

  it('after a failed append, this and every later delivery reject (nothing half-written is acknowledged)', async () => {
    const path = tempPath();
    const fileSystem = new WatchedFileSystem();
    const sink = await openJsonlSink({ path, fileSystem });
    const [first, second, third] = realSignalChanges();
    await sink.deliver(first ? [first] : []);
    fileSystem.appendFailure = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    await expect(sink.deliver(second ? [second] : [])).rejects.toThrow(/cannot write signals to .*ENOSPC/);
    fileSystem.appendFailure = undefined;
    await expect(sink.deliver(third ? [third] : [])).rejects.toThrow(/ENOSPC/);
    await sink.close();
    expect(parseFile(path).map((s) => s.id)).toEqual([first?.signal.id]);
  });

  it.each([
    ['a directory', (dir: string) => dir],
    ['a file below a regular file', (dir: string) => (writeFileSync(join(dir, 'f'), ''), join(dir, 'f', 'x.jsonl'))],
    ['a file in a missing directory', (dir: string) => join(dir, 'missing', 'x.jsonl')],
  ])('opening %s rejects with E_SINK_OPEN and a hint', async (_name, pathIn) => {
    const dir = mkdtempSync(join(tmpdir(), 'trailhound-jsonl-'));
    dirs.push(dir);
    await expect(openJsonlSink({ path: pathIn(dir) })).rejects.toMatchObject({ code: 'E_SINK_OPEN', message: expect.stringMatching(/cannot open .* check that the directory exists/) as unknown });
  });
});

describe('--sink values', () => {
  it.each([
    ['stdout', { kind: 'stdout' }],
    ['-', { kind: 'stdout' }],
    ['jsonl:/var/lib/trailhound/signals.jsonl', { kind: 'jsonl', path: '/var/lib/trailhound/signals.jsonl' }],
    ['jsonl:relative/s.jsonl', { kind: 'jsonl', path: 'relative/s.jsonl' }],
  ])('%s is read as %j', (text, spec) => {
    const parsed = parseSinkSpec(text);
    expect(parsed.ok && parsed.value).toEqual(spec);
  });

  it.each(['jsonl:', 'webhook:ftp://example.com', 'kafka:topic', 'JSONL:x', ''])('%j is refused with E_SINK_SPEC and a hint', (text) => {
    const parsed = parseSinkSpec(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics[0]).toMatchObject({ code: 'E_SINK_SPEC', hint: expect.stringContaining('jsonl:PATH') as unknown });
  });

  it('combined sinks each receive every change, and a delivery waits for all of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trailhound-jsonl-'));
    try {
      const a = await openSink({ kind: 'jsonl', path: join(dir, 'a.jsonl') });
      const b = await openSink({ kind: 'jsonl', path: join(dir, 'b.jsonl') });
      const both = combineSinks([a, b]);
      const changes = realSignalChanges().slice(0, 4);
      await both.deliver(changes);
      await both.close();
      const want = changes.map((c) => c.signal.id);
      expect(parseFile(join(dir, 'a.jsonl')).map((s) => s.id)).toEqual(want);
      expect(parseFile(join(dir, 'b.jsonl')).map((s) => s.id)).toEqual(want);
      await expect(both.deliver(changes)).rejects.toThrow(/closed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
