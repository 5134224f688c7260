/**
 * The `ocsf:PATH` sink: appends one OCSF Detection Finding (src/sinks/ocsf-finding.ts) per signal
 * change to a file, one JSON document per line. A consumer keeps the last line of each
 * `finding_info.uid`.
 *
 * The file handling is the jsonl sink's (src/sinks/jsonl.ts): one append and fsync per delivery,
 * resolved only once on disk, the directory fsynced when the file is created, a torn last line cut
 * off when the file is opened again; only the line written differs.
 */
import { openJsonlSink } from './jsonl.js';
import type { JsonlFileSystem } from './jsonl.js';
import { ocsfDetectionFinding } from './ocsf-finding.js';
import type { SignalChange, SignalSink } from './sink.js';

export interface OcsfSinkOptions {
  readonly path: string;
  /** trailhound's version, for `metadata.product.version`. */
  readonly productVersion: string;
  /** Permissions of a file the sink creates. Default 0o600 (findings name accounts, users and hosts). */
  readonly fileMode?: number;
  /** File I/O; Node's by default. */
  readonly fileSystem?: JsonlFileSystem;
  /** The time written into each document (default Date.now). */
  readonly now?: () => number;
}

/** One change as the line the sink writes. */
export function ocsfLine(change: SignalChange, productVersion: string, nowMs: number): string {
  return `${JSON.stringify(ocsfDetectionFinding(change, { productVersion, nowMs }))}\n`;
}

/** Opens (creating when missing) the file; rejects with E_SINK_OPEN when it cannot be appended to. */
export function openOcsfSink(options: OcsfSinkOptions): Promise<SignalSink> {
  const now = options.now ?? Date.now;
  return openJsonlSink({
    path: options.path,
    ...(options.fileMode !== undefined ? { fileMode: options.fileMode } : {}),
    ...(options.fileSystem !== undefined ? { fileSystem: options.fileSystem } : {}),
    formatLine: (change) => ocsfLine(change, options.productVersion, now()),
    label: 'ocsf',
  });
}
