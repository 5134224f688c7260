/**
 * Test support for the intake server: a server on 127.0.0.1 with recording handlers, envelopes built
 * around real CloudTrail records, and a raw HTTP client for uploads that must be cut short.
 * Imported by tests only.
 */
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { InputRecord, ReadDiagnostic } from '../sources/source.js';
import { createIntakeServer } from './intake-server.js';
import type { IntakeHandlers, IntakeRequestContext, IntakeServer } from './intake-server.js';
import type { IntakeServerOptions } from './options.js';

export type Rec = Record<string, unknown>;

export const FIREHOSE_KEY = 'firehose-access-key-0123456789abcdef';
export const BEARER = 'bearer-token-0123456789abcdef';
/** The fixed wall clock of test servers (response timestamps). */
export const NOW = Date.parse('2024-08-01T12:30:00Z');

/** A gate that holds `onRecords` until opened. */
export interface Gate {
  readonly wait: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

export interface TestIntake {
  readonly server: IntakeServer;
  readonly url: string;
  /** Every `onRecords` call, in order. */
  readonly calls: { readonly records: readonly InputRecord[]; readonly context: IntakeRequestContext }[];
  readonly done: Set<string>;
  readonly isDoneCalls: string[];
  readonly problems: ReadDiagnostic[];
  readonly errors: unknown[];
  /** Set to make `onRecords` wait (it is awaited before the records are recorded). */
  hold: Gate | undefined;
  /** Set to make the next `onRecords` calls reject. */
  failure: Error | undefined;
  isReady: boolean;
}

export async function startIntake(options: Partial<IntakeServerOptions> = {}): Promise<TestIntake> {
  const state = {
    calls: [] as TestIntake['calls'][number][],
    done: new Set<string>(),
    isDoneCalls: [] as string[],
    problems: [] as ReadDiagnostic[],
    errors: [] as unknown[],
    hold: undefined as Gate | undefined,
    failure: undefined as Error | undefined,
    isReady: true,
  };
  const handlers: IntakeHandlers = {
    async onRecords(records, context) {
      if (state.hold !== undefined) await state.hold.wait;
      if (state.failure !== undefined) throw state.failure;
      state.calls.push({ records, context });
    },
    isDone(requestId) {
      state.isDoneCalls.push(requestId);
      return Promise.resolve(state.done.has(requestId));
    },
    markDone(requestId) {
      state.done.add(requestId);
      return Promise.resolve();
    },
    onProblem: (problem) => state.problems.push(problem),
    onError: (error) => state.errors.push(error),
    isReady: () => state.isReady,
  };
  const server = createIntakeServer({ firehoseAccessKeys: [FIREHOSE_KEY], bearerTokens: [BEARER], ...options }, handlers, { now: () => NOW });
  const address = await server.listen('127.0.0.1', 0);
  return Object.assign(state, { server, url: `http://127.0.0.1:${address.port}` });
}

/** The eventIDs of the records of every `onRecords` call, flattened. */
export function processedIds(intake: TestIntake): unknown[] {
  return intake.calls.flatMap((c) => c.records.map((r) => (r.value as Rec).eventID));
}

// ---------------------------------------------------------------------------------------------
// Envelopes around real records

/** An EventBridge event as CloudTrail's "AWS API Call via CloudTrail" delivers it. */
export function eventBridgeEvent(record: Rec): Rec {
  return {
    version: '0',
    id: `eb-${String(record.eventID)}`,
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.ec2',
    account: record.recipientAccountId ?? '123456789012',
    time: record.eventTime,
    region: record.awsRegion,
    resources: [],
    detail: record,
  };
}

/** A CloudWatch Logs subscription DATA_MESSAGE with one log event per record. */
export function cloudWatchMessage(records: readonly Rec[]): Rec {
  return {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: 'aws-cloudtrail-logs-123456789012',
    logStream: '123456789012_CloudTrail_us-east-1',
    subscriptionFilters: ['trailhound'],
    logEvents: records.map((r, i) => ({ id: String(36000000000000 + i), timestamp: Date.parse(String(r.eventTime)), message: JSON.stringify(r) })),
  };
}

/** What a CloudWatch Logs subscription hands to Firehose: the message, gzipped. */
export function cloudWatchGzip(records: readonly Rec[]): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(cloudWatchMessage(records))));
}

export function firehoseBody(requestId: string, data: readonly (Buffer | string)[]): string {
  return JSON.stringify({ requestId, timestamp: NOW - 1000, records: data.map((d) => ({ data: (typeof d === 'string' ? Buffer.from(d) : d).toString('base64') })) });
}

export function firehoseHeaders(requestId: string, key = FIREHOSE_KEY): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-amz-firehose-protocol-version': '1.0',
    'x-amz-firehose-request-id': requestId,
    'x-amz-firehose-source-arn': 'arn:aws:firehose:us-east-1:123456789012:deliverystream/trailhound',
    'x-amz-firehose-access-key': key,
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Body bytes the client had written when the response arrived. */
  readonly bytesSent: number;
}

/**
 * POSTs `totalBytes` of `filler` in chunks of `chunkBytes`, one chunk per `intervalMs`, without a
 * Content-Length (chunked), and stops writing as soon as a response arrives.
 */
export function slowUpload(url: string, path: string, headers: Record<string, string>, totalBytes: number, chunkBytes: number, intervalMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const request = httpRequest(`${url}${path}`, { method: 'POST', headers }, (response) => {
      clearTimeout(timer);
      const bytesSent = sent;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, bytesSent }));
      response.on('error', reject);
    });
    // The server closes the connection after refusing: late write errors are expected.
    request.on('error', (error) => reject(error));
    const chunk = Buffer.alloc(chunkBytes, 0x20);
    const writeNext = (): void => {
      if (sent >= totalBytes) {
        request.end();
        return;
      }
      sent += chunk.length;
      request.write(chunk);
      timer = setTimeout(writeNext, intervalMs);
    };
    writeNext();
  });
}
