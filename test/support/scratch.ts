/** Test support: a temporary folder per test file, removed after it, with fresh sub-folders and file writing. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export interface Scratch {
  /** A fresh, empty folder under the scratch folder. */
  readonly freshDir: () => string;
  /** Write `content` at `path` under `dir` (folders created); returns the full path. */
  readonly put: (dir: string, path: string, content: string | Uint8Array) => string;
}

/** Call at the top level of a test file: the folder is removed when the file's tests are done. */
export function useScratch(prefix: string): Scratch {
  const root = mkdtempSync(join(tmpdir(), `trailhound-${prefix}-`));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let count = 0;
  return {
    freshDir: () => {
      const dir = join(root, `case-${count++}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    put: (dir, path, content) => {
      const full = join(dir, path);
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, content);
      return full;
    },
  };
}
