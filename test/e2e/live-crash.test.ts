/**
 * Crashes and shutdowns of a real child process (test/support/live-runner.ts: the CLI's watch
 * command with hooks that pause at each point of the checkpoint protocol).
 *
 * The no-loss / no-duplicate check, precisely: after any number of `kill -9` and restarts, the
 * sink's lines with every line that repeats an earlier identical line removed are exactly the lines
 * of one uninterrupted run, in the same order (nothing lost, nothing new, nothing reordered); no
 * (id, updates) pair appears with two different contents (a change is never made twice); and the
 * repeated lines are only the at-least-once redelivery of the changes that were delivered to the
 * sink but not yet marked delivered when the process died — so they number at most what the
 * restarts report as delivered again from the outbox.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/detect.js';
import { attackVariant, idsByRule, readSink, repeatedVersions, splitIntoLogFiles } from '../support/live-fixtures.js';
import type { LogFile } from '../support/live-fixtures.js';
import { metricValue } from '../support/live-serve.js';
import { S3Fake } from '../support/s3-fake.js';
import { eventBridgeS3Event, SqsFake, tryStart } from '../support/sqs-fake.js';

const RUNNER = join(REPO_ROOT, 'test', 'support', 'live-runner.ts');

interface Runner {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly err: () => string;
  /** Resolves with the first stderr line matching `pattern` (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly atMs: number }>;
}

function startRunner(config: Record<string, unknown>, env: Record<string, string> = {}): Runner {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(config)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let pending = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    err += text;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() })));
  return {
    child,
    err: () => err,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no stderr line matching ${String(pattern)} within ${timeoutMs} ms; stderr so far:\n${err}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`the runner exited before printing ${String(pattern)}; stderr:\n${err}`));
        });
      });
    },
  };
}

async function kill9(runner: Runner): Promise<void> {
  runner.child.kill('SIGKILL');
  const { signal } = await runner.exited;
  expect(signal).toBe('SIGKILL');
}

let work: string;
const children: Runner[] = [];
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'trailhound-live-crash-'));
});
afterAll(() => {
  for (const r of children) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** Four attacks two hours apart, each in three log files: twelve steps, four of them raising signals. */
function writeAttacks(folder: string): readonly LogFile[] {
  return writeAttacksFrom(
    folder,
    [0, 1, 2, 3].flatMap((k) => splitIntoLogFiles(attackVariant(`v${k}`, k * 2 * 3_600_000), 3, `v${k}p`)),
  );
}

function writeAttacksFrom(folder: string, files: readonly LogFile[]): readonly LogFile[] {
  for (const f of files) {
    const path = join(folder, f.key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.body);
  }
  return files;
}

function redeliveredIn(stderr: string): number {
  const m = /delivered again (\d+) signal change/.exec(stderr);
  return m ? Number(m[1]) : 0;
}

describe('kill -9 mid-run, then restart', () => {
  it('loses nothing and duplicates nothing beyond the redelivery of the step cut between sink and marker', async () => {
    const folder = join(work, 'logs');
    writeAttacks(folder);
    // The reference: one uninterrupted run.
    const reference = join(work, 'reference.jsonl');
    const ref = await runCli(['watch', folder, '--state', join(work, 'reference-state'), '--once', '--sink', `jsonl:${reference}`, '-q']);
    expect(ref.code).toBe(0);
    const expected = readSink(reference).lines;
    expect(new Set(readSink(reference).signals.map((s) => s.id)).size).toBe(8);

    const state = join(work, 'state');
    const sink = join(work, 'signals.jsonl');
    const config = { command: 'watch', target: folder, flags: { state, sink: [`jsonl:${sink}`], once: true }, pauseMs: 400 };
    let redelivered = 0;
    // Each run is killed at one point of a step with changes, then the next run starts from the store.
    const killAt: { readonly point: RegExp; readonly duplicates: 'none' | 'step' }[] = [
      { point: /^runner: committed \d+ [1-9]/, duplicates: 'none' },
      { point: /^runner: sink-delivered \d+ [1-9]/, duplicates: 'step' },
      { point: /^runner: delivered \d+ [1-9]/, duplicates: 'none' },
    ];
    let linesBefore = 0;
    for (const { point, duplicates } of killAt) {
      const runner = startRunner(config);
      children.push(runner);
      const line = await runner.waitFor(point);
      const changes = Number(line.split(' ').at(-1));
      await kill9(runner);
      redelivered += redeliveredIn(runner.err());
      const after = readSink(sink).lines.length;
      // What reached the sink before the kill: the changes of this step only after sink delivery.
      if (duplicates === 'step') expect(after - linesBefore).toBeGreaterThanOrEqual(changes);
      linesBefore = after;
    }
    const last = startRunner(config);
    children.push(last);
    const { code } = await last.exited;
    expect(code, last.err()).toBe(0);
    redelivered += redeliveredIn(last.err());

    const { lines, signals } = readSink(sink);
    const firstOccurrences = lines.filter((line, i) => lines.indexOf(line) === i);
    expect(firstOccurrences).toEqual(expected);
    const contentByVersion = new Map<string, string>();
    for (const [i, s] of signals.entries()) {
      const key = `${s.id}#${s.updates}`;
      const seen = contentByVersion.get(key);
      if (seen !== undefined) expect(lines[i]).toBe(seen);
      contentByVersion.set(key, lines[i] ?? '');
    }
    const extra = lines.length - firstOccurrences.length;
    // The run killed after its sink delivery repeats that step's changes (and only redeliveries repeat).
    expect(extra).toBeGreaterThan(0);
    expect(extra).toBeLessThanOrEqual(redelivered);
  }, 90_000);
});

describe('kill -9 while reading an SQS queue', () => {
  it('deletes every message in the end and raises every signal once (redelivery aside)', async (context) => {
    const s3 = await tryStart('s3rver', () => S3Fake.start({ buckets: ['crash-bucket'] }));
    if (!s3.ok) return context.skip(s3.reason);
    const sqs = await tryStart('the SQS fake', () => SqsFake.start());
    if (!sqs.ok) {
      await s3.service.close();
      return context.skip(sqs.reason);
    }
    try {
      const files = [0, 1, 2, 3].flatMap((k) => splitIntoLogFiles(attackVariant(`q${k}`, k * 2 * 3_600_000), 3, `q${k}p`));
      await s3.service.putObjects(
        'crash-bucket',
        files.map((f) => ({ key: f.key, body: f.body })),
      );
      const folder = join(work, 'sqs-reference');
      writeAttacksFrom(folder, files);
      const reference = join(work, 'sqs-reference.jsonl');
      expect((await runCli(['watch', folder, '--state', join(work, 'sqs-reference-state'), '--once', '--sink', `jsonl:${reference}`, '-q'])).code).toBe(0);
      const expected = idsByRule(readSink(reference).signals);

      const queue = sqs.service.createQueue('crash');
      for (const f of files) sqs.service.send(queue, JSON.stringify(eventBridgeS3Event('crash-bucket', f.key)));
      const state = join(work, 'sqs-state');
      const sink = join(work, 'sqs.jsonl');
      const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
      const config = { command: 'watch', target: `sqs://${queue}`, flags: { state, sink: [`jsonl:${sink}`], once: true, endpointUrl: s3.service.endpoint, region: 'us-east-1', visibilityTimeout: '1s' }, pauseMs: 300 };
      let redelivered = 0;
      for (const point of [/^runner: committed \d+ [1-9]/, /^runner: sink-delivered \d+ [1-9]/]) {
        const runner = startRunner(config, env);
        children.push(runner);
        await runner.waitFor(point);
        await kill9(runner);
        redelivered += redeliveredIn(runner.err());
      }
      // Runs until the queue is empty: a message held by a killed run comes back after its visibility timeout.
      // Bounded, but generous: on a loaded machine a run may end (--once) while a message is still invisible.
      for (let attempt = 0; attempt < 20 && sqs.service.deleted(queue).length < files.length; attempt++) {
        for (let wait = 0; wait < 10 && sqs.service.inFlight(queue).length > 0; wait++) await new Promise((resolve) => setTimeout(resolve, 500));
        const runner = startRunner(config, env);
        children.push(runner);
        const { code } = await runner.exited;
        expect(code, runner.err()).toBe(0);
        redelivered += redeliveredIn(runner.err());
      }
      expect(sqs.service.deleted(queue)).toHaveLength(files.length);
      const { lines, signals } = readSink(sink);
      expect(idsByRule(signals)).toEqual(expected);
      const distinct = new Set(lines);
      // No (id, updates) with two contents; the repeats are redeliveries.
      expect(new Set(signals.map((s) => `${s.id}#${s.updates}`)).size).toBe(distinct.size);
      expect(repeatedVersions(signals).length).toBeLessThanOrEqual(redelivered);
      expect(lines.length - distinct.size).toBeLessThanOrEqual(redelivered);
    } finally {
      await sqs.service.close();
      await s3.service.close();
    }
  }, 150_000);
});

describe('SIGTERM', () => {
  it('drains the step under way, checkpoints and exits 0 within a few seconds; /metrics and /healthz answer meanwhile', async () => {
    const folder = join(work, 'term-logs');
    writeAttacks(folder);
    const state = join(work, 'term-state');
    const sink = join(work, 'term.jsonl');
    const runner = startRunner({ command: 'watch', target: folder, flags: { state, sink: [`jsonl:${sink}`], pollInterval: '100ms', metricsListen: '127.0.0.1:0' }, pauseMs: 1000 });
    children.push(runner);
    const ready = await runner.waitFor(/^runner: ready /);
    const url = ready.split(' ').at(-1) ?? '';
    const line = await runner.waitFor(/^runner: committed \d+ [1-9]/);
    const changes = Number(line.split(' ').at(-1));
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metricValue(metrics, 'trailhound_records_total{source="file"}')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'trailhound_signals_created_total')).toBe(changes);
    const linesBefore = readSink(sink).lines.length;
    const sentAt = Date.now();
    runner.child.kill('SIGTERM');
    const { code, atMs } = await runner.exited;
    expect(code, runner.err()).toBe(0);
    expect(atMs - sentAt).toBeLessThan(5_000);
    expect(runner.err()).toContain('stopped (SIGTERM)');
    // The step that was paused after its commit was delivered before the exit.
    expect(readSink(sink).lines.length).toBe(linesBefore + changes);

    // The rest is read by the next run, and nothing already delivered comes again.
    const rest = await runCli(['watch', folder, '--state', state, '--once', '--sink', `jsonl:${sink}`, '-q']);
    expect(rest.code).toBe(0);
    const { lines } = readSink(sink);
    expect(new Set(lines).size).toBe(lines.length);
    expect(new Set(readSink(sink).signals.map((s) => s.id)).size).toBe(8);
  }, 60_000);
});
