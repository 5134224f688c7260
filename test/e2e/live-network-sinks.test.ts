/**
 * `trailhound watch FOLDER --once` with network sinks from the config file and `--sink`, against
 * recording servers on 127.0.0.1: the Stratus user-data attack reaches the signed webhook, Slack and
 * PagerDuty; a webhook that is down does not stop the run (exit 0), and a second run delivers what
 * the first one left in the outbox.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../../src/core/types.js';
import { verifyWebhookSignature } from '../../src/sinks/webhook.js';
import { runCli } from '../support/cli.js';
import { startHttpRecorder } from '../support/http-recorder.js';
import type { HttpRecorder } from '../support/http-recorder.js';
import { attackRecords, readSink, splitIntoLogFiles } from '../support/live-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'trailhound-network-sinks-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ENV_NAMES = ['TH_TEST_WEBHOOK_URL', 'TH_TEST_HMAC', 'TH_TEST_SLACK_URL', 'TH_TEST_PD_KEY'] as const;

function folderWithAttack(name: string): string {
  const folder = join(work, name);
  for (const f of splitIntoLogFiles(attackRecords(), 2)) {
    const path = join(folder, f.key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.body);
  }
  return folder;
}

describe('watch with network sinks', () => {
  const servers: HttpRecorder[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const name of ENV_NAMES) Reflect.deleteProperty(process.env, name);
  });

  it('delivers the attack to a signed webhook, Slack and PagerDuty, beside the jsonl file', async () => {
    const webhook = await startHttpRecorder();
    const slack = await startHttpRecorder();
    const pagerduty = await startHttpRecorder({ answer: () => ({ status: 202 }) });
    servers.push(webhook, slack, pagerduty);
    process.env.TH_TEST_WEBHOOK_URL = `${webhook.url}/trailhound`;
    process.env.TH_TEST_HMAC = 'a-long-shared-hmac-secret';
    process.env.TH_TEST_SLACK_URL = `${slack.url}/services/T000/B000/XXXX`;
    const config = join(work, 'sinks.yaml');
    process.env.TH_TEST_PD_KEY = 'PDROUTINGKEY0123456789';
    writeFileSync(
      config,
      ['sinks:', '  - type: webhook', '    urlEnv: TH_TEST_WEBHOOK_URL', '    secretEnv: TH_TEST_HMAC', '    format: flat', '  - type: pagerduty', '    routingKeyEnv: TH_TEST_PD_KEY', `    endpoint: ${pagerduty.url}/v2/enqueue`, ''].join('\n'),
    );
    const state = join(work, 'state-1');
    const jsonl = join(work, 'signals-1.jsonl');
    const run = await runCli(['watch', folderWithAttack('logs-1'), '--state', state, '--once', '--config', config, '--sink', `jsonl:${jsonl}`, '--sink', 'slack:env:TH_TEST_SLACK_URL']);
    expect(run.err).not.toMatch(/problem:/);
    expect(run.code).toBe(0);
    const { signals } = readSink(jsonl);
    expect(signals.length).toBeGreaterThan(0);
    expect(signals.some((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started')).toBe(true);
    const versions = signals.map((s) => `${s.id}#${String(s.updates)}`);

    // Webhook: every change, in order, each signed with the configured key.
    const posted = webhook.requests.map((r) => {
      expect(verifyWebhookSignature('a-long-shared-hmac-secret', r.headers, r.body)).toBe(true);
      return (JSON.parse(r.body) as { signal: Signal }).signal;
    });
    expect(posted.map((s) => `${s.id}#${String(s.updates)}`)).toEqual(versions);
    // Slack: a message per change, naming the signal.
    expect(slack.requests.map((r) => JSON.stringify(r.body).includes(signals[0]?.id ?? '?'))).toContain(true);
    expect(slack.requests).toHaveLength(signals.length);
    // PagerDuty: a trigger per change, deduplicated on the signal id.
    const events = pagerduty.requests.map((r) => JSON.parse(r.body) as { event_action: string; dedup_key: string; routing_key: string });
    expect(events.map((e) => e.dedup_key)).toEqual(signals.map((s) => s.id));
    expect(new Set(events.map((e) => `${e.event_action}:${e.routing_key}`))).toEqual(new Set(['trigger:PDROUTINGKEY0123456789']));
    // Startup names the sinks without their secrets.
    expect(run.err).toMatch(/signals to jsonl:.*, slack:http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8}, webhook:http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8}, pagerduty:PDRO…[0-9a-f]{8}\)/);
    expect(run.err).not.toContain('PDROUTINGKEY0123456789');
    expect(run.err).not.toContain('XXXX');
  });

  it('a webhook that is down does not stop detection; the next run delivers what the outbox kept, once', async () => {
    const probe = await startHttpRecorder();
    const port = probe.port;
    await probe.close();
    const state = join(work, 'state-2');
    const jsonl = join(work, 'signals-2.jsonl');
    const argv = ['watch', folderWithAttack('logs-2'), '--state', state, '--once', '--sink', `jsonl:${jsonl}`, '--sink', `webhook:http://127.0.0.1:${String(port)}/hook`, '--drain-timeout', '1s'];
    const first = await runCli(argv);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/problem: webhook:http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8}: E_SINK_RETRY: \d+ signal change\(s\) not delivered \(attempt 1\): cannot deliver to webhook:.*ECONNREFUSED/);
    const { signals } = readSink(jsonl);
    expect(signals.length).toBeGreaterThan(0);

    const server = await startHttpRecorder({ port });
    servers.push(server);
    // The folder's files are done: the second run reads nothing and only empties the outbox (after the first backoff).
    const second = await runCli([...argv.slice(0, -2), '--drain-timeout', '10s']);
    expect(second.code).toBe(0);
    expect(readSink(jsonl).signals).toHaveLength(signals.length);
    const posted = server.requests.map((r) => (JSON.parse(r.body) as { kind: string }).kind);
    expect(posted.length).toBe(signals.length);
  });

  it('scan --sink posts each reported signal, retrying a failing target; a refused one exits 1 naming the signal', async () => {
    const server = await startHttpRecorder({ answer: ({ index }) => (index < 2 ? { status: 503 } : { status: 200 }) });
    servers.push(server);
    const file = join(work, 'attack.json');
    writeFileSync(file, JSON.stringify({ Records: attackRecords() }));
    const run = await runCli(['scan', file, '--format', 'jsonl', '--sink', `webhook:${server.url}/scan`]);
    expect(run.code).toBe(0);
    const printed = run.out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as Signal).id);
    expect(printed.length).toBeGreaterThan(0);
    expect(run.err).toMatch(/E_SINK_RETRY: \d+ signal\(s\) not delivered \(attempt 1\): cannot deliver to webhook:http:\/\/127\.0\.0\.1:\d+\/…: HTTP 503/);
    // OCSF documents by default, one per signal, after two refused attempts.
    const accepted = server.accepted().map((r) => JSON.parse(r.body) as { class_uid: number; finding_info: { uid: string } });
    expect(accepted.map((d) => d.class_uid)).toEqual(printed.map(() => 2004));

    const refusing = await startHttpRecorder({ answer: () => ({ status: 400, body: 'bad' }) });
    servers.push(refusing);
    const refused = await runCli(['scan', file, '--format', 'jsonl', '--sink', `webhook:${refusing.url}`]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(new RegExp(`E_SINK_DEAD: signal ${printed[0] ?? '?'} not delivered after 1 attempt\\(s\\): cannot deliver to .*HTTP 400: bad`));
    expect(refused.err).toMatch(/signal delivery\(ies\) to --sink failed/);
    expect(refused.out).not.toBe('');
  });

  it('scan refuses --sink stdout and an unknown sink', async () => {
    const file = join(work, 'attack.json');
    writeFileSync(file, JSON.stringify({ Records: attackRecords() }));
    expect((await runCli(['scan', file, '--sink', 'stdout'])).err).toMatch(/prints its signals on stdout already/);
    expect((await runCli(['scan', file, '--sink', 'kafka:x'])).err).toMatch(/unknown sink/);
  });

  it('deliveries lists the dead letters a refusing webhook left, and requeue sends them on the next run', async () => {
    let isRefusing = true;
    const server = await startHttpRecorder({ answer: () => (isRefusing ? { status: 422, body: 'schema mismatch' } : { status: 200 }) });
    servers.push(server);
    const state = join(work, 'state-3');
    const argv = ['watch', folderWithAttack('logs-3'), '--state', state, '--once', '--sink', `webhook:${server.url}/in`, '-q'];
    const first = await runCli(argv);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/E_SINK_DEAD: 1 signal change\(s\) given up after 1 attempt\(s\): cannot deliver to .*HTTP 422: schema mismatch/);
    const deadCount = server.requests.length;
    expect(deadCount).toBeGreaterThan(0);

    const listed = await runCli(['deliveries', '--state', state, '--format', 'json']);
    expect(listed.code).toBe(0);
    const report = JSON.parse(listed.out) as { sinks: { sink: string; pending: number }[]; dead: { seq: number; signalId: string; attempts: number; lastError: string }[] };
    expect(report.dead).toHaveLength(deadCount);
    expect(report.dead[0]?.attempts).toBe(1);
    expect(report.dead[0]?.lastError).toMatch(/HTTP 422: schema mismatch/);
    expect(report.sinks.map((x) => x.pending)).toEqual([0]);
    const table = await runCli(['deliveries', '--state', state]);
    expect(table.out).toMatch(new RegExp(`${String(deadCount)} dead letter\\(s\\)`));

    isRefusing = false;
    const requeued = await runCli(['deliveries', 'requeue', '--state', state]);
    expect(requeued.out).toMatch(new RegExp(`^requeued ${String(deadCount)} dead letter`));
    const second = await runCli(argv);
    expect(second.code).toBe(0);
    expect(server.accepted()).toHaveLength(deadCount);
    expect(JSON.parse((await runCli(['deliveries', '--state', state, '--format', 'json'])).out)).toMatchObject({ dead: [] });
  });
});
