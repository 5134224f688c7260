import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../core/errors.js';
import type { DirWatchOptions, DirWatchProblem, DirWatchRun, WatchedFile } from './dir-watch.js';
import { dirWatchOptionsSchema, parseDirWatchOptions, watchDirectory } from './dir-watch.js';

const STRATUS = readFileSync(fileURLToPath(new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url)));
const POLL_MS = 40;

const scratch = mkdtempSync(join(tmpdir(), 'trailhound-dir-watch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let count = 0;
const freshDir = (): string => {
  const dir = join(scratch, `case-${count++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const put = (dir: string, path: string, content: string | Uint8Array = STRATUS): string => {
  const full = join(dir, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, content);
  return full;
};

interface Watch {
  readonly got: WatchedFile[];
  readonly problems: DirWatchProblem[];
  stop(): Promise<void>;
}

function startWatch(options: Omit<DirWatchOptions, 'pollIntervalMs'> & { pollIntervalMs?: number }, run: Omit<DirWatchRun, 'signal' | 'onProblem'> = {}): Watch {
  const controller = new AbortController();
  const got: WatchedFile[] = [];
  const problems: DirWatchProblem[] = [];
  const done = (async () => {
    for await (const file of watchDirectory({ pollIntervalMs: POLL_MS, ...options }, { ...run, signal: controller.signal, onProblem: (p) => problems.push(p) })) got.push(file);
  })();
  return {
    got,
    problems,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

async function waitFor(condition: () => boolean, limitMs = 5_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!condition() && Date.now() < until) await delay(5);
}

const paths = (w: Watch): string[] => w.got.map((f) => f.path);

describe('options', () => {
  it('every option is documented in docs/sources.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/sources.md', import.meta.url)), 'utf8');
    expect(Object.keys(dirWatchOptionsSchema.shape).filter((key) => !doc.includes(`\`${key}\``))).toEqual([]);
  });

  it.each([
    { input: { path: '' }, says: 'path' },
    { input: { path: '/tmp', pollIntervalMs: 1 }, says: 'pollIntervalMs' },
    { input: { path: '/tmp', poll: 5 }, says: 'poll' },
  ])('$says is rejected with a usage error naming it', ({ input, says }) => {
    expect(() => parseDirWatchOptions(input)).toThrow(UsageError);
    expect(() => parseDirWatchOptions(input)).toThrow(says);
  });
});

describe('picking up files as they appear', () => {
  it('files written later, in nested folders, come once each with their size', async () => {
    const dir = freshDir();
    const w = startWatch({ path: dir });
    await delay(POLL_MS * 2);
    const a = put(dir, 'AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/a.json');
    await waitFor(() => w.got.length === 1);
    const b = put(dir, 'b.json.gz', Buffer.from('small'));
    await waitFor(() => w.got.length === 2);
    await delay(POLL_MS * 4);
    await w.stop();
    expect(w.got).toEqual([
      { path: a, size: STRATUS.length, mtimeMs: expect.any(Number) as number },
      { path: b, size: 5, mtimeMs: expect.any(Number) as number },
    ]);
  });

  it('a file still being written is not given until its size holds for a poll', async () => {
    const dir = freshDir();
    // Polls far apart compared with the writes, so a slow machine still sees it grow between polls.
    const w = startWatch({ path: dir, pollIntervalMs: 150 });
    const path = join(dir, 'growing.json');
    writeFileSync(path, STRATUS.subarray(0, 100));
    for (let at = 100; at < 1_100; at += 100) {
      await delay(30);
      appendFileSync(path, STRATUS.subarray(at, at + 100));
      expect(w.got).toEqual([]);
    }
    await waitFor(() => w.got.length === 1);
    await w.stop();
    expect(w.got.map((f) => [f.path, f.size])).toEqual([[path, 1_100]]);
  });

  it('a file moved in whole is given; one removed and created again is given again', async () => {
    const dir = freshDir();
    const staging = freshDir();
    const w = startWatch({ path: dir });
    const target = join(dir, 'moved.json');
    renameSync(put(staging, 'x.json'), target);
    await waitFor(() => w.got.length === 1);
    rmSync(target);
    await delay(POLL_MS * 3);
    put(dir, 'moved.json', Buffer.from('[]'));
    await waitFor(() => w.got.length === 2);
    await w.stop();
    expect(w.got.map((f) => [f.path, f.size])).toEqual([
      [target, STRATUS.length],
      [target, 2],
    ]);
  });
});

describe('what is there already, and what is done', () => {
  it.for([
    { name: 'includeExisting (default) gives the files already there', includeExisting: true, done: [] as string[], expected: ['old-1.json', 'old-2.json', 'new.json'] },
    { name: 'includeExisting false skips them', includeExisting: false, done: [] as string[], expected: ['new.json'] },
    { name: 'the isDone predicate skips finished files', includeExisting: true, done: ['old-1.json', 'new.json'], expected: ['old-2.json'] },
  ])('$name', async ({ includeExisting, done, expected }) => {
    const dir = freshDir();
    put(dir, 'old-1.json');
    put(dir, 'old-2.json');
    const finished = new Set(done.map((d) => join(dir, d)));
    const w = startWatch({ path: dir, includeExisting }, { isDone: (f) => finished.has(f.path) });
    await delay(POLL_MS * 3);
    put(dir, 'new.json');
    await delay(POLL_MS * 5);
    await w.stop();
    expect(paths(w)).toEqual(expected.map((e) => join(dir, e)));
  });
});

describe('what is never read', () => {
  it('dot files, dot folders, digest and insight folders and symlinked folders are skipped', async () => {
    const dir = freshDir();
    const elsewhere = freshDir();
    put(elsewhere, 'outside.json');
    put(dir, '.hidden.json');
    put(dir, '.git/objects/x.json');
    put(dir, 'AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz');
    put(dir, 'AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/08/01/i.json.gz');
    symlinkSync(elsewhere, join(dir, 'linked'));
    const kept = put(dir, 'AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/kept.json');
    const w = startWatch({ path: dir });
    await waitFor(() => w.got.length === 1);
    await delay(POLL_MS * 4);
    await w.stop();
    expect(paths(w)).toEqual([kept]);
  });
});

describe('problems and stopping', () => {
  it('a missing folder is reported once, and watched once it exists', async () => {
    const dir = join(freshDir(), 'not-yet');
    const w = startWatch({ path: dir });
    await delay(POLL_MS * 5);
    expect(w.problems.map((p) => p.code)).toEqual(['E_WATCH_LIST']);
    expect(w.problems[0]?.message).toContain('ENOENT');
    const file = put(dir, 'first.json');
    await waitFor(() => w.got.length === 1);
    await w.stop();
    expect(paths(w)).toEqual([file]);
    expect(w.problems.length).toBe(1);
  });

  it('abort ends the watch during its sleep', async () => {
    const dir = freshDir();
    const controller = new AbortController();
    const watching = (async () => {
      for await (const _file of watchDirectory({ path: dir, pollIntervalMs: 60_000 }, { signal: controller.signal })) {
        // no files
      }
    })();
    await delay(50);
    const before = Date.now();
    controller.abort();
    await watching;
    expect(Date.now() - before).toBeLessThan(1_000);
  });
});
