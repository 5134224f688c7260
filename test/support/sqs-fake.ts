/**
 * Test support: a small in-process SQS on 127.0.0.1 speaking the AWS JSON 1.0 protocol the current
 * SDK uses (`POST /`, `X-Amz-Target: AmazonSQS.<Action>`, `Content-Type: application/x-amz-json-1.0`,
 * errors as `{"__type":"com.amazonaws.sqs#…","message":…}` with an `x-amzn-query-error` header).
 *
 * Actions: CreateQueue, GetQueueUrl, SendMessage, ReceiveMessage (MaxNumberOfMessages,
 * WaitTimeSeconds honoured up to `maxWaitMs`, VisibilityTimeout, MessageSystemAttributeNames /
 * AttributeNames), DeleteMessage, ChangeMessageVisibility. As in SQS, each receive gives a new
 * ReceiptHandle and only the latest one of a message counts: DeleteMessage with an older handle
 * succeeds without deleting, ChangeMessageVisibility on a message not in flight fails with
 * MessageNotInflight. Inspection helpers say what is in flight, deleted, and how often each message
 * was received; every request is logged.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';

export const FAKE_ACCOUNT = '000000000000';

export interface FakeMessage {
  readonly messageId: string;
  readonly body: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  /** Epoch ms from which it can be received. */
  visibleAt: number;
  /** The latest receipt handle; undefined before the first receive. */
  receiptHandle: string | undefined;
  deletedAt: number | undefined;
}

export interface FakeQueue {
  readonly name: string;
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  readonly messages: FakeMessage[];
}

export interface LoggedRequest {
  readonly action: string;
  readonly input: Record<string, unknown>;
  readonly at: number;
  /** The error `__type` short name when the fake answered with an error. */
  readonly error?: string;
}

export interface SqsFakeOptions {
  /** Upper bound on how long a ReceiveMessage waits, whatever WaitTimeSeconds asks. Default 1000. */
  readonly maxWaitMs?: number;
}

class SqsError extends Error {
  constructor(
    readonly type: string,
    readonly queryCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class SqsFake {
  readonly endpoint: string;
  readonly requests: LoggedRequest[] = [];
  private readonly queues = new Map<string, FakeQueue>();
  private readonly waiters = new Set<() => void>();
  private readonly faults: { action: string; type: string; queryCode: string; status: number }[] = [];
  private closed = false;

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly port: number,
    private readonly maxWaitMs: number,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  /** Start on 127.0.0.1 with an ephemeral port. */
  static async start(options: SqsFakeOptions = {}): Promise<SqsFake> {
    const holder: { fake?: SqsFake } = {};
    const server = createServer((req, res) => {
      if (holder.fake) void holder.fake.handle(req, res);
      else res.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    holder.fake = new SqsFake(server, (server.address() as AddressInfo).port, options.maxWaitMs ?? 1000);
    return holder.fake;
  }

  /** A real SDK client pointed at the fake. */
  client(): SQSClient {
    return new SQSClient({ region: 'us-east-1', endpoint: this.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  }

  /** Create a queue directly (no HTTP); returns its URL. */
  createQueue(name: string, visibilityTimeoutSeconds = 30): string {
    const existing = this.queues.get(name);
    if (existing) return existing.url;
    const queue: FakeQueue = { name, url: `${this.endpoint}/${FAKE_ACCOUNT}/${name}`, visibilityTimeoutSeconds, messages: [] };
    this.queues.set(name, queue);
    return queue.url;
  }

  /** Put a message on a queue directly (no HTTP); returns its MessageId. */
  send(queueUrl: string, body: string): string {
    const queue = this.queueByUrl(queueUrl);
    const messageId = randomUUID();
    queue.messages.push({ messageId, body, sentAt: Date.now(), receiveCount: 0, firstReceivedAt: undefined, visibleAt: 0, receiptHandle: undefined, deletedAt: undefined });
    this.wake();
    return messageId;
  }

  queue(queueUrl: string): FakeQueue {
    return this.queueByUrl(queueUrl);
  }

  /** Received, not deleted, and still invisible. */
  inFlight(queueUrl: string): FakeMessage[] {
    const now = Date.now();
    return this.queueByUrl(queueUrl).messages.filter((m) => m.deletedAt === undefined && m.receiveCount > 0 && m.visibleAt > now);
  }

  /** Not deleted and receivable now. */
  visible(queueUrl: string): FakeMessage[] {
    const now = Date.now();
    return this.queueByUrl(queueUrl).messages.filter((m) => m.deletedAt === undefined && m.visibleAt <= now);
  }

  deleted(queueUrl: string): FakeMessage[] {
    return this.queueByUrl(queueUrl).messages.filter((m) => m.deletedAt !== undefined);
  }

  /** MessageId → how many times it was received. */
  receiveCounts(queueUrl: string): Map<string, number> {
    return new Map(this.queueByUrl(queueUrl).messages.map((m) => [m.messageId, m.receiveCount]));
  }

  /** The logged requests of one action. */
  calls(action: string): LoggedRequest[] {
    return this.requests.filter((r) => r.action === action);
  }

  /** Answer the next request of `action` with an error (`type` is the `__type` short name). */
  failNext(action: string, type = 'InternalError', queryCode = 'InternalError', status = 500): void {
    this.faults.push({ action, type, queryCode, status });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private queueByUrl(queueUrl: unknown): FakeQueue {
    if (typeof queueUrl === 'string') {
      const name = queueUrl.split('/').pop() ?? '';
      const queue = this.queues.get(name);
      if (queue) return queue;
    }
    throw new SqsError('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : '';
    let input: Record<string, unknown> = {};
    try {
      const text = await readBody(req);
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) input = parsed as Record<string, unknown>;
    } catch {
      input = {};
    }
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID(), ...headers });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method !== 'POST' || !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.0')) {
        throw new SqsError('InvalidAction', 'InvalidAction', 'expected POST with application/x-amz-json-1.0');
      }
      const faultAt = this.faults.findIndex((f) => f.action === action);
      if (faultAt >= 0) {
        const [fault] = this.faults.splice(faultAt, 1);
        if (fault) throw new SqsError(fault.type, fault.queryCode, 'injected fault', fault.status);
      }
      const output = await this.dispatch(action, input, res);
      this.requests.push({ action, input, at: Date.now() });
      reply(200, output);
    } catch (error) {
      const e = error instanceof SqsError ? error : new SqsError('InternalError', 'InternalError', String(error), 500);
      this.requests.push({ action, input, at: Date.now(), error: e.type });
      reply(e.status, { __type: `com.amazonaws.sqs#${e.type}`, message: e.message }, { 'x-amzn-query-error': `${e.queryCode};${e.status >= 500 ? 'Receiver' : 'Sender'}` });
    }
  }

  private async dispatch(action: string, input: Record<string, unknown>, res: ServerResponse): Promise<unknown> {
    switch (action) {
      case 'CreateQueue': {
        if (typeof input.QueueName !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(input.QueueName)) throw new SqsError('InvalidParameterValue', 'InvalidParameterValue', 'bad QueueName');
        const attributes = (input.Attributes ?? {}) as Record<string, string>;
        const visibility = attributes.VisibilityTimeout !== undefined ? Number(attributes.VisibilityTimeout) : 30;
        return { QueueUrl: this.createQueue(input.QueueName, visibility) };
      }
      case 'GetQueueUrl': {
        const queue = this.queues.get(String(input.QueueName));
        if (!queue) throw new SqsError('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
        return { QueueUrl: queue.url };
      }
      case 'SendMessage': {
        if (typeof input.MessageBody !== 'string' || input.MessageBody === '') throw new SqsError('InvalidParameterValue', 'InvalidParameterValue', 'MessageBody is required');
        const messageId = this.send(String(input.QueueUrl), input.MessageBody);
        return { MessageId: messageId, MD5OfMessageBody: md5(input.MessageBody) };
      }
      case 'ReceiveMessage':
        return this.receive(input, res);
      case 'DeleteMessage': {
        const queue = this.queueByUrl(input.QueueUrl);
        const handle = typeof input.ReceiptHandle === 'string' ? input.ReceiptHandle : '';
        const message = queue.messages.find((m) => m.receiptHandle === handle);
        if (message) {
          message.deletedAt ??= Date.now();
          return {};
        }
        if (!handle.startsWith('fake-rh-')) throw new SqsError('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 'The input receipt handle is invalid.');
        // An older receipt handle of a message received again since: accepted, nothing deleted.
        return {};
      }
      case 'ChangeMessageVisibility': {
        const queue = this.queueByUrl(input.QueueUrl);
        const handle = typeof input.ReceiptHandle === 'string' ? input.ReceiptHandle : '';
        const seconds = Number(input.VisibilityTimeout);
        if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) throw new SqsError('InvalidParameterValue', 'InvalidParameterValue', 'VisibilityTimeout must be 0 to 43200');
        const message = queue.messages.find((m) => m.receiptHandle === handle && m.deletedAt === undefined);
        if (!handle.startsWith('fake-rh-')) throw new SqsError('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 'The input receipt handle is invalid.');
        if (!message || message.visibleAt <= Date.now()) throw new SqsError('MessageNotInflight', 'AWS.SimpleQueueService.MessageNotInflight', 'The message referred to is not in flight.');
        message.visibleAt = Date.now() + seconds * 1000;
        if (seconds === 0) this.wake();
        return {};
      }
      default:
        throw new SqsError('InvalidAction', 'InvalidAction', `unsupported action ${JSON.stringify(action)}`);
    }
  }

  private async receive(input: Record<string, unknown>, res: ServerResponse): Promise<unknown> {
    const queue = this.queueByUrl(input.QueueUrl);
    const max = input.MaxNumberOfMessages === undefined ? 1 : Number(input.MaxNumberOfMessages);
    if (!Number.isInteger(max) || max < 1 || max > 10) throw new SqsError('InvalidParameterValue', 'InvalidParameterValue', 'MaxNumberOfMessages must be 1 to 10');
    const waitSeconds = input.WaitTimeSeconds === undefined ? 0 : Number(input.WaitTimeSeconds);
    if (!Number.isInteger(waitSeconds) || waitSeconds < 0 || waitSeconds > 20) throw new SqsError('InvalidParameterValue', 'InvalidParameterValue', 'WaitTimeSeconds must be 0 to 20');
    const visibilitySeconds = input.VisibilityTimeout === undefined ? queue.visibilityTimeoutSeconds : Number(input.VisibilityTimeout);
    const list = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
    const names = [...list(input.MessageSystemAttributeNames), ...list(input.AttributeNames)];
    const wants = (name: string): boolean => names.includes('All') || names.includes(name);
    const deadline = Date.now() + Math.min(waitSeconds * 1000, this.maxWaitMs);
    const take = (): FakeMessage[] => {
      const now = Date.now();
      return queue.messages.filter((m) => m.deletedAt === undefined && m.visibleAt <= now).slice(0, max);
    };
    let taken = take();
    let isGone = false;
    res.once('close', () => (isGone = true));
    while (taken.length === 0 && !this.closed && !isGone && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        // Wake on a new or released message, else re-check soon (visibility timeouts expire silently).
        const timer = setTimeout(done, Math.max(1, Math.min(25, deadline - Date.now())));
        this.waiters.add(done);
      });
      taken = take();
    }
    if (isGone || this.closed) return {};
    const now = Date.now();
    const messages = taken.map((m) => {
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibilitySeconds * 1000;
      m.receiptHandle = `fake-rh-${randomUUID()}`;
      const attributes: Record<string, string> = {};
      if (wants('ApproximateReceiveCount')) attributes.ApproximateReceiveCount = String(m.receiveCount);
      if (wants('SentTimestamp')) attributes.SentTimestamp = String(m.sentAt);
      if (wants('ApproximateFirstReceiveTimestamp')) attributes.ApproximateFirstReceiveTimestamp = String(m.firstReceivedAt);
      return { MessageId: m.messageId, ReceiptHandle: m.receiptHandle, MD5OfBody: md5(m.body), Body: m.body, ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}) };
    });
    return messages.length > 0 ? { Messages: messages } : {};
  }
}

/** A fake that started, or why it did not. */
export type Availability<T> = { readonly ok: true; readonly service: T } | { readonly ok: false; readonly reason: string };

/**
 * Start a fake for a network test. When it cannot start, the tests that need it skip with the
 * reason, unless `TRAILHOUND_REQUIRE_SERVICES=1`, in which case starting fails the suite.
 */
export async function tryStart<T>(name: string, start: () => Promise<T>): Promise<Availability<T>> {
  try {
    return { ok: true, service: await start() };
  } catch (error) {
    const reason = `${name} could not start (${error instanceof Error ? error.message : String(error)}); set TRAILHOUND_REQUIRE_SERVICES=1 to make this a failure`;
    if (process.env.TRAILHOUND_REQUIRE_SERVICES === '1') throw new Error(`${name} is required (TRAILHOUND_REQUIRE_SERVICES=1) but could not start`, { cause: error });
    return { ok: false, reason };
  }
}

// ---------------------------------------------------------------------------------------------
// Message bodies as AWS writes them (shapes from the S3, SNS, EventBridge and CloudTrail docs),
// for tests of the notification parser and of the SQS source.

/** S3's form encoding of keys in event notifications: `%xx` escapes, a space as `+`, `/` kept. */
export const s3EncodeKey = (key: string): string => encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');

export interface S3EventRecordSpec {
  readonly bucket: string;
  readonly key: string;
  readonly eventName?: string;
  readonly size?: number;
  readonly eTag?: string;
}

/** An S3 event notification (event structure version 2.1), as S3 sends it to SQS or SNS. */
export function s3EventNotification(records: readonly S3EventRecordSpec[]): Record<string, unknown> {
  return {
    Records: records.map((r) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '2023-07-10T11:45:31.512Z',
      eventName: r.eventName ?? 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:AROAEXAMPLEROLEID:regionalDeliverySession' },
      requestParameters: { sourceIPAddress: '10.0.12.34' },
      responseElements: { 'x-amz-request-id': 'C3D13FE58DE4C810', 'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'trailhound-new-logs',
        bucket: { name: r.bucket, ownerIdentity: { principalId: 'A3NL1KOZZKExample' }, arn: `arn:aws:s3:::${r.bucket}` },
        object: { key: s3EncodeKey(r.key), size: r.size ?? 2412, eTag: r.eTag ?? 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '0064ABE0DB1F7E5A2C' },
      },
    })),
  };
}

/** What SNS puts in an SQS body when raw message delivery is off. */
export function snsEnvelope(message: unknown, subject = 'Amazon S3 Notification'): Record<string, unknown> {
  return {
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-east-1:218007301253:trail-notifications',
    Subject: subject,
    Message: typeof message === 'string' ? message : JSON.stringify(message),
    Timestamp: '2023-07-10T11:45:32.001Z',
    SignatureVersion: '1',
    Signature: 'EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=',
    SigningCertURL: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem',
    UnsubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:218007301253:trail-notifications:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55',
  };
}

/** S3 → EventBridge "Object Created" (or another detail-type), as delivered to an SQS target. */
export function eventBridgeS3Event(bucket: string, key: string, detailType = 'Object Created'): Record<string, unknown> {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': detailType,
    source: 'aws.s3',
    account: '218007301253',
    time: '2023-07-10T11:45:31Z',
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: { version: '0', bucket: { name: bucket }, object: { key, size: 2412, etag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '0064ABE0DB1F7E5A2C' }, 'request-id': 'N4N7GDK58NMKJ12R', requester: '218007301253', 'source-ip-address': '10.0.12.34', reason: 'PutObject' },
  };
}

/** CloudTrail's own notification of delivered log files (the SNS Message, or the body with raw delivery). */
export const cloudTrailNotification = (bucket: string, keys: readonly string[]): Record<string, unknown> => ({ s3Bucket: bucket, s3ObjectKey: keys });

/** What S3 sends once when an event notification is configured. */
export const s3TestEvent = (bucket: string): Record<string, unknown> => ({ Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2023-07-10T11:40:02.089Z', Bucket: bucket, RequestId: '5582815E1AEA5ADF', HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE' });
