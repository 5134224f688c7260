/**
 * `trailhound serve` end to end: the real intake server on 127.0.0.1 (ephemeral port), the live
 * runtime and a jsonl sink, with the Stratus user-data attack posted in every shape AWS sends.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rec } from '../support/detect.js';
import { attackRecords, attackVariant, idsByRule, readSink, repeatedVersions, scanSignals } from '../support/live-fixtures.js';
import { cloudWatchPayload, eventBridgeEvent, metricValue, postCloudTrail, postFirehose, startServe } from '../support/live-serve.js';

let work: string;
let runs = 0;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'trailhound-live-intake-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function fresh(): { state: string; sink: string } {
  const dir = join(work, `run-${++runs}`);
  mkdirSync(dir, { recursive: true });
  return { state: join(dir, 'state'), sink: join(dir, 'signals.jsonl') };
}

const attack = attackRecords();
const expected = idsByRule(scanSignals(attack));
/** The attack in three consecutive parts (StopInstances in the first). */
const parts: Rec[][] = [attack.slice(0, 12), attack.slice(12, 24), attack.slice(24)];

function expectAttackOnce(sinkPath: string): void {
  const { signals, lines } = readSink(sinkPath);
  expect(idsByRule(signals)).toEqual(expected);
  expect(repeatedVersions(signals)).toEqual([]);
  expect(lines.length).toBe(new Set(signals.map((s) => `${s.id}#${s.updates}`)).size);
}

type Sender = { readonly name: string; readonly send: (url: string, part: Rec[], index: number) => Promise<void> };

const ok200 = (r: { status: number; body: unknown }): void => {
  expect(r.status, JSON.stringify(r.body)).toBe(200);
};

const SENDERS: Sender[] = [
  {
    name: 'Firehose, one CloudTrail record per Firehose record',
    send: async (url, part, i) => ok200(await postFirehose(url, `plain-${i}`, part.map((r) => JSON.stringify(r)))),
  },
  {
    name: 'Firehose with a gzip body',
    send: async (url, part, i) => ok200(await postFirehose(url, `gzip-${i}`, part.map((r) => JSON.stringify(r)), { isGzipped: true })),
  },
  {
    name: 'Firehose carrying a CloudWatch Logs subscription payload',
    send: async (url, part, i) => ok200(await postFirehose(url, `cwl-${i}`, [cloudWatchPayload(part)])),
  },
  {
    name: '/intake/cloudtrail with a raw record array',
    send: async (url, part) => ok200(await postCloudTrail(url, JSON.stringify(part))),
  },
  {
    name: '/intake/cloudtrail with EventBridge events (one per request)',
    send: async (url, part) => {
      for (const record of part) ok200(await postCloudTrail(url, eventBridgeEvent(record)));
    },
  },
];

describe('serve: the attack through every intake shape', () => {
  it.each(SENDERS)('$name, parts out of order, raises the attack once', async ({ send }) => {
    const { state, sink } = fresh();
    const serve = await startServe({ state, sink });
    try {
      // The last part first: nothing is raised until the StopInstances arrives.
      for (const i of [2, 1, 0]) await send(serve.url, parts[i] ?? [], i);
      expectAttackOnce(sink);
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metricValue(metrics, 'trailhound_signals_created_total')).toBe(2);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    expect(serve.err()).not.toContain('problem:');
  });
});

describe('serve: retries, bad records, lateness, metrics, restart', () => {
  it('answers Firehose retries of a processed request without processing them again, across a restart', async () => {
    const { state, sink } = fresh();
    const first = await startServe({ state, sink });
    try {
      for (const [i, part] of parts.entries()) ok200(await postFirehose(first.url, `retry-${i}`, part.map((r) => JSON.stringify(r))));
      // Firehose retries the first request (its answer was lost, say).
      const retry = await postFirehose(first.url, 'retry-0', (parts[0] ?? []).map((r) => JSON.stringify(r)));
      ok200(retry);
      expect(retry.body).toMatchObject({ requestId: 'retry-0' });
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      expect(metricValue(metrics, 'trailhound_duplicate_requests_total{source="firehose"}')).toBe(1);
      expect(metricValue(metrics, 'trailhound_records_total{source="firehose"}')).toBe(attack.length);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    const linesBefore = readSink(sink).lines.length;
    const second = await startServe({ state, sink });
    try {
      ok200(await postFirehose(second.url, 'retry-2', (parts[2] ?? []).map((r) => JSON.stringify(r))));
      // A different request with records already seen (same eventIDs) raises nothing either.
      ok200(await postCloudTrail(second.url, JSON.stringify(attack)));
    } finally {
      expect(await second.stop()).toBe(0);
    }
    expect(readSink(sink).lines.length).toBe(linesBefore);
    expectAttackOnce(sink);
  });

  it('counts bad records and late records in /metrics, and keeps processing', async () => {
    const { state, sink } = fresh();
    const serve = await startServe({ state, sink, extra: { allowedLateness: '10m' } });
    try {
      // Records 40 minutes later first, then the attack: 30 minutes beyond the allowed lateness.
      const later = attackVariant('later', 40 * 60_000).filter((r) => r.eventName === 'DescribeInstances');
      ok200(await postFirehose(serve.url, 'later', later.map((r) => JSON.stringify(r))));
      ok200(await postFirehose(serve.url, 'with-bad', ['this is not JSON', gzipSync('{"Records":[').subarray(0, 12), ...attack.map((r) => JSON.stringify(r))]));
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metricValue(metrics, 'trailhound_records_total{source="firehose"}')).toBe(later.length + attack.length);
      expect(metricValue(metrics, 'trailhound_records_bad_total{source="firehose"}')).toBe(2);
      expect(metricValue(metrics, 'trailhound_records_late_total')).toBe(attack.length);
      expect(metricValue(metrics, 'trailhound_lag_seconds')).toBeGreaterThan(0);
      expect(serve.err()).toContain('E_READ_JSON');
      const health = await fetch(`${serve.url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  it('refuses to start without a secret, and never takes one from argv', async () => {
    const { state, sink } = fresh();
    const { runCli } = await import('../support/cli.js');
    const saved = { f: process.env.TRAILHOUND_FIREHOSE_ACCESS_KEYS, b: process.env.TRAILHOUND_BEARER_TOKENS };
    delete process.env.TRAILHOUND_FIREHOSE_ACCESS_KEYS;
    delete process.env.TRAILHOUND_BEARER_TOKENS;
    try {
      const run = await runCli(['serve', '--listen', '127.0.0.1:0', '--state', state, '--sink', `jsonl:${sink}`]);
      expect(run.code).toBe(1);
      expect(run.err).toContain('TRAILHOUND_FIREHOSE_ACCESS_KEYS');
      const withKeyFlag = await runCli(['serve', '--listen', '127.0.0.1:0', '--state', state, '--firehose-access-key', 'x'.repeat(32)]);
      expect(withKeyFlag.code).toBe(1);
      expect(withKeyFlag.err).toContain('unknown option');
    } finally {
      if (saved.f !== undefined) process.env.TRAILHOUND_FIREHOSE_ACCESS_KEYS = saved.f;
      if (saved.b !== undefined) process.env.TRAILHOUND_BEARER_TOKENS = saved.b;
    }
  });
});

describe('serve: shutdown', () => {
  it('on stop, answers the request in flight after its signals are delivered, refuses new ones with 503, and exits 0', async () => {
    const { state, sink } = fresh();
    let resolveCommitted: () => void = () => undefined;
    const committed = new Promise<void>((resolve) => {
      resolveCommitted = resolve;
    });
    const serve = await startServe({
      state,
      sink,
      hooks: {
        afterCommit: async (info) => {
          if (info.changes === 0) return;
          resolveCommitted();
          await new Promise((resolve) => setTimeout(resolve, 500));
        },
      },
    });
    const inFlight = postFirehose(serve.url, 'in-flight', attack.map((r) => JSON.stringify(r)));
    await committed;
    const stopped = serve.stop();
    // Draining: the port still answers, with 503 for new work.
    const refused = await postCloudTrail(serve.url, JSON.stringify(attack.slice(0, 1)));
    expect(refused.status).toBe(503);
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    // Answered only once delivered: the sink already has the signals.
    expectAttackOnce(sink);
    expect(await stopped).toBe(0);
    expect(serve.err()).toContain('trailhound serve: stopped');
  });
});
