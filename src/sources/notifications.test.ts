import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloudTrailNotification, eventBridgeS3Event, s3EncodeKey, s3EventNotification, s3TestEvent, snsEnvelope } from '../../test/support/sqs-fake.js';
import type { Notification } from './notifications.js';
import { cloudTrailObjectKind, decodeS3EventKey, parseCloudTrailKey, parseNotification } from './notifications.js';

// Real CloudTrail object names (the invictus dataset keeps them), placed in the S3 layout.
const INVICTUS = fileURLToPath(new URL('../../test/fixtures/cloudtrail/invictus-aws-dataset/CloudTrail/', import.meta.url));
const [NAME_A = '', NAME_B = ''] = readdirSync(INVICTUS).filter((n) => n.endsWith('.json')).sort();
const ACCOUNT = NAME_A.slice(0, 12);
const KEY_A = `AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/2023/07/10/${NAME_A}.gz`;
const KEY_B = `AWSLogs/o-a1b2c3d4e5/${ACCOUNT}/CloudTrail/us-east-1/2023/07/10/${NAME_B}.gz`;
const DIGEST_KEY = `AWSLogs/${ACCOUNT}/CloudTrail-Digest/us-east-1/2023/07/10/${ACCOUNT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20230710T120000Z.json.gz`;
const INSIGHT_KEY = `AWSLogs/${ACCOUNT}/CloudTrail-Insight/us-east-1/2023/07/10/${ACCOUNT}_CloudTrail-Insight_us-east-1_20230710T1200Z_abcdefgh12345678.json.gz`;
const BUCKET = 'aws-cloudtrail-logs-218007301253-3d4f5a6b';

const s3Encode = s3EncodeKey;
const s3Event = (records: readonly { key: string; eventName?: string; bucket?: string; size?: number; eTag?: string }[]): Record<string, unknown> => s3EventNotification(records.map((r) => ({ ...r, bucket: r.bucket ?? BUCKET })));
const sns = snsEnvelope;
const eventBridge = (key: string, detailType?: string): Record<string, unknown> => eventBridgeS3Event(BUCKET, key, detailType);
const cloudTrail = (keys: readonly string[]): Record<string, unknown> => cloudTrailNotification(BUCKET, keys);
const s3Test = s3TestEvent(BUCKET);

const json = (value: unknown): string => JSON.stringify(value);
const keysOf = (n: Notification): string[] => (n.kind === 'objects' ? n.objects.map((o) => `${o.bucket}/${o.key}`) : []);

describe('notification shapes that announce objects', () => {
  it.each([
    { shape: 'a raw S3 event notification', body: json(s3Event([{ key: KEY_A }])), format: 's3-event', isSnsWrapped: false, keys: [KEY_A] },
    { shape: 'an SNS-wrapped S3 event notification', body: json(sns(s3Event([{ key: KEY_A }]))), format: 's3-event', isSnsWrapped: true, keys: [KEY_A] },
    { shape: 'an S3 event notification with two records', body: json(s3Event([{ key: KEY_A }, { key: KEY_B, eventName: 'ObjectCreated:CompleteMultipartUpload' }])), format: 's3-event', isSnsWrapped: false, keys: [KEY_A, KEY_B] },
    { shape: 'an EventBridge "Object Created" event', body: json(eventBridge(KEY_B)), format: 'eventbridge-s3', isSnsWrapped: false, keys: [KEY_B] },
    { shape: 'an SNS-wrapped EventBridge event', body: json(sns(eventBridge(KEY_A))), format: 'eventbridge-s3', isSnsWrapped: true, keys: [KEY_A] },
    { shape: "CloudTrail's SNS notification", body: json(sns(cloudTrail([KEY_A, KEY_B]), undefined)), format: 'cloudtrail-sns', isSnsWrapped: true, keys: [KEY_A, KEY_B] },
    { shape: "CloudTrail's notification with raw message delivery", body: json(cloudTrail([KEY_B])), format: 'cloudtrail-sns', isSnsWrapped: false, keys: [KEY_B] },
    { shape: 'a body with surrounding whitespace', body: `\n ${json(cloudTrail([KEY_A]))}\n`, format: 'cloudtrail-sns', isSnsWrapped: false, keys: [KEY_A] },
  ])('$shape', ({ body, format, isSnsWrapped, keys }) => {
    const n = parseNotification(body);
    expect(n).toMatchObject({ kind: 'objects', format, isSnsWrapped });
    expect(keysOf(n)).toEqual(keys.map((k) => `${BUCKET}/${k}`));
  });

  it('size and etag are kept when the producer gives them, and absent when it does not', () => {
    const fromS3 = parseNotification(json(s3Event([{ key: KEY_A, size: 777, eTag: 'abc123' }])));
    const fromEventBridge = parseNotification(json(eventBridge(KEY_A)));
    const fromCloudTrail = parseNotification(json(cloudTrail([KEY_A])));
    expect(fromS3.kind === 'objects' && fromS3.objects[0]).toEqual({ bucket: BUCKET, key: KEY_A, size: 777, etag: 'abc123' });
    expect(fromEventBridge.kind === 'objects' && fromEventBridge.objects[0]).toEqual({ bucket: BUCKET, key: KEY_A, size: 2412, etag: 'd41d8cd98f00b204e9800998ecf8427e' });
    expect(fromCloudTrail.kind === 'objects' && fromCloudTrail.objects[0]).toEqual({ bucket: BUCKET, key: KEY_A });
  });

  it('the same object named twice in one message is given once', () => {
    expect(keysOf(parseNotification(json(cloudTrail([KEY_A, KEY_A, KEY_B]))))).toEqual([`${BUCKET}/${KEY_A}`, `${BUCKET}/${KEY_B}`]);
  });
});

describe('key encoding', () => {
  const odd = 'team logs/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/a+b c%41=ü;:.json.gz';

  it.each([
    { shape: 'S3 event notification keys are URL-decoded (+ is a space, %xx a byte)', body: json(s3Event([{ key: odd }])), key: odd },
    { shape: 'S3 event keys decode inside SNS too', body: json(sns(s3Event([{ key: odd }]))), key: odd },
    { shape: "CloudTrail's own keys are taken as written (a + stays a +)", body: json(cloudTrail(['AWSLogs/1/a+b%41.json.gz'])), key: 'AWSLogs/1/a+b%41.json.gz' },
    { shape: 'EventBridge keys are taken as written', body: json(eventBridge('AWSLogs/1/a+b%41:c.json.gz')), key: 'AWSLogs/1/a+b%41:c.json.gz' },
  ])('$shape', ({ body, key }) => {
    expect(keysOf(parseNotification(body))).toEqual([`${BUCKET}/${key}`]);
  });

  it.each([
    { encoded: 'red+flower.jpg', decoded: 'red flower.jpg' },
    { encoded: 'a%2Bb', decoded: 'a+b' },
    { encoded: 'caf%C3%A9%3A1', decoded: 'café:1' },
    { encoded: 'bad%E0%A4%A', decoded: undefined },
    { encoded: '100%', decoded: undefined },
  ])('decodeS3EventKey($encoded) is $decoded', ({ encoded, decoded }) => {
    expect(decodeS3EventKey(encoded)).toBe(decoded);
  });

  it('any key survives S3 encoding and parsing, raw or SNS-wrapped', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), fc.boolean(), (name, wrap) => {
        const key = `AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/2023/07/10/${name}`;
        const event = s3Event([{ key }]);
        const n = parseNotification(json(wrap ? sns(event) : event));
        expect(keysOf(n)).toEqual([`${BUCKET}/${key}`]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('messages to ignore', () => {
  it.each([
    { shape: 'the S3 test event', body: json(s3Test), reason: 's3-test-event', isSnsWrapped: false },
    { shape: 'the S3 test event through SNS', body: json(sns(s3Test)), reason: 's3-test-event', isSnsWrapped: true },
    { shape: "SNS's CloudTrail validation message", body: json(sns('CloudTrail validation message.', 'CloudTrail validation message')), reason: 'cloudtrail-validation-message', isSnsWrapped: true },
    { shape: 'the validation message with raw message delivery', body: 'CloudTrail validation message.', reason: 'cloudtrail-validation-message', isSnsWrapped: false },
    { shape: 'an SNS subscription confirmation', body: json({ ...sns('You have chosen to subscribe to the topic'), Type: 'SubscriptionConfirmation', SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription', Token: 'abc' }), reason: 'sns-subscription', isSnsWrapped: true },
    { shape: 'a digest-only CloudTrail notification', body: json(sns(cloudTrail([DIGEST_KEY]))), reason: 'no-log-objects', isSnsWrapped: true },
    { shape: 'an S3 ObjectRemoved event', body: json(s3Event([{ key: KEY_A, eventName: 'ObjectRemoved:Delete' }])), reason: 'no-log-objects', isSnsWrapped: false },
    { shape: 'an EventBridge "Object Deleted" event', body: json(eventBridge(KEY_A, 'Object Deleted')), reason: 'no-log-objects', isSnsWrapped: false },
  ])('$shape is ignored, not an error', ({ body, reason, isSnsWrapped }) => {
    expect(parseNotification(body)).toMatchObject({ kind: 'ignored', reason, isSnsWrapped });
  });

  it('digest and insight objects are skipped beside the log objects, with the reason', () => {
    const n = parseNotification(json(s3Event([{ key: DIGEST_KEY }, { key: KEY_A }, { key: INSIGHT_KEY }, { key: KEY_B, eventName: 'ObjectRemoved:Delete' }])));
    expect(keysOf(n)).toEqual([`${BUCKET}/${KEY_A}`]);
    expect(n.kind === 'objects' && n.skipped).toEqual([
      { bucket: BUCKET, key: DIGEST_KEY, reason: 'digest' },
      { bucket: BUCKET, key: INSIGHT_KEY, reason: 'insight' },
      { bucket: BUCKET, key: KEY_B, reason: 'not-object-created' },
    ]);
  });
});

describe('messages that cannot be understood', () => {
  const cloudTrailApiCall = { ...eventBridge(KEY_A), 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.ec2', detail: { eventVersion: '1.08', eventName: 'StopInstances' } };
  it.each([
    { shape: 'a body that is not JSON', body: 'hello <xml/>', says: 'not JSON' },
    { shape: 'an SNS Message that is not JSON', body: json(sns('totally not json')), says: 'SNS "Message" is not JSON' },
    { shape: 'an SNS notification without a Message', body: json({ ...sns('x'), Message: 42 }), says: 'without a "Message"' },
    { shape: 'JSON of another shape', body: json({ hello: 'world' }), says: 'not an S3 event notification' },
    { shape: 'a CloudTrail log file instead of a notification', body: json({ Records: [{ eventVersion: '1.08', eventSource: 'ec2.amazonaws.com', eventName: 'StopInstances' }] }), says: 'not an S3 event notification' },
    { shape: 'an S3 event whose key has malformed escapes', body: json(s3Event([{ key: KEY_A }])).replace(s3Encode(KEY_A), 'AWSLogs/x%E0%A4%A.json.gz'), says: 'malformed URL escapes' },
    { shape: 'an S3 event without a bucket name', body: json(s3Event([{ key: KEY_A, bucket: '' }])), says: 'bucket name is missing' },
    { shape: 'a CloudTrail notification whose keys are not a list', body: json({ s3Bucket: BUCKET, s3ObjectKey: KEY_A }), says: 'not a list' },
    { shape: 'a CloudTrail notification with a non-string key', body: json({ s3Bucket: BUCKET, s3ObjectKey: [KEY_A, 7] }), says: 'object key is missing' },
    { shape: 'an EventBridge CloudTrail API call (a record, not an object)', body: json(cloudTrailApiCall), says: 'HTTP intake' },
    { shape: 'a key longer than S3 allows', body: json(cloudTrail([`AWSLogs/${'k'.repeat(1100)}`])), says: 'longer than S3 allows' },
  ])('$shape is invalid, with a message saying so', ({ body, says }) => {
    const n = parseNotification(body);
    expect(n.kind).toBe('invalid');
    expect(n.kind === 'invalid' && n.message).toContain(says);
  });

  it('control characters from a body are escaped in the message', () => {
    const n = parseNotification('\u001b[31mnot json\u2028');
    const message = n.kind === 'invalid' ? n.message : '';
    expect(message.includes('\u001b') || message.includes('\u2028')).toBe(false);
    expect(n.kind === 'invalid' && n.message).toContain('\\u001b');
  });

  it('no body of any shape makes the parser throw', () => {
    const jsonish = fc.jsonValue({ maxDepth: 4 });
    const body = fc.oneof(
      fc.string(),
      jsonish.map((v) => JSON.stringify(v)),
      jsonish.map((v) => JSON.stringify({ Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: v }] })),
      jsonish.map((v) => JSON.stringify({ Type: 'Notification', Message: JSON.stringify({ s3Bucket: v, s3ObjectKey: v }) })),
      jsonish.map((v) => JSON.stringify({ 'detail-type': 'Object Created', source: 'aws.s3', detail: v })),
    );
    fc.assert(
      fc.property(body, (text) => {
        const n = parseNotification(text);
        expect(['objects', 'ignored', 'invalid']).toContain(n.kind);
        if (n.kind === 'objects') expect(n.objects.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the CloudTrail S3 layout', () => {
  it.each([
    // Both real names carry the stamp 20230710T1145Z (checked below).
    { key: KEY_A, expected: { prefix: '', account: ACCOUNT, region: 'us-east-1', date: '2023-07-10', fileTime: Date.parse('2023-07-10T11:45:00Z') } },
    { key: `team/logs/${KEY_B}`, expected: { prefix: 'team/logs/', organizationId: 'o-a1b2c3d4e5', account: ACCOUNT, region: 'us-east-1', date: '2023-07-10', fileTime: Date.parse('2023-07-10T11:45:00Z') } },
    { key: `AWSLogs/${ACCOUNT}/CloudTrail/ca-northsouth-2r/2024/02/29/x.json.gz`, expected: { prefix: '', account: ACCOUNT, region: 'ca-northsouth-2r', date: '2024-02-29' } },
    { key: `AWSLogs/${ACCOUNT}/CloudTrail/us-east-1/2023/07/10/${ACCOUNT}_CloudTrail_us-east-1_20230231T2599Z_x.json.gz`, expected: { prefix: '', account: ACCOUNT, region: 'us-east-1', date: '2023-07-10' } },
  ])('parseCloudTrailKey reads $key', ({ key, expected }) => {
    expect([NAME_A, NAME_B].every((n) => n.includes('_20230710T1145Z_'))).toBe(true);
    const parsed = parseCloudTrailKey(key);
    expect(parsed).toMatchObject(expected);
    if (!('fileTime' in expected)) expect(parsed?.fileTime).toBeUndefined();
  });

  it.each([DIGEST_KEY, INSIGHT_KEY, `AWSLogs/${ACCOUNT}/Config/us-east-1/2023/07/10/x.json.gz`, `AWSLogs/12345/CloudTrail/us-east-1/2023/07/10/x.json.gz`, 'random/object.json'])('%s is not a log key of the layout', (key) => {
    expect(parseCloudTrailKey(key)).toBeUndefined();
  });

  it.each([
    { key: KEY_A, kind: 'log' },
    { key: DIGEST_KEY, kind: 'digest' },
    { key: INSIGHT_KEY, kind: 'insight' },
    { key: 'notes/CloudTrail-Digest-report.txt', kind: 'log' },
  ])('cloudTrailObjectKind($key) is $kind', ({ key, kind }) => {
    expect(cloudTrailObjectKind(key)).toBe(kind);
  });
});
