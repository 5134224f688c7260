/**
 * Test support: `trailhound serve` run in-process through `runServeCommand` (the CLI's own code
 * path, without argv parsing), on 127.0.0.1 with an ephemeral port, stopped with an AbortSignal as
 * SIGTERM would stop it; and the request bodies AWS senders post.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { runServeCommand } from '../../src/cli/serve-command.js';
import type { ServeFlags } from '../../src/cli/serve-command.js';
import type { LiveRuntimeHooks } from '../../src/pipeline/live.js';
import type { Rec } from './detect.js';

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

export const FIREHOSE_KEY = 'firehose-key-0123456789abcdef';
export const BEARER_TOKEN = 'bearer-token-0123456789abcdef';

export interface RunningServe {
  readonly url: string;
  /** What the command wrote on stderr so far. */
  err(): string;
  /** Stops it as SIGTERM does; resolves with the exit code. */
  stop(): Promise<number>;
}

/** Starts `serve` with both routes on (secrets from the environment), the given state and sink. */
export async function startServe(options: { readonly state: string; readonly sink: string; readonly extra?: Partial<ServeFlags>; readonly hooks?: LiveRuntimeHooks }): Promise<RunningServe> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = new Capture();
  const controller = new AbortController();
  let resolveReady: (url: string) => void = () => undefined;
  const ready = new Promise<string>((resolve) => {
    resolveReady = resolve;
  });
  const flags: ServeFlags = { defaultRules: true, listen: '127.0.0.1:0', state: options.state, sink: [`jsonl:${options.sink}`], quiet: false, ...options.extra };
  const done = runServeCommand(flags, { stdout, stderr, stdin: stdin as unknown as NodeJS.ReadableStream }, {
    signal: controller.signal,
    isHandlingSignals: false,
    env: { TRAILHOUND_FIREHOSE_ACCESS_KEYS: FIREHOSE_KEY, TRAILHOUND_BEARER_TOKENS: BEARER_TOKEN },
    onReady: (info) => resolveReady(info.listen ?? ''),
    ...(options.hooks !== undefined ? { hooks: options.hooks } : {}),
  });
  const url = await Promise.race([ready, done.then((code) => Promise.reject(new Error(`serve exited with ${code}: ${stderr.text}`)))]);
  return {
    url,
    err: () => stderr.text,
    async stop() {
      controller.abort();
      return done;
    },
  };
}

/** One Firehose HTTP endpoint request (the body Firehose posts), each payload base64-encoded. */
export function firehoseBody(requestId: string, payloads: readonly (string | Buffer)[]): string {
  return JSON.stringify({ requestId, timestamp: Date.now(), records: payloads.map((p) => ({ data: Buffer.from(p).toString('base64') })) });
}

export async function postFirehose(url: string, requestId: string, payloads: readonly (string | Buffer)[], options: { readonly isGzipped?: boolean; readonly key?: string } = {}): Promise<{ status: number; body: unknown }> {
  const text = firehoseBody(requestId, payloads);
  const response = await fetch(`${url}/intake/firehose`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Amz-Firehose-Request-Id': requestId,
      'X-Amz-Firehose-Access-Key': options.key ?? FIREHOSE_KEY,
      ...(options.isGzipped === true ? { 'Content-Encoding': 'gzip' } : {}),
    },
    body: options.isGzipped === true ? gzipSync(text) : text,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json() };
}

export async function postCloudTrail(url: string, body: string, token = BEARER_TOKEN): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/intake/cloudtrail`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json() };
}

/** A CloudWatch Logs subscription DATA_MESSAGE (gzipped) whose log events are the records, as CloudWatch Logs hands it to Firehose. */
export function cloudWatchPayload(records: readonly Rec[]): Buffer {
  return gzipSync(
    JSON.stringify({
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: 'aws-cloudtrail-logs-123456789012',
      logStream: '123456789012_CloudTrail_us-east-1',
      subscriptionFilters: ['trailhound'],
      logEvents: records.map((r, i) => ({ id: String(37_000_000_000_000 + i), timestamp: Date.parse(String(r.eventTime)), message: JSON.stringify(r) })),
    }),
  );
}

/** An EventBridge "AWS API Call via CloudTrail" event carrying the record, as an API destination posts it. */
export function eventBridgeEvent(record: Rec): string {
  return JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': 'AWS API Call via CloudTrail',
    source: `aws.${typeof record.eventSource === 'string' ? (record.eventSource.split('.')[0] ?? 'ec2') : 'ec2'}`,
    account: '123456789012',
    time: record.eventTime,
    region: record.awsRegion ?? 'us-east-1',
    resources: [],
    detail: record,
  });
}

/** The value of one sample of the Prometheus text (labels as written), or undefined. */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
