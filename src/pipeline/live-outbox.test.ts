/**
 * Network sinks in the live runtime: committed to the outbox with the step, delivered by the
 * outbox runner after it, so a slow or failing target never holds up a checkpoint nor stops the
 * runtime; what it has not confirmed at shutdown stays in the store for the next start.
 */
import { describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import type { SignalChange, SignalSink } from '../sinks/sink.js';
import { createWebhookSink } from '../sinks/webhook.js';
import type { InputRecord } from '../sources/source.js';
import { createMemoryStateBacking, openMemoryStateStore } from '../store/memory-state-store.js';
import type { MemoryStateBacking } from '../store/memory-state-store.js';
import { builtinRules } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { attackRecords } from '../../test/support/live-fixtures.js';
import { openLiveRuntime } from './live.js';
import type { LiveProblem } from './live.js';
import { createLiveMetrics } from './metrics.js';

const rules = builtinRules();
const attack = attackRecords();

class MemorySink implements SignalSink {
  readonly name = 'memory';
  readonly changes: SignalChange[] = [];
  deliver(changes: readonly SignalChange[]): Promise<void> {
    this.changes.push(...changes);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function inputs(records: readonly Rec[]): InputRecord[] {
  return records.map((value, index) => ({ value, text: JSON.stringify(value), origin: { source: 'test', index } }));
}

function versions(signals: readonly Signal[]): string[] {
  return signals.map((s) => `${s.id}#${String(s.updates)}`);
}

async function openRuntime(backing: MemoryStateBacking, server: HttpRecorder, problems: LiveProblem[] = []) {
  const store = await openMemoryStateStore(backing);
  const sink = new MemorySink();
  const runtime = await openLiveRuntime({
    rules,
    store,
    sinks: [{ key: 'memory', sink }],
    outboxSinks: [{ key: 'webhook:test', open: () => createWebhookSink({ url: server.url, format: 'flat', productVersion: 'test', timeoutMs: 2000 }) }],
    outboxRetry: { baseDelayMs: 20, maxDelayMs: 100 },
    outboxPollIntervalMs: 50,
    metrics: createLiveMetrics(),
    onProblem: (p) => problems.push(p),
  });
  return { store, sink, runtime };
}

describe('network sinks in the live runtime', () => {
  it('a step commits and returns while the target holds its answer; the outbox runner delivers after', async () => {
    const server = await startHttpRecorder();
    const release = server.hold();
    const backing = createMemoryStateBacking();
    const { store, sink, runtime } = await openRuntime(backing, server);
    try {
      expect(await store.registeredSinks()).toEqual(['memory', 'webhook:test']);
      await runtime.processRecords(inputs(attack), { source: 'http' });
      // Committed and delivered to the local sink; the webhook has (at most) its first request in flight.
      expect(sink.changes.length).toBeGreaterThan(0);
      expect(backing.data.outbox.get('memory')?.size ?? 0).toBe(0);
      expect((await store.pendingDeliveries('webhook:test')).length).toBe(sink.changes.length);
      expect(server.accepted()).toHaveLength(0);
      release();
      await expect.poll(async () => (await store.pendingDeliveries('webhook:test')).length).toBe(0);
      expect(versions(server.accepted().map((r) => (JSON.parse(r.body) as { signal: Signal }).signal))).toEqual(versions(sink.changes.map((c) => c.signal)));
      expect(runtime.outbox?.stats.delivered).toBe(sink.changes.length);
    } finally {
      release();
      await runtime.close({ drainTimeoutMs: 2000 });
      await store.close();
      await server.close();
    }
  });

  it('a failing target is not fatal: detection goes on, retries are reported, and the next start delivers what is left', async () => {
    let isDown = true;
    const server = await startHttpRecorder({ answer: () => (isDown ? { status: 503, body: 'down' } : { status: 200 }) });
    const backing = createMemoryStateBacking();
    const problems: LiveProblem[] = [];
    const first = await openRuntime(backing, server, problems);
    await first.runtime.processRecords(inputs(attack.slice(0, Math.ceil(attack.length / 2))), { source: 'http' });
    await first.runtime.processRecords(inputs(attack.slice(Math.ceil(attack.length / 2))), { source: 'http' });
    await expect.poll(() => problems.filter((p) => p.code === 'E_SINK_RETRY').length).toBeGreaterThanOrEqual(2);
    expect(first.runtime.fatalError).toBeUndefined();
    expect(first.runtime.stats.steps).toBe(2);
    expect(problems.find((p) => p.code === 'E_SINK_RETRY')?.source).toBe('webhook:test');
    expect(problems.find((p) => p.code === 'E_SINK_RETRY')?.message).toMatch(/HTTP 503: down; retried at /);
    await first.runtime.close({ drainTimeoutMs: 2000 });
    await first.store.close();
    const pending = backing.data.outbox.get('webhook:test')?.size ?? 0;
    expect(pending).toBe(first.sink.changes.length);

    isDown = false;
    const second = await openRuntime(backing, server);
    try {
      await expect.poll(async () => (await second.store.pendingDeliveries('webhook:test')).length).toBe(0);
      expect(versions(server.accepted().map((r) => (JSON.parse(r.body) as { signal: Signal }).signal))).toEqual(versions(first.sink.changes.map((c) => c.signal)));
    } finally {
      await second.runtime.close({ drainTimeoutMs: 2000 });
      await second.store.close();
      await server.close();
    }
  });
});
