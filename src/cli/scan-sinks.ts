/**
 * `scan --sink SPEC`: the scan's signals (each in its final version, as a `created` change) also go
 * to each sink. Files (`jsonl:`, `ocsf:`) are written directly; network sinks go through the same
 * delivery runner as `watch` (src/pipeline/outbox-delivery.ts) on an in-memory outbox, with a short
 * retry policy: a scan is one run, so what cannot be delivered after a few attempts is reported and
 * the scan exits 1.
 */
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import { startOutboxDelivery } from '../pipeline/outbox-delivery.js';
import type { RetryPolicy } from '../pipeline/outbox-delivery.js';
import { isOutboxSink, openSink, outboxBatchSizeOf, parseSinkSpec, sinkKeyOf } from '../sinks/spec.js';
import type { SinkSpec } from '../sinks/spec.js';
import { openMemoryStateStore } from '../store/memory-state-store.js';
import { escapeForTerminal } from './render.js';

/** A scan waits at most about half a minute for a failing network sink. */
export const SCAN_RETRY_POLICY: RetryPolicy = { baseDelayMs: 500, maxDelayMs: 8000, maxAttempts: 5 };

/** Reads the `--sink` values of a scan (stdout is refused: the scan prints its signals there already). */
export function parseScanSinks(values: readonly string[] | undefined): SinkSpec[] {
  return (values ?? []).map((text) => {
    const parsed = parseSinkSpec(text);
    if (!parsed.ok) throw new UsageError(parsed.diagnostics.map((d) => `--sink: ${d.message}${d.hint ? ` (${d.hint})` : ''}`).join('; '));
    if (parsed.value.kind === 'stdout') throw new UsageError('scan prints its signals on stdout already (--format); --sink takes jsonl:PATH, ocsf:PATH, webhook:URL, slack:URL, pagerduty:KEY or securityhub');
    return parsed.value.kind === 'jsonl' || parsed.value.kind === 'ocsf' ? { ...parsed.value, path: resolve(parsed.value.path) } : parsed.value;
  });
}

export interface ScanDeliveryOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly productVersion: string;
  readonly stderr: NodeJS.WritableStream;
  readonly retry?: Partial<RetryPolicy>;
}

/** Delivers `signals` to every sink; returns how many (sink, signal) deliveries failed (each reported on stderr). */
export async function deliverScanSignals(specs: readonly SinkSpec[], signals: readonly Signal[], options: ScanDeliveryOptions): Promise<number> {
  if (specs.length === 0 || signals.length === 0) return 0;
  const keyed = specs.map((spec) => {
    try {
      return { spec, key: sinkKeyOf(spec, options.env) };
    } catch (error) {
      throw new UsageError(`sink ${spec.kind}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const changes = signals.map((signal) => ({ kind: 'created' as const, signal }));
  let failures = 0;
  const report = (key: string, message: string): void => {
    options.stderr.write(`problem: ${escapeForTerminal(key)}: ${escapeForTerminal(message)}\n`);
  };
  for (const { spec, key } of keyed.filter((k) => !isOutboxSink(k.spec))) {
    try {
      const sink = await openSink(spec, { env: options.env, productVersion: options.productVersion });
      try {
        await sink.deliver(changes);
      } finally {
        await sink.close();
      }
    } catch (error) {
      failures += changes.length;
      report(key, error instanceof Error ? error.message : String(error));
    }
  }
  const network = keyed.filter((k) => isOutboxSink(k.spec));
  if (network.length === 0) return failures;
  const store = await openMemoryStateStore();
  try {
    await store.commitCheckpoint({ emittedSignals: changes, deliverTo: network.map((k) => k.key) });
    const runner = startOutboxDelivery({
      store,
      sinks: network.map(({ spec, key }) => {
        const batchSize = outboxBatchSizeOf(spec);
        return { key, open: () => openSink(spec, { env: options.env, productVersion: options.productVersion }), ...(batchSize !== undefined ? { batchSize } : {}) };
      }),
      retry: { ...SCAN_RETRY_POLICY, ...options.retry },
      onEvent: (event) => {
        if (event.type === 'retry') report(event.sink, `E_SINK_RETRY: ${String(event.count)} signal(s) not delivered (attempt ${String(event.attempts)}): ${event.error}`);
      },
    });
    await runner.settled(Infinity);
    await runner.close();
    for (const dead of await store.deadLetters()) {
      failures++;
      report(dead.sink, `E_SINK_DEAD: signal ${dead.signal.id} not delivered after ${String(dead.attempts)} attempt(s): ${dead.lastError ?? ''}`);
    }
  } finally {
    await store.close();
  }
  return failures;
}
