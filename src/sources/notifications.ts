/**
 * What an SQS message announces: the S3 objects to read, or why the message can be ignored, or why
 * it cannot be understood. Pure (no I/O, no Node built-ins): the SQS source calls it per message.
 *
 * Shapes understood (each either as the SQS body itself or wrapped once in an SNS `Notification`
 * whose `Message` is the JSON text; SNS "raw message delivery" gives the bare shape):
 * - S3 event notifications `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
 *   "s3":{"bucket":{"name"},"object":{"key","size","eTag"}}}]}`. Their keys are URL-encoded
 *   (`+` is a space, `%xx` a UTF-8 byte) and are decoded here. Events other than `ObjectCreated:*`
 *   are skipped.
 * - EventBridge `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name"},
 *   "object":{"key","size","etag"}}}`. EventBridge gives the key as stored (not URL-encoded).
 * - CloudTrail's own SNS notification `{"s3Bucket":"…","s3ObjectKey":["…",…]}` (keys as stored).
 * - The S3 test event `{"Service":"Amazon S3","Event":"s3:TestEvent",…}`, SNS's
 *   `CloudTrail validation message.` and SNS subscription confirmations: ignored, not errors.
 *
 * Digest and Insight objects (`CloudTrail-Digest/`, `CloudTrail-Insight/` folders) are skipped.
 * Everything in a body is untrusted: it is `unknown` until checked, and nothing from it is evaluated.
 */
import { quoteForMessage } from '../core/quote.js';

/** An S3 object a notification (or a listing) names. `size` and `etag` when the producer gave them. */
export interface S3ObjectRef {
  readonly bucket: string;
  /** The object key as stored in S3 (decoded). */
  readonly key: string;
  readonly size?: number;
  /** Without the surrounding quotes S3 puts on ETag headers. */
  readonly etag?: string;
}

export type NotificationFormat = 's3-event' | 'eventbridge-s3' | 'cloudtrail-sns' | 's3-test-event' | 'cloudtrail-validation' | 'sns-control';

export type IgnoreReason =
  /** `s3:TestEvent`, sent when an S3 event notification is configured. */
  | 's3-test-event'
  /** `CloudTrail validation message.`, sent when a trail is given an SNS topic. */
  | 'cloudtrail-validation-message'
  /** An SNS SubscriptionConfirmation or UnsubscribeConfirmation. */
  | 'sns-subscription'
  /** Every object it names was skipped (digest, insight, or not an object-created event). */
  | 'no-log-objects';

export type SkipReason = 'digest' | 'insight' | 'not-object-created';

export interface SkippedObject {
  readonly bucket: string;
  readonly key: string;
  readonly reason: SkipReason;
}

export type Notification =
  | {
      readonly kind: 'objects';
      readonly format: NotificationFormat;
      /** Whether it came inside an SNS `Notification` envelope. */
      readonly isSnsWrapped: boolean;
      /** Never empty. */
      readonly objects: readonly S3ObjectRef[];
      readonly skipped: readonly SkippedObject[];
    }
  | {
      readonly kind: 'ignored';
      readonly format: NotificationFormat;
      readonly isSnsWrapped: boolean;
      readonly reason: IgnoreReason;
      readonly skipped: readonly SkippedObject[];
    }
  | {
      readonly kind: 'invalid';
      /** One line; any quoted input is escaped and shortened. */
      readonly message: string;
    };

const VALIDATION_MESSAGE = 'CloudTrail validation message.';
/** S3's own limit on key length, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
/** S3 bucket names: 3 to 63 of lower-case letters, digits, dots and hyphens (and legacy upper case / underscores). */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: unknown, ...path: string[]): unknown {
  let at: unknown = value;
  for (const name of path) {
    if (!isObject(at)) return undefined;
    at = at[name];
  }
  return at;
}

/**
 * Whether a key names a CloudTrail digest or Insight object (the `CloudTrail-Digest/` and
 * `CloudTrail-Insight/` siblings of `CloudTrail/` in the S3 layout), which hold no management or
 * data events and are never read.
 */
export function cloudTrailObjectKind(key: string): 'log' | 'digest' | 'insight' {
  const segments = key.split('/');
  if (segments.includes('CloudTrail-Digest')) return 'digest';
  if (segments.includes('CloudTrail-Insight')) return 'insight';
  return 'log';
}

/**
 * Decode a key from an S3 event notification: `+` is a space and `%xx` are UTF-8 bytes (form
 * encoding). Returns undefined when the escapes are malformed.
 */
export function decodeS3EventKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The parts of a key in the CloudTrail S3 layout, when it is one. */
export interface CloudTrailKey {
  /** Everything before `AWSLogs/` (the trail's key prefix with its `/`), possibly empty. */
  readonly prefix: string;
  /** `o-…` for an organisation trail. */
  readonly organizationId?: string;
  readonly account: string;
  readonly region: string;
  /** The date folder, `YYYY-MM-DD`. */
  readonly date: string;
  /** Epoch ms of the `YYYYMMDDTHHmmZ` stamp in the file name (delivery time, to the minute), when present. */
  readonly fileTime?: number;
}

const LAYOUT = /^(.*?)AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/CloudTrail\/([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/([^/]+)$/;
const FILE_STAMP = /_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z_/;

/** Read `…AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`; undefined for other keys. */
export function parseCloudTrailKey(key: string): CloudTrailKey | undefined {
  const m = LAYOUT.exec(key);
  if (!m) return undefined;
  const [, prefix = '', org, account = '', region = '', year, month, day, file = ''] = m;
  const stamp = FILE_STAMP.exec(file);
  let fileTime: number | undefined;
  if (stamp) {
    const [, y, mo, d, h, mi] = stamp.map(Number) as [number, number, number, number, number, number];
    const time = Date.UTC(y, mo - 1, d, h, mi);
    // Date.UTC rolls over out-of-range parts; keep the stamp only when it reads back the same.
    const check = new Date(time);
    if (check.getUTCMonth() === mo - 1 && check.getUTCDate() === d && h < 24 && mi < 60) fileTime = time;
  }
  return { prefix, ...(org !== undefined ? { organizationId: org } : {}), account, region, date: `${year}-${month}-${day}`, ...(fileTime !== undefined ? { fileTime } : {}) };
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

class Collector {
  readonly objects: S3ObjectRef[] = [];
  readonly skipped: SkippedObject[] = [];
  private readonly seen = new Set<string>();

  /** Returns a problem message, or undefined when the object was taken or skipped. */
  add(bucket: unknown, key: unknown, extra: { size?: unknown; etag?: unknown }, isCreate: boolean): string | undefined {
    if (typeof bucket !== 'string' || !BUCKET_NAME.test(bucket)) return `a bucket name is missing or malformed: ${quoteForMessage(String(bucket))}`;
    if (typeof key !== 'string' || key.length === 0) return `an object key is missing in bucket ${quoteForMessage(bucket)}`;
    if (utf8Bytes(key) > MAX_KEY_BYTES) return `an object key is longer than S3 allows (${MAX_KEY_BYTES} bytes): ${quoteForMessage(key)}`;
    if (!isCreate) {
      this.skipped.push({ bucket, key, reason: 'not-object-created' });
      return undefined;
    }
    const kind = cloudTrailObjectKind(key);
    if (kind !== 'log') {
      this.skipped.push({ bucket, key, reason: kind });
      return undefined;
    }
    const id = `${bucket}\u0000${key}`;
    if (this.seen.has(id)) return undefined;
    this.seen.add(id);
    const size = typeof extra.size === 'number' && Number.isSafeInteger(extra.size) && extra.size >= 0 ? extra.size : undefined;
    const etag = typeof extra.etag === 'string' && extra.etag.length > 0 ? stripQuotes(extra.etag) : undefined;
    this.objects.push({ bucket, key, ...(size !== undefined ? { size } : {}), ...(etag !== undefined ? { etag } : {}) });
    return undefined;
  }
}

/** ETags come quoted in S3 headers and listings, bare in notifications: keep them bare. */
export function stripQuotes(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

type Inner = { readonly kind: 'found'; readonly format: NotificationFormat; readonly collector: Collector } | { readonly kind: 'ignored'; readonly format: NotificationFormat; readonly reason: IgnoreReason } | { readonly kind: 'invalid'; readonly message: string } | { readonly kind: 'unknown' };

function fromS3Event(records: unknown[]): Inner {
  const collector = new Collector();
  for (const [index, record] of records.entries()) {
    if (!isObject(record) || !isObject(record.s3)) return { kind: 'invalid', message: `S3 event notification record ${index} has no "s3" object` };
    const eventName = record.eventName;
    if (typeof eventName !== 'string') return { kind: 'invalid', message: `S3 event notification record ${index} has no eventName` };
    const rawKey = field(record.s3, 'object', 'key');
    let key: unknown = rawKey;
    if (typeof rawKey === 'string') {
      key = decodeS3EventKey(rawKey);
      if (key === undefined) return { kind: 'invalid', message: `S3 event notification record ${index} has a key with malformed URL escapes: ${quoteForMessage(rawKey)}` };
    }
    const problem = collector.add(field(record.s3, 'bucket', 'name'), key, { size: field(record.s3, 'object', 'size'), etag: field(record.s3, 'object', 'eTag') }, eventName.startsWith('ObjectCreated:'));
    if (problem) return { kind: 'invalid', message: `S3 event notification record ${index}: ${problem}` };
  }
  return { kind: 'found', format: 's3-event', collector };
}

function fromEventBridge(event: Json): Inner {
  const detailType = event['detail-type'];
  if (detailType === 'AWS API Call via CloudTrail') {
    return { kind: 'invalid', message: 'an EventBridge "AWS API Call via CloudTrail" event carries a CloudTrail record, not an S3 object: send these to the HTTP intake (POST /intake/cloudtrail) instead of this queue' };
  }
  if (event.source !== 'aws.s3') return { kind: 'unknown' };
  const collector = new Collector();
  const detail = event.detail;
  const problem = collector.add(field(detail, 'bucket', 'name'), field(detail, 'object', 'key'), { size: field(detail, 'object', 'size'), etag: field(detail, 'object', 'etag') }, detailType === 'Object Created');
  if (problem) return { kind: 'invalid', message: `EventBridge S3 event: ${problem}` };
  return { kind: 'found', format: 'eventbridge-s3', collector };
}

function fromCloudTrailNotification(bucket: unknown, keys: unknown): Inner {
  if (!Array.isArray(keys)) return { kind: 'invalid', message: 'CloudTrail notification: "s3ObjectKey" is not a list' };
  const collector = new Collector();
  for (const key of keys) {
    const problem = collector.add(bucket, key, {}, true);
    if (problem) return { kind: 'invalid', message: `CloudTrail notification: ${problem}` };
  }
  return { kind: 'found', format: 'cloudtrail-sns', collector };
}

/** The shapes that can appear bare or inside an SNS envelope. */
function parseInner(value: unknown): Inner {
  if (!isObject(value)) return { kind: 'unknown' };
  if (value.Event === 's3:TestEvent') return { kind: 'ignored', format: 's3-test-event', reason: 's3-test-event' };
  if (Array.isArray(value.Records) && value.Records.some((r) => isObject(r) && (r.eventSource === 'aws:s3' || isObject(r.s3)))) return fromS3Event(value.Records);
  if ('s3Bucket' in value || 's3ObjectKey' in value) return fromCloudTrailNotification(value.s3Bucket, value.s3ObjectKey);
  if (typeof value['detail-type'] === 'string' && 'detail' in value) return fromEventBridge(value);
  return { kind: 'unknown' };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function finish(inner: Inner, isSnsWrapped: boolean, describe: string): Notification {
  switch (inner.kind) {
    case 'invalid':
      return inner;
    case 'unknown':
      return { kind: 'invalid', message: `${describe} is not an S3 event notification, an EventBridge S3 event or a CloudTrail notification` };
    case 'ignored':
      return { kind: 'ignored', format: inner.format, isSnsWrapped, reason: inner.reason, skipped: [] };
    case 'found': {
      const { objects, skipped } = inner.collector;
      if (objects.length === 0) return { kind: 'ignored', format: inner.format, isSnsWrapped, reason: 'no-log-objects', skipped };
      return { kind: 'objects', format: inner.format, isSnsWrapped, objects, skipped };
    }
  }
}

/** Parse one SQS message body. Never throws. */
export function parseNotification(body: string): Notification {
  const text = body.trim();
  if (text === VALIDATION_MESSAGE) return { kind: 'ignored', format: 'cloudtrail-validation', isSnsWrapped: false, reason: 'cloudtrail-validation-message', skipped: [] };
  const parsed = parseJson(text);
  if (!parsed.ok) return { kind: 'invalid', message: `the message body is not JSON: ${quoteForMessage(text, 60)}` };
  const value = parsed.value;
  if (isObject(value) && typeof value.Type === 'string' && 'TopicArn' in value) {
    if (value.Type === 'SubscriptionConfirmation' || value.Type === 'UnsubscribeConfirmation') return { kind: 'ignored', format: 'sns-control', isSnsWrapped: true, reason: 'sns-subscription', skipped: [] };
  }
  if (isObject(value) && value.Type === 'Notification') {
    const message = value.Message;
    if (typeof message !== 'string') return { kind: 'invalid', message: 'an SNS notification without a "Message" string' };
    if (message.trim() === VALIDATION_MESSAGE) return { kind: 'ignored', format: 'cloudtrail-validation', isSnsWrapped: true, reason: 'cloudtrail-validation-message', skipped: [] };
    const inner = parseJson(message);
    if (!inner.ok) return { kind: 'invalid', message: `the SNS "Message" is not JSON: ${quoteForMessage(message, 60)}` };
    return finish(parseInner(inner.value), true, 'the SNS "Message"');
  }
  return finish(parseInner(value), false, 'the message body');
}
