/**
 * `trailhound watch` end to end, in-process through the CLI (`main`), with the real AWS SDK v3
 * clients against the local fakes: s3rver (test/support/s3-fake.ts) and the SQS JSON 1.0 fake
 * (test/support/sqs-fake.ts). The Stratus user-data attack, cut into CloudTrail log files, is
 * delivered through each source and envelope and must raise its signals once.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import type { LogFile } from '../support/live-fixtures.js';
import { attackRecords, attackVariant, idsByRule, logFile, readSink, repeatedVersions, scanSignals, splitIntoLogFiles } from '../support/live-fixtures.js';
import { S3Fake } from '../support/s3-fake.js';
import { cloudTrailNotification, eventBridgeS3Event, s3EventNotification, s3TestEvent, snsEnvelope, SqsFake, tryStart } from '../support/sqs-fake.js';
import type { Availability } from '../support/sqs-fake.js';

const BUCKET = 'trail-bucket';
const SINCE = '2024-08-01T00:00:00Z';

let work: string;
let s3: Availability<S3Fake>;
let sqs: Availability<SqsFake>;
const savedEnv = { ...process.env };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'trailhound-live-sources-'));
  // The standard credential chain reads these (s3rver checks signatures with its own keys).
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  [s3, sqs] = await Promise.all([tryStart('s3rver', () => S3Fake.start({ buckets: [BUCKET] })), tryStart('the SQS fake', () => SqsFake.start())]);
}, 30_000);

afterAll(async () => {
  process.env = savedEnv;
  if (s3?.ok) await s3.service.close();
  if (sqs?.ok) await sqs.service.close();
  rmSync(work, { recursive: true, force: true });
});

let runs = 0;
function fresh(): { state: string; sink: string } {
  const dir = join(work, `run-${++runs}`);
  mkdirSync(dir, { recursive: true });
  return { state: join(dir, 'state'), sink: join(dir, 'signals.jsonl') };
}

/** The attack in three log files; the reference signals come from the batch engine. */
const attack = attackRecords();
const files = splitIntoLogFiles(attack, 3);
const expected = idsByRule(scanSignals(attack));

function truncatedGzip(file: LogFile): Buffer {
  return file.body.subarray(0, Math.floor(file.body.length / 2));
}

function expectAttackOnce(sinkPath: string): void {
  const { signals, lines } = readSink(sinkPath);
  expect(idsByRule(signals)).toEqual(expected);
  expect(repeatedVersions(signals)).toEqual([]);
  // One line per change: a created line per id, then updates with increasing `updates`.
  expect(lines.length).toBe(new Set(signals.map((s) => `${s.id}#${s.updates}`)).size);
}

describe('watch s3://bucket/prefix (listing)', () => {
  it('raises the attack once, reports a corrupt object and goes on; a second run reads nothing again', async (context) => {
    if (!s3.ok) return context.skip(s3.reason);
    const fake = s3.service;
    const prefix = 'poll/';
    const parts = splitIntoLogFiles(attack, 3, 'poll', prefix);
    const corrupt = logFile(attack.slice(0, 5), 'corrupt', prefix);
    // Uploaded newest first: the listing must still hand them over oldest first.
    await fake.putObjects(BUCKET, [...parts].reverse().map((f) => ({ key: f.key, body: f.body })));
    await fake.putObject(BUCKET, corrupt.key, truncatedGzip(corrupt));
    await fake.putObject(BUCKET, corrupt.key.replace('/CloudTrail/', '/CloudTrail-Digest/'), '{"digest":true}');
    const { state, sink } = fresh();
    const argv = ['watch', `s3://${BUCKET}/poll`, '--state', state, '--since', SINCE, '--once', '--sink', `jsonl:${sink}`, '--endpoint-url', fake.endpoint, '--region', 'us-east-1'];
    const first = await runCli(argv);
    expect(first.err).toContain('E_LIVE_POISON');
    expect(first.err).toContain('corrupt');
    expect(first.code).toBe(0);
    expectAttackOnce(sink);
    expect(JSON.parse(readFileSync(join(state, 'watch-position.json'), 'utf8'))).toHaveProperty([`s3://${BUCKET}/poll`]);

    const linesBefore = readSink(sink).lines.length;
    const second = await runCli(argv);
    expect(second.code).toBe(0);
    expect(second.err).not.toContain('E_LIVE_POISON');
    expect(readSink(sink).lines.length).toBe(linesBefore);
  });
});

type Envelope = { readonly name: string; readonly bodies: (keys: readonly string[]) => string[] };

const ENVELOPES: Envelope[] = [
  { name: 'S3 event notifications (raw)', bodies: (keys) => keys.map((key) => JSON.stringify(s3EventNotification([{ bucket: BUCKET, key }]))) },
  { name: 'S3 event notifications wrapped in SNS', bodies: (keys) => keys.map((key) => JSON.stringify(snsEnvelope(s3EventNotification([{ bucket: BUCKET, key }])))) },
  { name: 'EventBridge "Object Created" events', bodies: (keys) => keys.map((key) => JSON.stringify(eventBridgeS3Event(BUCKET, key))) },
  { name: "CloudTrail's own SNS notification (wrapped)", bodies: (keys) => [JSON.stringify(snsEnvelope(cloudTrailNotification(BUCKET, keys), 'CloudTrail notification'))] },
  { name: "CloudTrail's own notification (raw delivery)", bodies: (keys) => keys.map((key) => JSON.stringify(cloudTrailNotification(BUCKET, [key]))) },
];

describe('watch sqs://QUEUE-URL', () => {
  let uploaded: Promise<void> | undefined;
  const keys = files.map((f) => `sqs/${f.key}`);
  const upload = (): Promise<void> => {
    if (!s3.ok) return Promise.resolve();
    uploaded ??= s3.service.putObjects(
      BUCKET,
      files.map((f, i) => ({ key: keys[i] ?? '', body: f.body })),
    );
    return uploaded;
  };

  it.for(ENVELOPES)('$name, out of order and each sent twice, raise the attack once and every message is deleted', async ({ name, bodies }, context) => {
    if (!s3.ok) return context.skip(s3.reason);
    if (!sqs.ok) return context.skip(sqs.reason);
    await upload();
    const queue = sqs.service.createQueue(`q${runs + 1}`);
    // Newest file first, every notification twice, with the noise a real queue carries.
    const messages = bodies([...keys].reverse());
    sqs.service.send(queue, JSON.stringify(s3TestEvent(BUCKET)));
    sqs.service.send(queue, JSON.stringify(snsEnvelope('CloudTrail validation message.', 'CloudTrail validation')));
    for (const body of [...messages, ...messages]) sqs.service.send(queue, body);
    const { state, sink } = fresh();
    const run = await runCli(['watch', `sqs://${queue}`, '--state', state, '--once', '--sink', `jsonl:${sink}`, '--endpoint-url', s3.service.endpoint, '--region', 'us-east-1']);
    expect(run.err, name).not.toContain('problem:');
    expect(run.code).toBe(0);
    expectAttackOnce(sink);
    expect(sqs.service.visible(queue)).toEqual([]);
    expect(sqs.service.inFlight(queue)).toEqual([]);
    expect(sqs.service.deleted(queue)).toHaveLength(messages.length * 2 + 2);
  });

  it('leaves the message of a poison object on the queue for its redrive policy and processes the others', async (context) => {
    if (!s3.ok) return context.skip(s3.reason);
    if (!sqs.ok) return context.skip(sqs.reason);
    await upload();
    const corrupt = logFile(attack.slice(0, 5), 'poison', 'sqs/');
    await s3.service.putObject(BUCKET, corrupt.key, truncatedGzip(corrupt));
    const queue = sqs.service.createQueue(`poison${runs + 1}`, 30);
    const poisonId = sqs.service.send(queue, JSON.stringify(s3EventNotification([{ bucket: BUCKET, key: corrupt.key }])));
    for (const key of keys) sqs.service.send(queue, JSON.stringify(eventBridgeS3Event(BUCKET, key)));
    const { state, sink } = fresh();
    const run = await runCli(['watch', `sqs://${queue}`, '--state', state, '--once', '--sink', `jsonl:${sink}`, '--endpoint-url', s3.service.endpoint, '--region', 'us-east-1']);
    expect(run.code).toBe(0);
    expect(run.err).toContain('E_LIVE_POISON');
    expect(run.err).toContain('E_SQS_PROCESS');
    expectAttackOnce(sink);
    const left = sqs.service.queue(queue).messages.filter((m) => m.deletedAt === undefined);
    expect(left.map((m) => m.messageId)).toEqual([poisonId]);
    // Received once: not retried in a loop (it waits for its visibility timeout).
    expect(left[0]?.receiveCount).toBe(1);
  });
});

describe('watch PATH (a local folder)', () => {
  it('completes the sequence when its first file arrives out of order, 40 minutes of event time late', async () => {
    const { state, sink } = fresh();
    const folder = join(work, `folder-${runs}`);
    // The attack's StopInstances file is held back; records of 40 minutes later arrive first.
    const [stopFile, ...rest] = splitIntoLogFiles(attack, 3, 'late');
    const later = splitIntoLogFiles(
      attackVariant('later', 40 * 60_000).filter((r) => r.eventName === 'DescribeInstances'),
      2,
      'later',
    );
    const write = (f: LogFile): void => {
      const path = join(folder, f.key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.body);
    };
    for (const f of [...rest, ...later]) write(f);
    const argv = ['watch', folder, '--state', state, '--once', '--sink', `jsonl:${sink}`];
    const first = await runCli(argv);
    expect(first.code).toBe(0);
    // ModifyInstanceAttribute and StartInstances without the StopInstances raise nothing yet.
    expect(readSink(sink).signals).toEqual([]);
    expect(stopFile?.records.some((r) => r.eventName === 'StopInstances')).toBe(true);
    if (stopFile) write(stopFile);
    const second = await runCli(argv);
    expect(second.code).toBe(0);
    expectAttackOnce(sink);
    expect(existsSync(join(state, 'trailhound.db'))).toBe(true);
  });

  it('refuses to start without --state, with a clear message', async () => {
    const run = await runCli(['watch', work, '--once']);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/watch needs --state DIR/);
  });
});
