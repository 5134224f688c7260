/**
 * The sources of `trailhound watch`, each driving the live runtime (live.ts) one unit of work at a
 * time:
 *
 * - S3 listing (`s3://bucket/prefix`): every new object is one step; a poison object is reported and
 *   marked done (a fetch failure is not: a restart retries it). After every pass that listed and
 *   processed everything, the position to resume from after a restart is saved in the state folder
 *   (`watch-position.json`), because the S3 source itself remembers nothing across restarts.
 * - SQS (`sqs://QUEUE-URL`): the objects of one message are one step; the message is deleted only
 *   when the step resolved (signals delivered); a poison object leaves the message for the queue's
 *   redrive policy.
 * - a local folder: every new file (stable over two polls) is one step, poison handled as for S3.
 *
 * `isOnce` processes what is there and returns: one S3 pass; SQS until a receive comes back empty;
 * the folder's files as listed now.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { TrailhoundError } from '../core/errors.js';
import { watchDirectory } from '../sources/dir-watch.js';
import { listInputs } from '../sources/file.js';
import { cloudTrailObjectKind } from '../sources/notifications.js';
import type { S3ObjectRef } from '../sources/notifications.js';
import { createS3Client, openS3Object, S3Source } from '../sources/s3.js';
import type { S3ListedObject } from '../sources/s3.js';
import { createSqsClient, SqsSource } from '../sources/sqs.js';
import type { LiveObject, LiveProblem, LiveRuntime } from './live.js';
import type { WatchTarget } from './live-options.js';

/** Where the S3 watch keeps the position it resumes from after a restart. */
export const WATCH_POSITION_FILE = 'watch-position.json';

export interface WatchRunOptions {
  readonly target: WatchTarget;
  readonly runtime: LiveRuntime;
  /** The state folder (for the S3 resume position). */
  readonly stateDir: string;
  /** Aborting stops the source: no new unit is started; the one under way finishes. */
  readonly signal: AbortSignal;
  readonly isOnce?: boolean;
  /** Default: 60 s for S3, 2 s for a folder. SQS long-polls instead. */
  readonly pollIntervalMs?: number;
  /** S3: start this far back on the first start (epoch ms). */
  readonly sinceEpochMs?: number;
  readonly accounts?: readonly string[];
  readonly regions?: readonly string[];
  readonly region?: string;
  /** S3 endpoint (S3-compatible stores, tests); path-style addressing is used with it. */
  readonly endpoint?: string;
  /** SQS endpoint; default: the queue URL's host. */
  readonly sqsEndpoint?: string;
  readonly visibilityTimeoutSeconds?: number;
  /** How long the SQS source waits for a message under way at shutdown. */
  readonly drainTimeoutMs?: number;
  readonly onProblem: (problem: LiveProblem) => void;
  /** Called once the source is set up and reading. */
  readonly onStarted?: (description: string) => void;
  /** Tests inject clients. */
  readonly s3Client?: S3Client;
  readonly sqsClient?: SQSClient;
  readonly now?: () => number;
}

function describe(error: unknown): string {
  if (error instanceof TrailhoundError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Runs the watch until `signal` aborts (or, with `isOnce`, until what is there is done). */
export async function runWatch(options: WatchRunOptions): Promise<void> {
  switch (options.target.kind) {
    case 's3':
      return watchS3(options, options.target);
    case 'sqs':
      return watchSqs(options, options.target.queueUrl);
    case 'folder':
      return watchFolder(options, options.target.path);
  }
}

function s3ClientOf(options: WatchRunOptions): S3Client {
  return (
    options.s3Client ??
    createS3Client({
      ...(options.region !== undefined ? { region: options.region } : {}),
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    })
  );
}

function s3Object(client: S3Client, ref: S3ObjectRef): LiveObject {
  return {
    done: { source: `s3://${ref.bucket}`, key: ref.key, etag: ref.etag ?? '' },
    location: `s3://${ref.bucket}/${ref.key}`,
    open: () => openS3Object(client, ref),
  };
}

// ---------------------------------------------------------------------------------------------
// The S3 resume position

async function readPositions(stateDir: string): Promise<Record<string, number>> {
  let text: string;
  try {
    text = await readFile(join(stateDir, WATCH_POSITION_FILE), 'utf8');
  } catch {
    return {};
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    const out: Record<string, number> = {};
    for (const [key, ms] of Object.entries(value)) if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) out[key] = ms;
    return out;
  } catch {
    return {};
  }
}

/** Replaces the file atomically (write a temporary file, then rename). */
async function savePosition(stateDir: string, location: string, resumeFromMs: number): Promise<void> {
  const positions = await readPositions(stateDir);
  positions[location] = resumeFromMs;
  await mkdir(stateDir, { recursive: true });
  const temporary = join(stateDir, `.${WATCH_POSITION_FILE}.${randomUUID()}`);
  await writeFile(temporary, `${JSON.stringify(positions, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, join(stateDir, WATCH_POSITION_FILE));
}

/** The position a watch of `location` saved, or undefined. */
export async function loadWatchPosition(stateDir: string, location: string): Promise<number | undefined> {
  return (await readPositions(stateDir))[location];
}

// ---------------------------------------------------------------------------------------------
// S3 listing

async function watchS3(options: WatchRunOptions, target: { readonly bucket: string; readonly prefix: string }): Promise<void> {
  const { runtime, signal } = options;
  const client = s3ClientOf(options);
  const now = options.now ?? Date.now;
  const pollIntervalMs = options.pollIntervalMs ?? 60_000;
  const layoutRefreshMs = 5 * 60_000;
  const overlapMs = Math.max(60 * 60_000, layoutRefreshMs + pollIntervalMs);
  const location = `s3://${target.bucket}/${target.prefix}`;
  const saved = await loadWatchPosition(options.stateDir, location);
  // After a restart, resume where the last complete pass left off (an earlier --since still wins).
  const sinceEpochMs = saved !== undefined ? Math.min(saved, options.sinceEpochMs ?? saved) : options.sinceEpochMs;
  const source = new S3Source(
    {
      bucket: target.bucket,
      prefix: target.prefix,
      ...(options.accounts !== undefined ? { accounts: [...options.accounts] } : {}),
      ...(options.regions !== undefined ? { regions: [...options.regions] } : {}),
      ...(sinceEpochMs !== undefined ? { sinceEpochMs } : {}),
      pollIntervalMs,
      layoutRefreshMs,
      overlapMs,
    },
    {
      client,
      now,
      onProblem: (p) => options.onProblem({ code: p.code, source: p.source, message: p.message }),
    },
  );
  options.onStarted?.(`watching ${location} every ${Math.round(pollIntervalMs / 1000)} s${sinceEpochMs !== undefined ? ` from ${new Date(sinceEpochMs).toISOString()}` : ''}`);
  let since = sinceEpochMs;
  try {
    while (!signal.aborted && runtime.fatalError === undefined) {
      const started = now();
      since ??= started;
      const problemsBefore = source.stats.problems;
      let isComplete = true;
      for await (const object of source.pass({ signal, isDone: (o: S3ListedObject) => runtime.isObjectDone({ source: `s3://${o.bucket}`, key: o.key, etag: o.etag }) })) {
        try {
          const outcome = await runtime.processObjects('s3', [s3Object(client, object)], 'skip');
          if (outcome.poisoned.length > 0 && outcome.processed === 0) {
            // A fetch failure is not done: keep the position so that a restart retries it.
            if (!(await runtime.isObjectDone({ source: `s3://${object.bucket}`, key: object.key, etag: object.etag }))) isComplete = false;
          }
        } catch (error) {
          isComplete = false;
          options.onProblem({ code: 'E_S3_PROCESS', source: `s3://${object.bucket}/${object.key}`, message: `processing failed: ${describe(error)}; it is retried after a restart` });
          if (runtime.fatalError !== undefined) return;
        }
        if (signal.aborted) break;
      }
      if (signal.aborted) break;
      if (isComplete && source.stats.problems === problemsBefore) {
        try {
          await savePosition(options.stateDir, location, Math.max(since, started - overlapMs));
        } catch (error) {
          options.onProblem({ code: 'E_WATCH_POSITION', source: join(options.stateDir, WATCH_POSITION_FILE), message: `cannot save the position to resume from: ${describe(error)}` });
        }
      }
      if (options.isOnce === true) break;
      try {
        await delay(pollIntervalMs, undefined, { signal });
      } catch {
        break;
      }
    }
  } finally {
    if (options.s3Client === undefined) client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// SQS

async function watchSqs(options: WatchRunOptions, queueUrl: string): Promise<void> {
  const { runtime } = options;
  const s3 = s3ClientOf(options);
  const sqs = options.sqsClient ?? createSqsClient({ ...(options.region !== undefined ? { region: options.region } : {}), ...(options.sqsEndpoint !== undefined ? { endpoint: options.sqsEndpoint } : {}) });
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  if (options.signal.aborted) stop.abort();
  else options.signal.addEventListener('abort', onAbort, { once: true });
  const onFatal = (): void => stop.abort();
  void runtime.fatal.then(onFatal);
  const middlewareName = `trailhoundOnce${randomUUID()}`;
  if (options.isOnce === true) {
    // --once: stop at the first receive that comes back empty (the queue has nothing visible left).
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'ReceiveMessageCommand') {
          const output: unknown = result.output;
          const messages = typeof output === 'object' && output !== null && 'Messages' in output ? output.Messages : undefined;
          if (!Array.isArray(messages) || messages.length === 0) stop.abort();
        }
        return result;
      },
      { step: 'initialize', name: middlewareName },
    );
  }
  const source = new SqsSource(
    {
      queueUrl,
      waitTimeSeconds: options.isOnce === true ? 1 : 20,
      ...(options.visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds } : {}),
      ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
    },
    {
      client: sqs,
      process: async (objects) => {
        await runtime.processObjects(
          'sqs',
          objects.map((o) => s3Object(s3, o)),
          'reject',
        );
      },
      onProblem: (p) => options.onProblem({ code: p.code, source: p.messageId !== undefined ? `${p.source} message ${p.messageId}` : p.source, message: p.message }),
    },
  );
  options.onStarted?.(`watching the queue ${queueUrl}`);
  try {
    await source.run(stop.signal);
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    if (options.isOnce === true) sqs.middlewareStack.remove(middlewareName);
    if (options.sqsClient === undefined) sqs.destroy();
    if (options.s3Client === undefined) s3.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// A local folder

function fileObject(root: string, path: string, size: number, mtimeMs: number): LiveObject {
  const absolute = resolve(path);
  const key = relative(root, absolute) || absolute;
  return {
    done: { source: `file://${root}`, key, etag: `${size}-${Math.trunc(mtimeMs)}` },
    location: path,
    open: () => Promise.resolve(createReadStream(path) as AsyncIterable<Uint8Array>),
  };
}

async function watchFolder(options: WatchRunOptions, path: string): Promise<void> {
  const { runtime, signal } = options;
  const root = resolve(path);
  const handle = async (object: LiveObject): Promise<void> => {
    try {
      await runtime.processObjects('file', [object], 'skip');
    } catch (error) {
      options.onProblem({ code: 'E_WATCH_PROCESS', source: object.location, message: `processing failed: ${describe(error)}; it is retried after a restart` });
    }
  };
  if (options.isOnce === true) {
    options.onStarted?.(`reading the files of ${path}`);
    for await (const input of listInputs([path])) {
      if (signal.aborted || runtime.fatalError !== undefined) return;
      if (input.kind === 'unreadable') {
        options.onProblem({ code: input.code, source: input.path, message: input.message });
        continue;
      }
      if (input.kind !== 'file' || input.skip !== undefined || cloudTrailObjectKind(input.path.split('\\').join('/')) !== 'log') continue;
      let info;
      try {
        info = await stat(input.path);
      } catch (error) {
        options.onProblem({ code: 'E_READ_IO', source: input.path, message: describe(error) });
        continue;
      }
      await handle(fileObject(root, input.path, info.size, info.mtimeMs));
    }
    return;
  }
  const pollIntervalMs = options.pollIntervalMs ?? 2_000;
  options.onStarted?.(`watching the folder ${path} every ${pollIntervalMs} ms`);
  const files = watchDirectory(
    { path, pollIntervalMs },
    {
      signal,
      isDone: (file) => {
        const object = fileObject(root, file.path, file.size, file.mtimeMs);
        return runtime.isObjectDone(object.done);
      },
      onProblem: (p) => options.onProblem({ code: p.code, source: p.source, message: p.message }),
    },
  );
  for await (const file of files) {
    await handle(fileObject(root, file.path, file.size, file.mtimeMs));
    if (runtime.fatalError !== undefined) return;
  }
}
