import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetQueueUrlCommand, QueueDoesNotExist, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../core/errors.js';
import { S3Fake } from '../../test/support/s3-fake.js';
import type { Availability } from '../../test/support/sqs-fake.js';
import { SqsFake, cloudTrailNotification, eventBridgeS3Event, s3EventNotification, s3TestEvent, snsEnvelope, tryStart } from '../../test/support/sqs-fake.js';
import type { IgnoreReason, S3ObjectRef } from './notifications.js';
import { openS3Object } from './s3.js';
import type { ProcessObjects, ReceivedMessage, SqsProblem, SqsSourceOptions } from './sqs.js';
import { SqsSource, parseSqsSourceOptions, sqsSourceOptionsSchema } from './sqs.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/cloudtrail/invictus-aws-dataset/CloudTrail/', import.meta.url));
const NAMES = ['218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json', '218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json'] as const;
const recordsIn = (name: string): unknown[] => (JSON.parse(readFileSync(`${FIXTURE_DIR}${name}`, 'utf8')) as { Records: unknown[] }).Records;
const BUCKET = 'trail-bucket';
const KEY_0 = `AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/${NAMES[0]}.gz`;
const KEY_1 = `AWSLogs/o-a1b2c3d4e5/218007301253/CloudTrail/us-east-1/2023/07/10/${NAMES[1]}.gz`;
/** A key that only survives S3's URL encoding if it is decoded: spaces, a plus, a colon, non-ASCII. */
const ODD_KEY = `team logs/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/a+b c:ü ${NAMES[0]}.gz`;

let sqs: Availability<SqsFake>;
let s3: Availability<S3Fake>;
beforeAll(async () => {
  sqs = await tryStart('the SQS fake', () => SqsFake.start({ maxWaitMs: 300 }));
  s3 = await tryStart('the S3 fake (s3rver)', () => S3Fake.start({ buckets: [BUCKET] }));
  if (s3.ok) {
    await s3.service.putObject(BUCKET, KEY_0, gzipSync(readFileSync(`${FIXTURE_DIR}${NAMES[0]}`)));
    await s3.service.putObject(BUCKET, KEY_1, gzipSync(readFileSync(`${FIXTURE_DIR}${NAMES[1]}`)));
    await s3.service.putObject(BUCKET, ODD_KEY, gzipSync(readFileSync(`${FIXTURE_DIR}${NAMES[0]}`)));
  }
}, 30_000);
afterAll(async () => {
  if (sqs.ok) await sqs.service.close();
  if (s3.ok) await s3.service.close();
});

function needSqs(skip: (note: string) => never): SqsFake {
  if (!sqs.ok) skip(sqs.reason);
  return sqs.service;
}
function needS3(skip: (note: string) => never): S3Fake {
  if (!s3.ok) skip(s3.reason);
  return s3.service;
}

let queueCount = 0;
/** A fresh queue with its URL. */
function freshQueue(fake: SqsFake, visibilityTimeoutSeconds = 30): string {
  return fake.createQueue(`q${queueCount++}`, visibilityTimeoutSeconds);
}

interface Harness {
  readonly source: SqsSource;
  readonly problems: SqsProblem[];
  readonly ignored: { reason: IgnoreReason; message: ReceivedMessage }[];
}

function harness(fake: SqsFake, options: SqsSourceOptions, process: ProcessObjects): Harness {
  const problems: SqsProblem[] = [];
  const ignored: { reason: IgnoreReason; message: ReceivedMessage }[] = [];
  const source = new SqsSource({ waitTimeSeconds: 1, ...options }, { client: fake.client(), process, onProblem: (p) => problems.push(p), onIgnored: (reason, message) => ignored.push({ reason, message }) });
  return { source, problems, ignored };
}

/** Run the source until `isDone()` holds (or a time limit), then stop it and wait for it to drain. */
async function runUntil(source: SqsSource, isDone: () => boolean, limitMs = 10_000): Promise<void> {
  const controller = new AbortController();
  const running = source.run(controller.signal);
  const until = Date.now() + limitMs;
  while (!isDone() && Date.now() < until) await delay(10);
  controller.abort();
  await running;
}

/** Run the source for a fixed time. */
async function runFor(source: SqsSource, ms: number): Promise<void> {
  await runUntil(source, () => false, ms);
}

const json = (value: unknown): string => JSON.stringify(value);

describe('options', () => {
  it('every option is documented in docs/sources.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/sources.md', import.meta.url)), 'utf8');
    expect(Object.keys(sqsSourceOptionsSchema.shape).filter((key) => !doc.includes(`\`${key}\``))).toEqual([]);
  });

  it.each([
    { input: { queueUrl: 'http://127.0.0.1:1/000000000000/q', waitTimeSeconds: 25 }, says: 'waitTimeSeconds' },
    { input: { queueUrl: 'http://127.0.0.1:1/000000000000/q', maxMessages: 11 }, says: 'maxMessages' },
    { input: { queueUrl: 'not a url' }, says: 'queueUrl' },
    { input: { queueUrl: 'http://127.0.0.1:1/000000000000/q', visibilityTimeout: 30 }, says: 'visibilityTimeout' },
  ])('$says is rejected with a usage error naming it', ({ input, says }) => {
    expect(() => parseSqsSourceOptions(input)).toThrow(UsageError);
    expect(() => parseSqsSourceOptions(input)).toThrow(says);
  });

  it('defaults are filled in', () => {
    expect(parseSqsSourceOptions({ queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/trail' })).toMatchObject({ waitTimeSeconds: 20, maxMessages: 10, visibilityTimeoutSeconds: 300, concurrency: 1, drainTimeoutMs: 10_000 });
  });
});

describe('the SQS fake speaks the JSON protocol of the real SDK', () => {
  it('SendMessage, GetQueueUrl and ReceiveMessage round-trip, with MD5s the SDK checks', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const client = fake.client();
    const url = freshQueue(fake);
    const name = url.split('/').pop() ?? '';
    expect((await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl).toBe(url);
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'héllo ☃' }));
    const out = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    expect(out.Messages?.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([['héllo ☃', '1']]);
  });

  it('a missing queue is the SDK error class QueueDoesNotExist', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const failure = await fake
      .client()
      .send(new ReceiveMessageCommand({ QueueUrl: `${fake.endpoint}/000000000000/nope` }))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(QueueDoesNotExist);
  });
});

describe('each notification shape end to end: SQS message → S3 object read → message deleted', () => {
  it.for([
    { shape: 'a raw S3 event notification', body: json(s3EventNotification([{ bucket: BUCKET, key: KEY_0 }])), keys: [KEY_0] },
    { shape: 'an S3 event notification with a URL-encoded key', body: json(s3EventNotification([{ bucket: BUCKET, key: ODD_KEY }])), keys: [ODD_KEY] },
    { shape: 'an SNS-wrapped S3 event notification', body: json(snsEnvelope(s3EventNotification([{ bucket: BUCKET, key: ODD_KEY }]))), keys: [ODD_KEY] },
    { shape: 'an EventBridge "Object Created" event', body: json(eventBridgeS3Event(BUCKET, KEY_1)), keys: [KEY_1] },
    { shape: "CloudTrail's SNS notification", body: json(snsEnvelope(cloudTrailNotification(BUCKET, [KEY_0, KEY_1]))), keys: [KEY_0, KEY_1] },
    { shape: "CloudTrail's notification with raw message delivery", body: json(cloudTrailNotification(BUCKET, [KEY_1])), keys: [KEY_1] },
  ])('$shape', async ({ body, keys }, ctx) => {
    const fake = needSqs(ctx.skip);
    const store = needS3(ctx.skip);
    const client = store.client();
    const url = freshQueue(fake);
    const messageId = fake.send(url, body);
    const read: { key: string; records: number }[] = [];
    const h = harness(fake, { queueUrl: url }, async (objects) => {
      for (const object of objects) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of await openS3Object(client, object)) chunks.push(chunk);
        const parsed = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as { Records: unknown[] };
        read.push({ key: object.key, records: parsed.Records.length });
      }
    });
    await runUntil(h.source, () => fake.deleted(url).length === 1);
    expect(read).toEqual(keys.map((key) => ({ key, records: recordsIn(key === KEY_1 ? NAMES[1] : NAMES[0]).length })));
    expect(fake.deleted(url).map((m) => m.messageId)).toEqual([messageId]);
    expect(h.problems).toEqual([]);
    expect(h.source.stats).toMatchObject({ processed: 1, failed: 0, ignored: 0 });
  });

  it.for([
    { shape: 'the S3 test event', body: json(s3TestEvent(BUCKET)), reason: 's3-test-event' },
    { shape: 'the CloudTrail validation message through SNS', body: json(snsEnvelope('CloudTrail validation message.')), reason: 'cloudtrail-validation-message' },
    { shape: 'the CloudTrail validation message, raw', body: 'CloudTrail validation message.', reason: 'cloudtrail-validation-message' },
    { shape: 'a notification of a digest file only', body: json(cloudTrailNotification(BUCKET, ['AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz'])), reason: 'no-log-objects' },
  ])('$shape is deleted without processing', async ({ body, reason }, ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    fake.send(url, body);
    let calls = 0;
    const h = harness(fake, { queueUrl: url }, () => {
      calls++;
      return Promise.resolve();
    });
    await runUntil(h.source, () => fake.deleted(url).length === 1);
    expect(fake.deleted(url).length).toBe(1);
    expect(calls).toBe(0);
    expect(h.ignored.map((i) => i.reason)).toEqual([reason]);
    expect(h.problems).toEqual([]);
  });
});

describe('delivery: delete only after processing', () => {
  it('the message stays in flight while process runs, and is deleted once it resolves', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const id = fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const h = harness(fake, { queueUrl: url }, async () => {
      started = true;
      await gate;
    });
    const controller = new AbortController();
    const running = h.source.run(controller.signal);
    while (!started) await delay(5);
    await delay(100);
    expect(fake.inFlight(url).map((m) => m.messageId)).toEqual([id]);
    expect(fake.deleted(url)).toEqual([]);
    expect(fake.calls('DeleteMessage').filter((c) => c.input.QueueUrl === url)).toEqual([]);
    release();
    while (fake.deleted(url).length === 0) await delay(5);
    controller.abort();
    await running;
    expect(fake.deleted(url).map((m) => m.messageId)).toEqual([id]);
  });

  it('a long process extends the visibility, so the message is not delivered again meanwhile', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const id = fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    let started = false;
    const h = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 1, extendVisibilityAfterMs: 300 }, async () => {
      started = true;
      await delay(2_000);
    });
    const controller = new AbortController();
    const running = h.source.run(controller.signal);
    while (!started) await delay(5);
    // From then on a second consumer polls the same queue: it must never get the message.
    const rival: string[] = [];
    const rivalSource = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 1 }, (_objects, message) => {
      rival.push(message.messageId);
      return Promise.resolve();
    });
    const stopRival = new AbortController();
    const rivalRunning = rivalSource.source.run(stopRival.signal);
    while (fake.deleted(url).length === 0) await delay(10);
    controller.abort();
    await running;
    stopRival.abort();
    await rivalRunning;
    expect(rival).toEqual([]);
    expect(fake.receiveCounts(url).get(id)).toBe(1);
    const extensions = fake.calls('ChangeMessageVisibility').filter((c) => c.input.QueueUrl === url);
    expect(extensions.length).toBeGreaterThanOrEqual(4);
    expect(extensions.every((c) => c.input.VisibilityTimeout === 1 && c.error === undefined)).toBe(true);
    expect(h.source.stats.extensions).toBe(extensions.length);
  });

  it('messages waiting their turn in a batch are kept invisible too', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const ids = [0, 1, 2].map(() => fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0]))));
    const order: string[] = [];
    const h = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 1, extendVisibilityAfterMs: 250, concurrency: 1 }, async (_objects, message) => {
      order.push(message.messageId);
      await delay(700);
    });
    const controller = new AbortController();
    const running = h.source.run(controller.signal);
    while (order.length === 0) await delay(5);
    // The last message waits 1.4 s for its turn, past its 1 s visibility: a rival must still not get it.
    const rival: string[] = [];
    const rivalSource = harness(fake, { queueUrl: url }, (_objects, message) => {
      rival.push(message.messageId);
      return Promise.resolve();
    });
    const stopRival = new AbortController();
    const rivalRunning = rivalSource.source.run(stopRival.signal);
    while (fake.deleted(url).length < 3) await delay(10);
    controller.abort();
    stopRival.abort();
    await Promise.all([running, rivalRunning]);
    expect(rival).toEqual([]);
    expect([...order].sort()).toEqual([...ids].sort());
    expect([...fake.receiveCounts(url).values()]).toEqual([1, 1, 1]);
  });
});

describe('poison messages are reported and left to the redrive policy', () => {
  it('a failing object is reported once per receive, never deleted, and not retried in a tight loop; the rest goes on', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const poison = fake.send(url, json(cloudTrailNotification(BUCKET, ['AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/poison.json.gz'])));
    const good = fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    const h = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 1, maxMessages: 10 }, (objects: readonly S3ObjectRef[]) =>
      objects.some((o) => o.key.endsWith('poison.json.gz')) ? Promise.reject(new Error('gunzip: incorrect header check')) : Promise.resolve(),
    );
    await runFor(h.source, 3_300);
    const receives = fake.receiveCounts(url).get(poison) ?? 0;
    // Visible again only after each 1 s visibility timeout: about 4 receives in 3.3 s, not hundreds.
    expect(receives).toBeGreaterThanOrEqual(2);
    expect(receives).toBeLessThanOrEqual(5);
    expect(h.problems.map((p) => [p.code, p.messageId])).toEqual(Array.from({ length: receives }, () => ['E_SQS_PROCESS', poison]));
    expect(h.problems.map((p) => p.receiveCount)).toEqual(Array.from({ length: receives }, (_, n) => n + 1));
    expect(h.problems[0]?.message).toContain('incorrect header check');
    expect(fake.deleted(url).map((m) => m.messageId)).toEqual([good]);
    expect(fake.receiveCounts(url).get(good)).toBe(1);
  });

  it('with failureBackoffSeconds, a failed message is hidden for a doubling time per receive', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const poison = fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    const h = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 30, failureBackoffSeconds: 1 }, () => Promise.reject(new Error('bad object')));
    await runFor(h.source, 2_500);
    // Receive 1 (at 0 s) hides it for 1 s, receive 2 (at 1 s) for 2 s: the third would be at 3 s.
    expect(fake.receiveCounts(url).get(poison)).toBe(2);
    const backoffs = fake.calls('ChangeMessageVisibility').filter((c) => c.input.QueueUrl === url).map((c) => c.input.VisibilityTimeout);
    expect(backoffs).toEqual([1, 2]);
    expect(h.problems.length).toBe(2);
  });

  it('a message that is not a notification is reported (E_SQS_MESSAGE) and left on the queue', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    const bad = fake.send(url, '{"hello":"world"}');
    let calls = 0;
    const h = harness(fake, { queueUrl: url, visibilityTimeoutSeconds: 5 }, () => {
      calls++;
      return Promise.resolve();
    });
    await runUntil(h.source, () => h.problems.length > 0);
    expect(h.problems.map((p) => [p.code, p.messageId])).toEqual([['E_SQS_MESSAGE', bad]]);
    expect(calls).toBe(0);
    expect(fake.deleted(url)).toEqual([]);
    expect(fake.inFlight(url).map((m) => m.messageId)).toEqual([bad]);
  });
});

describe('queue trouble and shutdown', () => {
  it('receive errors are reported and retried with a growing pause, not in a tight loop', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = `${fake.endpoint}/000000000000/never-created`;
    const h = harness(fake, { queueUrl: url, receiveErrorBackoffMs: 100 }, () => Promise.resolve());
    await runFor(h.source, 1_000);
    // 100 + 200 + 400 ms of pauses fit in a second: four receives at most.
    expect(h.source.stats.receives).toBeGreaterThanOrEqual(3);
    expect(h.source.stats.receives).toBeLessThanOrEqual(5);
    expect(h.problems.every((p) => p.code === 'E_SQS_RECEIVE' && p.message.includes('QueueDoesNotExist'))).toBe(true);
    expect(h.problems.length).toBe(h.source.stats.receives);
  });

  it('a transient receive error is reported and receiving goes on', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake);
    fake.failNext('ReceiveMessage', 'InternalError', 'InternalError', 500);
    fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    const h = harness(fake, { queueUrl: url, receiveErrorBackoffMs: 20 }, () => Promise.resolve());
    await runUntil(h.source, () => fake.deleted(url).length === 1);
    expect(h.problems.map((p) => p.code)).toEqual(['E_SQS_RECEIVE']);
    expect(fake.deleted(url).length).toBe(1);
  });

  it('on abort, in-flight work finishes and is deleted; unstarted messages are released at once', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake, 30);
    const ids = [0, 1, 2].map(() => fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0]))));
    const controller = new AbortController();
    const seen: string[] = [];
    const h = harness(fake, { queueUrl: url, concurrency: 1, drainTimeoutMs: 5_000 }, async (_objects, message) => {
      seen.push(message.messageId);
      controller.abort();
      await delay(300);
    });
    await h.source.run(controller.signal);
    expect(seen.length).toBe(1);
    expect(fake.deleted(url).map((m) => m.messageId)).toEqual(seen);
    const rest = ids.filter((id) => !seen.includes(id));
    expect(fake.visible(url).map((m) => m.messageId).sort()).toEqual([...rest].sort());
    expect(h.source.stats.released).toBe(2);
  });

  it('work still running at the drain deadline is aborted and its message left on the queue', async (ctx) => {
    const fake = needSqs(ctx.skip);
    const url = freshQueue(fake, 30);
    const id = fake.send(url, json(cloudTrailNotification(BUCKET, [KEY_0])));
    const controller = new AbortController();
    let sawAbort = false;
    const h = harness(fake, { queueUrl: url, drainTimeoutMs: 200 }, (_objects, _message, signal) => {
      controller.abort();
      return new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => ((sawAbort = true), reject(new Error('aborted')))));
    });
    const before = Date.now();
    await h.source.run(controller.signal);
    expect(Date.now() - before).toBeLessThan(3_000);
    expect(sawAbort).toBe(true);
    expect(fake.deleted(url)).toEqual([]);
    expect(fake.inFlight(url).map((m) => m.messageId)).toEqual([id]);
    expect(h.problems.map((p) => p.code)).toEqual(['E_SQS_DRAIN']);
  });
});

describe('network tests without their fake', () => {
  it.for([
    { required: undefined, outcome: 'skip' },
    { required: '0', outcome: 'skip' },
    { required: '1', outcome: 'fail' },
  ])('TRAILHOUND_REQUIRE_SERVICES=$required: a fake that cannot start makes the tests $outcome', async ({ required, outcome }) => {
    const saved = process.env.TRAILHOUND_REQUIRE_SERVICES;
    if (required === undefined) delete process.env.TRAILHOUND_REQUIRE_SERVICES;
    else process.env.TRAILHOUND_REQUIRE_SERVICES = required;
    try {
      const attempt = tryStart('the broken fake', () => Promise.reject(new Error('port in use')));
      if (outcome === 'fail') {
        await expect(attempt).rejects.toThrow('the broken fake is required');
      } else {
        const result = await attempt;
        expect(result.ok).toBe(false);
        expect(!result.ok && result.reason).toContain('the broken fake could not start (port in use)');
      }
    } finally {
      if (saved === undefined) delete process.env.TRAILHOUND_REQUIRE_SERVICES;
      else process.env.TRAILHOUND_REQUIRE_SERVICES = saved;
    }
  });
});
