/**
 * Where new_value rules' history lives between scans (`trailhound scan --state DIR`). A small
 * interface so that a later store (SQLite) can replace the JSON file without touching the pipeline.
 *
 * The file store keeps `DIR/new-value-history.json`:
 * `{"version": 1, "rules": [{"ruleId", "fingerprint", "learningStartMs", "latestMs", "groups": […]}]}`
 * (the engine's `NewValueHistory`, src/engine/new-value.ts). It is written atomically: to a
 * temporary file in the same folder, flushed, then renamed over the old one, so a crash or a full
 * disk never leaves half a file. Two scans saving to one folder at once: the last one wins.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TrailhoundError } from '../core/errors.js';
import { formatDiagnostic } from '../core/types.js';
import { parseNewValueHistory } from '../engine/new-value.js';
import type { NewValueHistory } from '../engine/new-value.js';

export interface NewValueHistoryStore {
  /** The saved history, or undefined when nothing was saved yet. Throws TrailhoundError when it is unreadable. */
  load(): Promise<NewValueHistory | undefined>;
  /** Replace the saved history. */
  save(history: NewValueHistory): Promise<void>;
}

export const NEW_VALUE_HISTORY_FILE = 'new-value-history.json';

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}

/** The history in `dir/new-value-history.json`; the folder is created on the first save. */
export function fileNewValueHistoryStore(dir: string): NewValueHistoryStore {
  const path = join(dir, NEW_VALUE_HISTORY_FILE);
  let saves = 0;
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw new TrailhoundError('E_STATE_READ', `cannot read the state file ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new TrailhoundError('E_STATE_READ', `the state file ${path} is not valid JSON; delete it to start learning afresh`, { cause: error });
      }
      const parsed = parseNewValueHistory(value);
      if (!parsed.ok) {
        const first = parsed.diagnostics[0];
        throw new TrailhoundError('E_STATE_READ', `the state file ${path} is damaged or from another version${first ? ` (${formatDiagnostic(first)})` : ''}; delete it to start learning afresh`);
      }
      return parsed.value;
    },

    async save(history) {
      const temporary = `${path}.${process.pid}.${saves++}.tmp`;
      try {
        await mkdir(dir, { recursive: true });
        const handle = await open(temporary, 'w');
        try {
          await handle.writeFile(`${JSON.stringify(history)}\n`, 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, path);
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => undefined);
        throw new TrailhoundError('E_STATE_WRITE', `cannot save the state file ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    },
  };
}

/** A history kept in memory (tests, embedding): `load` gives a copy of what `save` was last given. */
export function memoryNewValueHistoryStore(initial?: NewValueHistory): NewValueHistoryStore & { readonly saved: () => NewValueHistory | undefined } {
  let current: string | undefined = initial ? JSON.stringify(initial) : undefined;
  const read = (): NewValueHistory | undefined => {
    if (current === undefined) return undefined;
    const parsed = parseNewValueHistory(JSON.parse(current));
    return parsed.ok ? parsed.value : undefined;
  };
  return {
    load: () => Promise.resolve(read()),
    save: (history) => {
      current = JSON.stringify(history);
      return Promise.resolve();
    },
    saved: read,
  };
}
