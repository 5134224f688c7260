/**
 * Watch a local folder for new files by polling (portable, unlike `fs.watch` on network and
 * container file systems): every `pollIntervalMs` the folder is listed recursively; a file is new
 * when its path has not been seen, and it is yielded once its size and modification time are the
 * same on two polls in a row (so a file still being written or copied is not read half-way).
 *
 * Dot files and dot folders (`.git`, `.DS_Store`, editors' temporary files) are not read, symbolic
 * links are not followed (no loops), and CloudTrail digest and Insight objects are skipped. A path
 * that disappears is forgotten, so memory follows what the folder holds; a file created again at
 * the same path is new again (the caller's `isDone` says whether it was finished). Gunzip and
 * parsing are the caller's job.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { cloudTrailObjectKind } from './notifications.js';

export const dirWatchOptionsSchema = z.strictObject({
  path: z.string().min(1),
  pollIntervalMs: z.number().int().min(10).default(2_000),
  /** Whether files already there at the first poll are yielded (after `isDone`) or taken as seen. */
  includeExisting: z.boolean().default(true),
});

export type DirWatchOptions = z.input<typeof dirWatchOptionsSchema>;
export type ResolvedDirWatchOptions = z.output<typeof dirWatchOptionsSchema>;

export function parseDirWatchOptions(input: unknown): ResolvedDirWatchOptions {
  const parsed = dirWatchOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new UsageError(`invalid folder watch options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
}

export interface WatchedFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface DirWatchProblem {
  readonly code: 'E_WATCH_LIST';
  /** The folder or file. Attacker-influenced: escape it before printing. */
  readonly source: string;
  readonly message: string;
  readonly cause?: unknown;
}

export interface DirWatchRun {
  readonly signal?: AbortSignal;
  /** Whether a file is already finished (from the checkpoint store). */
  readonly isDone?: (file: WatchedFile) => boolean | Promise<boolean>;
  /** Reported once per distinct problem in a row (a missing folder is not reported every poll). */
  readonly onProblem?: (problem: DirWatchProblem) => void;
}

interface Sighting {
  readonly size: number;
  readonly mtimeMs: number;
  /** Yielded (or found done, or there before the first poll with includeExisting false). */
  isSettled: boolean;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? `${error.code}: ${error.message}` : error.message;
  return String(error);
}

/** Every regular file under `root` (recursively), sorted; problems below the root are reported. */
async function listFiles(root: string, report: (problem: DirWatchProblem) => void): Promise<Map<string, { size: number; mtimeMs: number }>> {
  const found = new Map<string, { size: number; mtimeMs: number }>();
  const rootStat = await lstat(root);
  if (rootStat.isFile()) {
    found.set(root, { size: rootStat.size, mtimeMs: rootStat.mtimeMs });
    return found;
  }
  const walk = async (dir: string, isRoot: boolean): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isRoot) throw error;
      report({ code: 'E_WATCH_LIST', source: dir, message: `cannot list the folder: ${describeError(error)}`, cause: error });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full, false);
      } else if (entry.isFile()) {
        if (cloudTrailObjectKind(full.split('\\').join('/')) !== 'log') continue;
        try {
          const s = await lstat(full);
          found.set(full, { size: s.size, mtimeMs: s.mtimeMs });
        } catch (error) {
          // Removed between readdir and lstat: it is simply not there this poll.
          if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) report({ code: 'E_WATCH_LIST', source: full, message: `cannot read the file's size: ${describeError(error)}`, cause: error });
        }
      }
    }
  };
  await walk(root, true);
  return found;
}

/**
 * Yield each new file of the folder once it is stable, until `signal` aborts. A file already
 * yielded is not yielded again while it stays at its path, even if it grows.
 */
export async function* watchDirectory(options: DirWatchOptions, run: DirWatchRun = {}): AsyncGenerator<WatchedFile> {
  const o = parseDirWatchOptions(options);
  const { signal, isDone } = run;
  let lastProblem = '';
  const report = (problem: DirWatchProblem): void => {
    const id = `${problem.source}\u0000${problem.message}`;
    if (id === lastProblem) return;
    lastProblem = id;
    run.onProblem?.(problem);
  };
  const sightings = new Map<string, Sighting>();
  let isFirst = true;
  const isAborted = (): boolean => signal?.aborted === true;
  while (!isAborted()) {
    let listed: Map<string, { size: number; mtimeMs: number }> | undefined;
    try {
      listed = await listFiles(o.path, report);
    } catch (error) {
      report({ code: 'E_WATCH_LIST', source: o.path, message: `cannot list the watched folder: ${describeError(error)}`, cause: error });
    }
    if (listed) {
      for (const path of sightings.keys()) if (!listed.has(path)) sightings.delete(path);
      for (const [path, now] of listed) {
        const before = sightings.get(path);
        if (before === undefined) {
          sightings.set(path, { ...now, isSettled: isFirst && !o.includeExisting });
          continue;
        }
        if (before.isSettled) continue;
        if (before.size !== now.size || before.mtimeMs !== now.mtimeMs) {
          sightings.set(path, { ...now, isSettled: false });
          continue;
        }
        before.isSettled = true;
        const file: WatchedFile = { path, size: now.size, mtimeMs: now.mtimeMs };
        if (isDone !== undefined && (await isDone(file))) continue;
        if (isAborted()) return;
        yield file;
      }
      isFirst = false;
    }
    try {
      await delay(o.pollIntervalMs, undefined, signal ? { signal } : {});
    } catch {
      return;
    }
  }
}
