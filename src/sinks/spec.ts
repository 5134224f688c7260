/**
 * `--sink` values and opening them: `stdout` (or `-`) and `jsonl:PATH`. Several sinks are combined
 * with `combineSinks`, whose deliveries resolve once every sink has its changes.
 */
import type { Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import { openJsonlSink } from './jsonl.js';
import type { JsonlSinkOptions } from './jsonl.js';
import type { SignalChange, SignalSink } from './sink.js';
import { createStdoutSink } from './stdout.js';
import type { StdoutSinkOptions } from './stdout.js';

export type SinkSpec = { readonly kind: 'stdout' } | { readonly kind: 'jsonl'; readonly path: string };

const SINK_HINT = 'use --sink stdout or --sink jsonl:PATH (e.g. jsonl:/var/lib/trailhound/signals.jsonl)';

/** Reads one `--sink` value. */
export function parseSinkSpec(text: string): Result<SinkSpec> {
  const value = text.trim();
  if (value === 'stdout' || value === '-') return ok({ kind: 'stdout' });
  if (value.startsWith('jsonl:')) {
    const path = value.slice('jsonl:'.length);
    if (path === '') return fail([{ code: 'E_SINK_SPEC', severity: 'error', message: 'jsonl: needs a file path', hint: SINK_HINT }]);
    return ok({ kind: 'jsonl', path });
  }
  const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return fail([{ code: 'E_SINK_SPEC', severity: 'error', message: `unknown sink ${shown}`, hint: SINK_HINT }]);
}

export interface OpenSinkOptions {
  readonly stdout?: StdoutSinkOptions;
  readonly jsonl?: Omit<JsonlSinkOptions, 'path'>;
}

/** Opens the sink a spec names (rejects when a jsonl file cannot be opened). */
export async function openSink(spec: SinkSpec, options: OpenSinkOptions = {}): Promise<SignalSink> {
  if (spec.kind === 'stdout') return createStdoutSink(options.stdout);
  return openJsonlSink({ ...options.jsonl, path: spec.path });
}

/**
 * One sink that delivers to all of `sinks` at once; a delivery resolves when all resolved and
 * rejects when any rejected. `close` closes them all.
 */
export function combineSinks(sinks: readonly SignalSink[]): SignalSink {
  if (sinks.length === 1 && sinks[0] !== undefined) return sinks[0];
  return {
    name: sinks.map((s) => s.name).join(', '),
    async deliver(changes: readonly SignalChange[]): Promise<void> {
      await Promise.all(sinks.map((s) => s.deliver(changes)));
    },
    async close(): Promise<void> {
      const results = await Promise.allSettled(sinks.map((s) => s.close()));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}
