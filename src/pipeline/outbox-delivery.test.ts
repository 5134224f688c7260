/**
 * The outbox delivery runner with real sinks against recording HTTP servers on 127.0.0.1, on both
 * state stores: retries with backoff until the target answers, dead letters after the attempt limit
 * and their requeue, a target down across a restart (SQLite), order kept behind a batch in backoff,
 * and a slow target that delays no other sink.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { createPagerDutySink } from '../sinks/pagerduty.js';
import { createWebhookSink } from '../sinks/webhook.js';
import { createMemoryStateBacking, openMemoryStateStore } from '../store/memory-state-store.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { StateStore } from '../store/state-store.js';
import { realSignalChanges } from '../../test/conformance/sink.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { Answer, HttpRecorder } from '../../test/support/http-recorder.js';
import { DEFAULT_RETRY_POLICY, backoffDelayMs, startOutboxDelivery } from './outbox-delivery.js';
import type { OutboxDelivery, OutboxEvent, OutboxSinkBinding } from './outbox-delivery.js';

const FAST = { baseDelayMs: 40, maxDelayMs: 400, maxAttempts: 10 } as const;
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The engine's change type: the replay only creates and updates. */
function engineChanges(count: number): { kind: 'created' | 'updated'; signal: Signal }[] {
  return realSignalChanges()
    .slice(0, count)
    .flatMap((c) => (c.kind === 'closed' ? [] : [{ kind: c.kind, signal: c.signal }]));
}

function signalIdsOf(server: HttpRecorder, which: 'all' | 'accepted' = 'accepted'): string[] {
  return (which === 'all' ? server.requests : server.accepted()).map((r) => `${(JSON.parse(r.body) as { signal: Signal }).signal.id}#${String((JSON.parse(r.body) as { signal: Signal }).signal.updates)}`);
}

function expectedIds(count: number): string[] {
  return engineChanges(count).map((c) => `${c.signal.id}#${String(c.signal.updates)}`);
}

function webhookBinding(server: HttpRecorder | string, key = 'webhook:test', batchSize?: number): OutboxSinkBinding {
  const url = typeof server === 'string' ? server : server.url;
  return { key, open: () => createWebhookSink({ url, format: 'flat', productVersion: '0.0.0-test', timeoutMs: 2000 }), ...(batchSize !== undefined ? { batchSize } : {}) };
}

const STORES: [string, () => Promise<{ open: () => Promise<StateStore> }>][] = [
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'trailhound-outbox-delivery-'));
      dirs.push(dir);
      return Promise.resolve({ open: () => openSqliteStateStore({ dir }) });
    },
  ],
  [
    'in-memory',
    () => {
      const backing = createMemoryStateBacking();
      return Promise.resolve({ open: () => openMemoryStateStore(backing) });
    },
  ],
];

describe.each(STORES)('outbox delivery on the %s store', (_name, makeLocation) => {
  const servers: HttpRecorder[] = [];
  const runners: OutboxDelivery[] = [];
  const stores: StateStore[] = [];
  const serve = async (answer?: (request: { index: number; body: string }) => Answer, port?: number): Promise<HttpRecorder> => {
    const server = await startHttpRecorder({ ...(answer !== undefined ? { answer } : {}), ...(port !== undefined ? { port } : {}) });
    servers.push(server);
    return server;
  };
  const openStore = async (location: { open: () => Promise<StateStore> }): Promise<StateStore> => {
    const store = await location.open();
    stores.push(store);
    return store;
  };
  const start = (options: Parameters<typeof startOutboxDelivery>[0]): OutboxDelivery => {
    const runner = startOutboxDelivery(options);
    runners.push(runner);
    return runner;
  };
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.close({ timeoutMs: 2000 });
    for (const s of stores.splice(0)) await s.close();
    for (const s of servers.splice(0)) await s.close();
  });

  it('a target failing the first three attempts gets the change on the 4th, after growing backoffs, recorded in the store', async () => {
    const server = await serve(({ index }) => (index < 3 ? { status: 503, body: 'maintenance' } : { status: 200 }));
    const store = await openStore(await makeLocation());
    const { changeSeqs } = await store.commitCheckpoint({ emittedSignals: engineChanges(1), deliverTo: ['webhook:test'] });
    const events: OutboxEvent[] = [];
    const attemptsSeen: number[] = [];
    const runner = start({
      store,
      sinks: [webhookBinding(server)],
      retry: FAST,
      random: () => 0.999,
      pollIntervalMs: 1000,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'retry') attemptsSeen.push(event.attempts);
      },
    });
    await server.waitForRequests(2);
    // Between attempts, the entry is still pending in the store with its attempts and error.
    const [between] = await store.dueDeliveries('webhook:test', Number.MAX_SAFE_INTEGER);
    expect(between?.seq).toBe(changeSeqs[0]);
    expect(between?.attempts).toBeGreaterThanOrEqual(1);
    expect(between?.lastError).toMatch(/^cannot deliver to webhook:http:\/\/127\.0\.0\.1:\d+: HTTP 503: maintenance$/);
    await runner.settled(Infinity);
    expect(server.requests.map((r) => r.status)).toEqual([503, 503, 503, 200]);
    expect(signalIdsOf(server)).toEqual(expectedIds(1));
    expect(attemptsSeen).toEqual([1, 2, 3]);
    expect(events.map((e) => e.type)).toEqual(['retry', 'retry', 'retry', 'delivered']);
    // Full jitter with random ≈ 1: the waits are close to 40, 80 and 160 ms, each at least that long.
    const gaps = server.requests.slice(1).map((r, i) => r.atMs - (server.requests[i]?.atMs ?? 0));
    for (const [i, ceiling] of [39, 79, 159].entries()) expect(gaps[i]).toBeGreaterThanOrEqual(ceiling - 5);
    expect(await store.pendingDeliveries('webhook:test')).toEqual([]);
    expect(await store.deadLetters()).toEqual([]);
    expect(runner.stats).toEqual({ delivered: 1, failedAttempts: 3, dead: 0 });
  });

  it('gives up after the attempt limit: dead letters are listed with their error, and delivered once requeued', async () => {
    let isDown = true;
    const server = await serve(() => (isDown ? { status: 500, body: 'boom' } : { status: 200 }));
    const store = await openStore(await makeLocation());
    const { changeSeqs } = await store.commitCheckpoint({ emittedSignals: engineChanges(2), deliverTo: ['webhook:test'] });
    const events: OutboxEvent[] = [];
    const runner = start({ store, sinks: [webhookBinding(server)], retry: { ...FAST, maxAttempts: 3 }, random: () => 0.5, pollIntervalMs: 100, onEvent: (e) => events.push(e) });
    await runner.settled(Infinity);
    expect(server.requests).toHaveLength(3);
    const dead = await store.deadLetters('webhook:test');
    expect(dead.map((d) => [d.seq, d.attempts, d.state])).toEqual(changeSeqs.map((seq) => [seq, 3, 'dead']));
    expect(dead[0]?.lastError).toMatch(/HTTP 500: boom/);
    expect(events.at(-1)).toMatchObject({ type: 'dead', sink: 'webhook:test', count: 2, attempts: 3 });
    expect(await store.pendingDeliveries('webhook:test')).toEqual([]);

    isDown = false;
    expect(await store.requeueDeadLetters('webhook:test')).toBe(2);
    await runner.settled(Infinity);
    expect(signalIdsOf(server)).toEqual(expectedIds(2));
    expect(await store.deadLetters()).toEqual([]);
    expect(await store.pendingDeliveries('webhook:test')).toEqual([]);
  });

  it('keeps the order: a batch in backoff holds back later changes', async () => {
    const server = await serve(({ index }) => (index === 0 ? { status: 502 } : { status: 200 }));
    const store = await openStore(await makeLocation());
    await store.commitCheckpoint({ emittedSignals: engineChanges(2), deliverTo: ['webhook:test'] });
    const runner = start({ store, sinks: [webhookBinding(server, 'webhook:test', 2)], retry: FAST, random: () => 0.5, pollIntervalMs: 50 });
    await server.waitForRequests(1);
    await store.commitCheckpoint({ emittedSignals: engineChanges(4).slice(2), deliverTo: ['webhook:test'] });
    runner.wake();
    await runner.settled(Infinity);
    const [first, second, third, fourth] = expectedIds(4);
    expect(signalIdsOf(server, 'all')).toEqual([first, first, second, third, fourth]);
    expect(signalIdsOf(server)).toEqual(expectedIds(4));
  });

  it('a change the target refuses (HTTP 400) is dead at once; the changes after it are still delivered', async () => {
    const changes = engineChanges(3);
    const refusedId = changes[1]?.signal.id ?? '';
    const refusedUpdates = changes[1]?.signal.updates ?? -1;
    const server = await serve(({ body }) => {
      const signal = (JSON.parse(body) as { signal: Signal }).signal;
      return signal.id === refusedId && signal.updates === refusedUpdates ? { status: 400, body: 'invalid payload' } : { status: 200 };
    });
    const store = await openStore(await makeLocation());
    const { changeSeqs } = await store.commitCheckpoint({ emittedSignals: changes, deliverTo: ['webhook:test'] });
    const runner = start({ store, sinks: [webhookBinding(server)], retry: FAST, pollIntervalMs: 50 });
    await runner.settled(Infinity);
    expect(server.requests).toHaveLength(3);
    expect(signalIdsOf(server)).toEqual([expectedIds(3)[0], expectedIds(3)[2]]);
    const dead = await store.deadLetters();
    expect(dead.map((d) => [d.seq, d.attempts])).toEqual([[changeSeqs[1], 1]]);
    expect(dead[0]?.lastError).toMatch(/HTTP 400: invalid payload/);
  });

  it('a slow target delays no other sink', async () => {
    const slow = await serve();
    const release = slow.hold();
    const fast = await serve();
    const store = await openStore(await makeLocation());
    await store.commitCheckpoint({ emittedSignals: engineChanges(3), deliverTo: ['webhook:slow', 'webhook:fast'] });
    start({ store, sinks: [webhookBinding(slow, 'webhook:slow'), webhookBinding(fast, 'webhook:fast')], retry: FAST, pollIntervalMs: 50 });
    await slow.waitForRequests(1);
    await fast.waitForRequests(3);
    await expect.poll(async () => (await store.pendingDeliveries('webhook:fast')).length).toBe(0);
    expect(signalIdsOf(fast)).toEqual(expectedIds(3));
    // The slow one is still waiting for its first answer.
    expect(slow.requests).toHaveLength(1);
    expect(await store.pendingDeliveries('webhook:slow')).toHaveLength(3);
    release();
    await expect.poll(async () => (await store.pendingDeliveries('webhook:slow')).length).toBe(0);
    expect(signalIdsOf(slow)).toEqual(expectedIds(3));
  });

  it('a closed signal resolves its PagerDuty incident after the trigger, in order', async () => {
    const server = await serve(() => ({ status: 202 }));
    const store = await openStore(await makeLocation());
    const [created] = engineChanges(1);
    if (created === undefined) throw new Error('no change');
    await store.registerSinks(['pagerduty:test']);
    await store.commitCheckpoint({ emittedSignals: [created], deliverTo: ['pagerduty:test'] });
    const runner = start({ store, sinks: [{ key: 'pagerduty:test', open: () => createPagerDutySink({ routingKey: 'KEY', endpoint: server.url }) }], retry: FAST, pollIntervalMs: 50 });
    await runner.settled(Infinity);
    // `trailhound signals resolve`: the store queues a change of kind closed for the registered sinks.
    await store.updateTriage(created.signal.id, { actor: 'ana', status: 'resolved', resolution: 'true-positive' });
    runner.wake();
    await runner.settled(Infinity);
    const events = server.requests.map((r) => JSON.parse(r.body) as { event_action: string; dedup_key: string; payload?: { custom_details: { triage?: unknown } } });
    expect(events.map((e) => `${e.event_action}:${e.dedup_key}`)).toEqual([`trigger:${created.signal.id}`, `resolve:${created.signal.id}`]);
    expect(await store.pendingDeliveries('pagerduty:test')).toEqual([]);
  });
});

describe('outbox delivery across a restart', () => {
  it('a target down across a restart of the runner: entries stay pending in the SQLite store, then each is delivered once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trailhound-outbox-restart-'));
    dirs.push(dir);
    // A free port, closed: the target is down.
    const probe = await startHttpRecorder();
    const port = probe.port;
    await probe.close();

    const first = await openSqliteStateStore({ dir });
    await first.commitCheckpoint({ emittedSignals: engineChanges(3), deliverTo: ['webhook:down'] });
    const events: OutboxEvent[] = [];
    const runner = startOutboxDelivery({ store: first, sinks: [webhookBinding(`http://127.0.0.1:${String(port)}/hook`, 'webhook:down')], retry: FAST, pollIntervalMs: 50, onEvent: (e) => events.push(e) });
    await expect.poll(() => events.filter((e) => e.type === 'retry').length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    await runner.close();
    await first.close();
    const failures = events.filter((e) => e.type === 'retry');
    expect(failures[0]).toMatchObject({ count: 3, error: expect.stringMatching(/ECONNREFUSED/) as unknown });

    // The restart: the store reopened, the target back on its port.
    const server = await startHttpRecorder({ port });
    const second = await openSqliteStateStore({ dir });
    try {
      const pending = await second.dueDeliveries('webhook:down', Number.MAX_SAFE_INTEGER);
      expect(pending).toHaveLength(3);
      expect(pending[0]?.attempts).toBe(failures.length);
      expect(pending[0]?.lastError).toMatch(/ECONNREFUSED/);
      const again = startOutboxDelivery({ store: second, sinks: [webhookBinding(`${server.url}/hook`, 'webhook:down')], retry: FAST, pollIntervalMs: 50 });
      await again.settled(Infinity);
      await again.close();
      expect(signalIdsOf(server, 'all')).toEqual(expectedIds(3));
      expect(await second.pendingDeliveries('webhook:down')).toEqual([]);
      expect(await second.deadLetters()).toEqual([]);
    } finally {
      await second.close();
      await server.close();
    }
  });
});

describe('backoff', () => {
  it.each([
    [1, 1000],
    [2, 2000],
    [5, 16_000],
    [9, 256_000],
    [10, 300_000],
    [40, 300_000],
  ])('after %i failed attempts the wait is random below %i ms (full jitter)', (attempts, ceiling) => {
    expect(backoffDelayMs(attempts, DEFAULT_RETRY_POLICY, () => 0)).toBe(0);
    expect(backoffDelayMs(attempts, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(Math.floor(ceiling / 2));
    expect(backoffDelayMs(attempts, DEFAULT_RETRY_POLICY, () => 0.999_999)).toBe(Math.floor(ceiling * 0.999_999));
  });

  it('defaults to 1 s base, 5 min cap, 10 attempts', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ baseDelayMs: 1000, maxDelayMs: 300_000, maxAttempts: 10 });
  });

  it('refuses a sink given twice', () => {
    const binding = webhookBinding('http://127.0.0.1:9/');
    expect(() => startOutboxDelivery({ store: {} as unknown as StateStore, sinks: [binding, binding] })).toThrow(/configured twice/);
  });
});
