/**
 * Every network sink — webhook, Slack, PagerDuty, Security Hub — through the outbox delivery
 * runner, against a recording HTTP server on 127.0.0.1: a target that fails the first three
 * attempts gets everything on the fourth, and a target that is down across a restart of the
 * runner gets everything once after it (the entries wait in the SQLite store meanwhile).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { createPagerDutySink } from '../sinks/pagerduty.js';
import { createSecurityHubSink, importBatches } from '../sinks/securityhub.js';
import type { SignalSink } from '../sinks/sink.js';
import { createSlackSink } from '../sinks/slack.js';
import { createWebhookSink } from '../sinks/webhook.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import { realSignalChanges } from '../../test/conformance/sink.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { Answer, HttpRecorder } from '../../test/support/http-recorder.js';
import { startOutboxDelivery } from './outbox-delivery.js';
import type { OutboxEvent } from './outbox-delivery.js';

const FAST = { baseDelayMs: 30, maxDelayMs: 300, maxAttempts: 10 } as const;
const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const dirs: string[] = [];
const servers: HttpRecorder[] = [];

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** Three real signal changes (created and updated), as the engine emits them. */
function changes(): { kind: 'created' | 'updated'; signal: Signal }[] {
  return realSignalChanges()
    .flatMap((c) => (c.kind === 'closed' ? [] : [{ kind: c.kind, signal: c.signal }]))
    .slice(0, 3);
}

interface SinkCase {
  readonly name: string;
  readonly open: (url: string) => SignalSink;
  /** The answer a working target gives. */
  readonly ok: (body: string) => Answer;
  /** Requests a working target receives for the three changes. */
  readonly requests: () => number;
}

const SINKS: readonly SinkCase[] = [
  { name: 'webhook', open: (url) => createWebhookSink({ url: `${url}/hook`, format: 'flat', productVersion: '0.0.0-test', timeoutMs: 2000 }), ok: () => ({ status: 200 }), requests: () => 3 },
  { name: 'slack', open: (url) => createSlackSink({ url: `${url}/services/T0/B0/x`, timeoutMs: 2000 }), ok: () => ({ status: 200, body: 'ok' }), requests: () => 3 },
  { name: 'pagerduty', open: (url) => createPagerDutySink({ routingKey: 'R0UTINGKEY0000000000000000000000', endpoint: `${url}/v2/enqueue`, timeoutMs: 2000 }), ok: () => ({ status: 202, body: '{"status":"success"}' }), requests: () => 3 },
  {
    name: 'securityhub',
    open: (url) => createSecurityHubSink({ productVersion: '0.0.0-test', region: REGION, accountId: ACCOUNT, endpoint: url, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, maxAttempts: 1 }),
    ok: (body) => {
      const findings = (JSON.parse(body) as { Findings: unknown[] }).Findings;
      return { status: 200, body: JSON.stringify({ FailedCount: 0, SuccessCount: findings.length, FailedFindings: [] }), headers: { 'content-type': 'application/json' } };
    },
    // One import per batch of at most 100, two versions of one signal never in the same call.
    requests: () => importBatches(changes(), 100).length,
  },
];

/** Every signal id appears in what the target accepted (each sink writes the id in its own way). */
function expectEverySignal(server: HttpRecorder): void {
  const bodies = server.accepted().map((r) => r.body);
  for (const { signal } of changes()) expect(bodies.some((b) => b.includes(signal.id)), `${signal.id} delivered`).toBe(true);
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-outbox-sinks-'));
  dirs.push(dir);
  return dir;
}

describe.each(SINKS)('the $name sink through the outbox', (sink) => {
  it('a target failing the first three attempts gets every change on the fourth', async () => {
    const server = await startHttpRecorder({ answer: ({ index, body }) => (index < 3 ? { status: 503, body: 'unavailable' } : sink.ok(body)) });
    servers.push(server);
    const store = await openSqliteStateStore({ dir: stateDir() });
    try {
      await store.commitCheckpoint({ emittedSignals: changes(), deliverTo: [`${sink.name}:test`] });
      const retries: number[] = [];
      const runner = startOutboxDelivery({
        store,
        sinks: [{ key: `${sink.name}:test`, open: () => sink.open(server.url) }],
        retry: FAST,
        pollIntervalMs: 1000,
        onEvent: (e: OutboxEvent) => {
          if (e.type === 'retry') retries.push(e.attempts);
        },
      });
      await runner.settled(Infinity);
      await runner.close();
      expect(retries).toEqual([1, 2, 3]);
      expect(server.requests.map((r) => r.status)).toEqual([503, 503, 503, ...Array.from({ length: sink.requests() }, () => server.accepted()[0]?.status)]);
      expect(server.accepted()).toHaveLength(sink.requests());
      expectEverySignal(server);
      expect(await store.pendingDeliveries(`${sink.name}:test`)).toEqual([]);
      expect(await store.deadLetters()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a target down across a restart gets every change once after it', async () => {
    const probe = await startHttpRecorder();
    const port = probe.port;
    await probe.close();
    const dir = stateDir();
    const key = `${sink.name}:down`;

    const first = await openSqliteStateStore({ dir });
    const events: OutboxEvent[] = [];
    try {
      await first.commitCheckpoint({ emittedSignals: changes(), deliverTo: [key] });
      const runner = startOutboxDelivery({ store: first, sinks: [{ key, open: () => sink.open(`http://127.0.0.1:${String(port)}`) }], retry: FAST, pollIntervalMs: 50, onEvent: (e) => events.push(e) });
      await expect.poll(() => events.filter((e) => e.type === 'retry').length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
      await runner.close();
    } finally {
      await first.close();
    }

    const server = await startHttpRecorder({ port, answer: ({ body }) => sink.ok(body) });
    servers.push(server);
    const second = await openSqliteStateStore({ dir });
    try {
      const pending = await second.dueDeliveries(key, Number.MAX_SAFE_INTEGER);
      expect(pending).toHaveLength(3);
      expect(pending[0]?.attempts).toBeGreaterThanOrEqual(2);
      const again = startOutboxDelivery({ store: second, sinks: [{ key, open: () => sink.open(server.url) }], retry: FAST, pollIntervalMs: 50 });
      await again.settled(Infinity);
      await again.close();
      expect(server.requests).toHaveLength(sink.requests());
      expectEverySignal(server);
      expect(await second.pendingDeliveries(key)).toEqual([]);
      expect(await second.deadLetters()).toEqual([]);
    } finally {
      await second.close();
    }
  });
});
