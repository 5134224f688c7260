/**
 * The SQS source: long-polls a queue of notifications (S3 event notifications, EventBridge S3
 * events, CloudTrail's SNS notifications; see notifications.ts) and hands the S3 objects each
 * message announces to the caller's `process`.
 *
 * Delivery rules, the point of this file:
 * - a message is deleted only after `process` resolved for it (its objects read and their signals
 *   delivered): a crash at any point leaves it on the queue, to come back after its visibility timeout;
 * - while a message waits or is processed, its visibility is extended (`ChangeMessageVisibility` to
 *   `visibilityTimeoutSeconds`) every `extendVisibilityAfterMs`, so slow work is not handed to
 *   another consumer;
 * - a message `process` rejects (a poison object) or that cannot be understood is reported once
 *   (`onProblem`) and left for the queue's redrive policy: not deleted and not retried here. It comes
 *   back only when its visibility expires (or after `failureBackoffSeconds`, doubled per receive),
 *   so it is never retried in a tight loop; after maxReceiveCount receives SQS moves it to the DLQ;
 * - ignorable messages (the S3 test event, `CloudTrail validation message.`, SNS subscription
 *   messages, notifications of digest files only) are deleted;
 * - when `signal` aborts: no new receive, messages not yet started are released (visibility 0),
 *   started ones get `drainTimeoutMs` to finish; those still running then are left on the queue and
 *   their `process` signal is aborted.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Message, SQSClientConfig } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import type { IgnoreReason, Notification, S3ObjectRef } from './notifications.js';
import { parseNotification } from './notifications.js';

/** SQS's ceiling on a visibility timeout. */
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_RECEIVE_BACKOFF_MS = 30_000;

export const sqsSourceOptionsSchema = z.strictObject({
  queueUrl: z.url(),
  /** Long-poll wait of each ReceiveMessage (0 to 20 s). */
  waitTimeSeconds: z.number().int().min(0).max(20).default(20),
  /** MaxNumberOfMessages of each ReceiveMessage (1 to 10). */
  maxMessages: z.number().int().min(1).max(10).default(10),
  /** Asked for on receive and on every extension. */
  visibilityTimeoutSeconds: z.number().int().min(1).max(MAX_VISIBILITY_SECONDS).default(300),
  /** How long a message may wait or run before its visibility is extended (default: half the timeout). */
  extendVisibilityAfterMs: z.number().int().min(1).optional(),
  /**
   * When set, a failed or unreadable message is made visible again after this many seconds, doubled
   * per receive (capped at 12 h); when unset its visibility is left to expire.
   */
  failureBackoffSeconds: z.number().int().min(0).max(MAX_VISIBILITY_SECONDS).optional(),
  /** Messages of one receive processed at the same time. */
  concurrency: z.number().int().min(1).max(10).default(1),
  drainTimeoutMs: z.number().int().nonnegative().default(10_000),
  /** First wait after a failed receive; doubles up to 30 s, resets after a good one. */
  receiveErrorBackoffMs: z.number().int().min(1).default(1_000),
  /** Used only when no client is injected. */
  region: z.string().min(1).optional(),
  endpoint: z.url().optional(),
});

export type SqsSourceOptions = z.input<typeof sqsSourceOptionsSchema>;
export type ResolvedSqsSourceOptions = z.output<typeof sqsSourceOptionsSchema>;

/** Check an options object; unknown keys and bad values are a `UsageError` naming each problem. */
export function parseSqsSourceOptions(input: unknown): ResolvedSqsSourceOptions {
  const parsed = sqsSourceOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new UsageError(`invalid SQS source options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
}

export interface SqsClientOptions {
  readonly region?: string;
  readonly endpoint?: string;
  readonly credentials?: SQSClientConfig['credentials'];
}

/** An SQS client with the standard credential chain (unless `credentials` is given). */
export function createSqsClient(options: SqsClientOptions = {}): SQSClient {
  return new SQSClient({
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  });
}

/** One received message, as `process` and the callbacks see it. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  readonly receiveCount: number;
  readonly body: string;
  /** Epoch ms. */
  readonly receivedAt: number;
}

/**
 * Read and deliver the objects of one message. Resolve only when all of them are processed and
 * their signals delivered; reject to leave the message on the queue. `signal` aborts when the drain
 * deadline passes.
 */
export type ProcessObjects = (objects: readonly S3ObjectRef[], message: ReceivedMessage, signal: AbortSignal) => Promise<void>;

export type SqsProblemCode = 'E_SQS_RECEIVE' | 'E_SQS_MESSAGE' | 'E_SQS_PROCESS' | 'E_SQS_DELETE' | 'E_SQS_VISIBILITY' | 'E_SQS_DRAIN';

export interface SqsProblem {
  readonly code: SqsProblemCode;
  /** The queue URL. */
  readonly source: string;
  readonly messageId?: string;
  readonly receiveCount?: number;
  /** One line. Parts of message bodies in it are escaped. */
  readonly message: string;
  readonly cause?: unknown;
}

export interface SqsSourceDependencies {
  /** Default: `createSqsClient` with the options' region and endpoint. */
  readonly client?: SQSClient;
  readonly process: ProcessObjects;
  readonly onProblem?: (problem: SqsProblem) => void;
  /** Called for each ignorable message, before it is deleted. */
  readonly onIgnored?: (reason: IgnoreReason, message: ReceivedMessage) => void;
  readonly now?: () => number;
}

export interface SqsSourceStats {
  receives: number;
  received: number;
  /** Deleted after `process` resolved. */
  processed: number;
  /** Deleted without processing (test events, validation messages…). */
  ignored: number;
  /** Left on the queue: `process` rejected. */
  failed: number;
  /** Left on the queue: not a notification this source understands. */
  invalid: number;
  /** ChangeMessageVisibility calls that extended a message. */
  extensions: number;
  /** Messages released unstarted at shutdown. */
  released: number;
  problems: number;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Sleep that ends early (without throwing) when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted
  }
}

interface Tracked {
  readonly message: ReceivedMessage;
  /** Stops the visibility heartbeat. */
  stop(): void;
}

export class SqsSource {
  readonly options: ResolvedSqsSourceOptions;
  readonly client: SQSClient;
  readonly stats: SqsSourceStats = { receives: 0, received: 0, processed: 0, ignored: 0, failed: 0, invalid: 0, extensions: 0, released: 0, problems: 0 };
  private readonly process: ProcessObjects;
  private readonly onProblem: (problem: SqsProblem) => void;
  private readonly onIgnored: (reason: IgnoreReason, message: ReceivedMessage) => void;
  private readonly now: () => number;
  private readonly extendAfterMs: number;

  constructor(options: SqsSourceOptions, dependencies: SqsSourceDependencies) {
    this.options = parseSqsSourceOptions(options);
    const o = this.options;
    this.client = dependencies.client ?? createSqsClient({ ...(o.region !== undefined ? { region: o.region } : {}), ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}) });
    this.process = dependencies.process;
    this.onProblem = dependencies.onProblem ?? (() => undefined);
    this.onIgnored = dependencies.onIgnored ?? (() => undefined);
    this.now = dependencies.now ?? Date.now;
    this.extendAfterMs = o.extendVisibilityAfterMs ?? Math.max(1, Math.floor((o.visibilityTimeoutSeconds * 1000) / 2));
  }

  /**
   * Receive and process until `signal` aborts, then drain. Resolves when the source has stopped;
   * never rejects for a queue or message problem (those go to `onProblem`).
   */
  async run(signal: AbortSignal): Promise<void> {
    let backoffMs = this.options.receiveErrorBackoffMs;
    const stopped = new Promise<void>((resolve) => {
      if (isAborted(signal)) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    while (!isAborted(signal)) {
      let messages: Message[];
      try {
        this.stats.receives++;
        const out = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: this.options.maxMessages,
            WaitTimeSeconds: this.options.waitTimeSeconds,
            VisibilityTimeout: this.options.visibilityTimeoutSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
        backoffMs = this.options.receiveErrorBackoffMs;
      } catch (error) {
        if (isAborted(signal)) break;
        this.problem({ code: 'E_SQS_RECEIVE', source: this.options.queueUrl, message: `cannot receive messages: ${describeError(error)}; retrying in ${backoffMs} ms`, cause: error });
        await pause(backoffMs, signal);
        backoffMs = Math.min(MAX_RECEIVE_BACKOFF_MS, backoffMs * 2);
        continue;
      }
      if (messages.length > 0) await this.handleBatch(messages, signal, stopped);
    }
  }

  private async handleBatch(messages: readonly Message[], signal: AbortSignal, stopped: Promise<void>): Promise<void> {
    const receivedAt = this.now();
    const queue: Tracked[] = [];
    for (const m of messages) {
      if (m.ReceiptHandle === undefined) continue;
      this.stats.received++;
      const count = Number(m.Attributes?.ApproximateReceiveCount ?? '1');
      const message: ReceivedMessage = { messageId: m.MessageId ?? '', receiptHandle: m.ReceiptHandle, receiveCount: Number.isFinite(count) ? count : 1, body: m.Body ?? '', receivedAt };
      queue.push({ message, stop: this.heartbeat(message) });
    }
    // Aborted when the drain deadline passes, so `process` can stop.
    const work = new AbortController();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < queue.length && !isAborted(signal)) {
        const tracked = queue[next++];
        if (tracked) await this.handleOne(tracked, work.signal);
      }
    };
    const workers = Array.from({ length: Math.min(this.options.concurrency, queue.length) }, () => worker());
    const all = Promise.all(workers);
    const releases: Promise<void>[] = [];
    const onAbort = (): void => {
      // Unstarted messages go back to the queue now rather than after their visibility timeout.
      const unstarted = queue.slice(next);
      next = queue.length;
      for (const tracked of unstarted) {
        tracked.stop();
        this.stats.released++;
        releases.push(this.setVisibility(tracked.message, 0, 'release'));
      }
    };
    if (isAborted(signal)) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (!isAborted(signal)) {
        await Promise.race([all, stopped]);
      }
      if (isAborted(signal)) {
        const deadline = new AbortController();
        const timer = delay(this.options.drainTimeoutMs, 'timeout' as const, { signal: deadline.signal }).catch(() => 'done' as const);
        const outcome = await Promise.race([all.then(() => 'done' as const), timer]);
        deadline.abort();
        if (outcome === 'timeout') {
          work.abort();
          for (const tracked of queue) tracked.stop();
          this.problem({ code: 'E_SQS_DRAIN', source: this.options.queueUrl, message: `messages still in progress after the ${this.options.drainTimeoutMs} ms drain deadline are left on the queue` });
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.all(releases);
    }
  }

  private async handleOne(tracked: Tracked, workSignal: AbortSignal): Promise<void> {
    const { message } = tracked;
    const notification: Notification = parseNotification(message.body);
    try {
      switch (notification.kind) {
        case 'invalid':
          this.stats.invalid++;
          this.problem({ code: 'E_SQS_MESSAGE', source: this.options.queueUrl, messageId: message.messageId, receiveCount: message.receiveCount, message: `${notification.message}; the message is left for the queue's redrive policy` });
          await this.backOff(tracked);
          return;
        case 'ignored':
          this.stats.ignored++;
          this.onIgnored(notification.reason, message);
          await this.delete(tracked);
          return;
        case 'objects':
          try {
            await this.process(notification.objects, message, workSignal);
          } catch (error) {
            if (workSignal.aborted) return;
            this.stats.failed++;
            this.problem({ code: 'E_SQS_PROCESS', source: this.options.queueUrl, messageId: message.messageId, receiveCount: message.receiveCount, message: `processing failed (receive ${message.receiveCount}): ${describeError(error)}; the message is left for the queue's redrive policy`, cause: error });
            await this.backOff(tracked);
            return;
          }
          if (await this.delete(tracked)) this.stats.processed++;
          return;
      }
    } finally {
      tracked.stop();
    }
  }

  /** Extend the message's visibility every `extendAfterMs` until stopped. */
  private heartbeat(message: ReceivedMessage): () => void {
    const timer = setInterval(() => {
      this.stats.extensions++;
      void this.setVisibility(message, this.options.visibilityTimeoutSeconds, 'extend');
    }, this.extendAfterMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async backOff(tracked: Tracked): Promise<void> {
    tracked.stop();
    const base = this.options.failureBackoffSeconds;
    if (base === undefined) return;
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, base * 2 ** Math.min(30, Math.max(0, tracked.message.receiveCount - 1)));
    await this.setVisibility(tracked.message, seconds, 'back off');
  }

  private async delete(tracked: Tracked): Promise<boolean> {
    tracked.stop();
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: tracked.message.receiptHandle }));
      return true;
    } catch (error) {
      this.problem({ code: 'E_SQS_DELETE', source: this.options.queueUrl, messageId: tracked.message.messageId, receiveCount: tracked.message.receiveCount, message: `cannot delete a processed message, it will be delivered again: ${describeError(error)}`, cause: error });
      return false;
    }
  }

  private async setVisibility(message: ReceivedMessage, seconds: number, why: string): Promise<void> {
    try {
      await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: message.receiptHandle, VisibilityTimeout: seconds }));
    } catch (error) {
      this.problem({ code: 'E_SQS_VISIBILITY', source: this.options.queueUrl, messageId: message.messageId, receiveCount: message.receiveCount, message: `cannot ${why} the message's visibility (${seconds} s): ${describeError(error)}`, cause: error });
    }
  }

  private problem(problem: SqsProblem): void {
    this.stats.problems++;
    this.onProblem(problem);
  }
}
