/**
 * The S3 source: finds new CloudTrail log objects under `s3://bucket/prefix` by listing, and opens
 * them. It knows the CloudTrail layout
 * `<prefix>/AWSLogs/[o-<org>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` and lists only what a
 * pass needs:
 *
 * 1. the layout (every `layoutRefreshMs`): the account folders (through `o-…` organisation folders
 *    too) and their region folders, with `Delimiter: '/'`, filtered by `accounts` and `regions`;
 * 2. the date folders from the scan start on: named directly when the range is a few days, else found
 *    by listing the year, month and day folders with `Delimiter` and keeping those in range;
 * 3. the objects of those date folders, day by day across all regions and accounts (paged with
 *    `ContinuationToken`), each yielded once, oldest file stamp first.
 *
 * The first pass starts at `sinceEpochMs` (default: when the first pass starts). A file is kept when
 * the delivery stamp in its name (`…_20240801T1205Z_…`, else LastModified) is not before `since`:
 * every event at or after `since` is in such a file, because a file is delivered after its events.
 * Later passes list the date folders from `overlapMs` before the previous pass started. What was
 * yielded is remembered (bounded: forgotten once its date folder leaves the scan, and at most
 * `maxRememberedKeys`); the caller's `isDone` predicate (the checkpoint store) covers the rest, so a
 * restart re-yields nothing that was finished. A pass that failed to list anything does not move the
 * scan start, so nothing is skipped. Gunzip and parsing are the caller's job (`open` gives the bytes).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { UsageError, TrailhoundError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';
import type { S3ObjectRef } from './notifications.js';
import { cloudTrailObjectKind, parseCloudTrailKey, stripQuotes } from './notifications.js';

const DAY_MS = 86_400_000;
/** How far ahead of our clock the date folders are listed, for a clock a little behind S3's. */
const CLOCK_SKEW_MS = 15 * 60_000;
/** Ranges up to this many days name their date folders directly instead of listing year/month/day. */
const DIRECT_DAYS = 3;
/** File stamps are truncated to the minute. */
const STAMP_RESOLUTION_MS = 60_000;

const ACCOUNT_ID = /^\d{12}$/;
const ORG_ID = /^o-[a-z0-9]{10,32}$/;

export const s3SourceOptionsSchema = z.strictObject({
  bucket: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/, 'not an S3 bucket name'),
  /** The trail's S3 key prefix (`team` or `team/`); may go deeper into the layout (`…/AWSLogs/123456789012/`). */
  prefix: z.string().default(''),
  accounts: z.array(z.string().regex(ACCOUNT_ID, 'an account id has 12 digits')).min(1).optional(),
  /** Region names are matched as written, not checked against a list (new and test regions exist). */
  regions: z.array(z.string().regex(/^[a-z0-9-]+$/, 'not a region name')).min(1).optional(),
  sinceEpochMs: z.number().int().nonnegative().optional(),
  pollIntervalMs: z.number().int().min(10).default(60_000),
  /** `MaxKeys` of each listing request (S3 returns at most 1000). */
  pageSize: z.number().int().min(1).max(1000).default(1000),
  overlapMs: z.number().int().nonnegative().default(60 * 60_000),
  /** How often the account and region folders are listed again (new regions appear with their first log). */
  layoutRefreshMs: z.number().int().nonnegative().default(5 * 60_000),
  maxRememberedKeys: z.number().int().min(1).default(200_000),
  /** Used only when no client is injected. */
  region: z.string().min(1).optional(),
  endpoint: z.url().optional(),
  forcePathStyle: z.boolean().default(false),
}).refine((o) => o.layoutRefreshMs + o.pollIntervalMs <= o.overlapMs, {
  message: 'layoutRefreshMs + pollIntervalMs must not exceed overlapMs, or the first files of a newly created account or region folder could be missed',
  path: ['layoutRefreshMs'],
});

/** What the caller writes (defaults applied by `parseS3SourceOptions`). */
export type S3SourceOptions = z.input<typeof s3SourceOptionsSchema>;
export type ResolvedS3SourceOptions = z.output<typeof s3SourceOptionsSchema>;

/** Check an options object; unknown keys and bad values are a `UsageError` naming each problem. */
export function parseS3SourceOptions(input: unknown): ResolvedS3SourceOptions {
  const parsed = s3SourceOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new UsageError(`invalid S3 source options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
}

/** `s3://bucket/prefix` → its parts. */
export function parseS3Url(url: string): { readonly bucket: string; readonly prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) throw new UsageError(`not an S3 URL: ${quoteForMessage(url)} (expected s3://bucket/prefix)`);
  return { bucket: m[1], prefix: m[2] ?? '' };
}

export interface S3ClientOptions {
  readonly region?: string;
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly credentials?: S3ClientConfig['credentials'];
}

/**
 * An S3 client with the standard credential chain (unless `credentials` is given) and checksums only
 * where S3 requires them (local S3 servers and some S3-compatible stores reject the newer defaults).
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return new S3Client({
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A listed object: `etag` without quotes, `lastModified` in epoch ms when S3 gave it. */
export interface S3ListedObject extends S3ObjectRef {
  readonly size: number;
  readonly etag: string;
  readonly lastModified?: number;
}

export type S3SourceProblemCode = 'E_S3_LIST' | 'E_S3_PROCESS';

/** Something that went wrong while watching; the source goes on after it. */
export interface S3SourceProblem {
  readonly code: S3SourceProblemCode;
  /** `s3://bucket/prefix-or-key`. Attacker-influenced: escape it before printing. */
  readonly source: string;
  readonly message: string;
  readonly cause?: unknown;
}

export interface S3SourceDependencies {
  /** Default: `createS3Client` with the options' region, endpoint and forcePathStyle. */
  readonly client?: S3Client;
  /** Wall clock in epoch ms (tests inject one). */
  readonly now?: () => number;
  readonly onProblem?: (problem: S3SourceProblem) => void;
}

/** Whether an object is already finished (from the checkpoint store). */
export type IsObjectDone = (object: S3ListedObject) => boolean | Promise<boolean>;

export interface WatchOptions {
  readonly signal?: AbortSignal;
  readonly isDone?: IsObjectDone;
}

/** Counters the source updates as it goes. */
export interface S3SourceStats {
  passes: number;
  listRequests: number;
  objectsListed: number;
  objectsYielded: number;
  problems: number;
}

interface LogRoot {
  /** `…/CloudTrail/<region>/` */
  readonly prefix: string;
  readonly account: string;
  readonly region: string;
}

interface ListPage {
  readonly objects: readonly S3ListedObject[];
  readonly prefixes: readonly string[];
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
}

function dayPath(day: number): string {
  return `${new Date(day * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '/')}/`;
}

/** A prefix and the user's prefix are compatible when one lies inside the other. */
function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/** Turn an async-iterable or SDK stream body into an async iterable of bytes. */
function asByteStream(body: unknown): AsyncIterable<Uint8Array> | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  if (Symbol.asyncIterator in body && typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') return body as AsyncIterable<Uint8Array>;
  if ('transformToByteArray' in body && typeof body.transformToByteArray === 'function') {
    const read = body.transformToByteArray as () => Promise<Uint8Array>;
    return (async function* () {
      yield await read.call(body);
    })();
  }
  return undefined;
}

/**
 * GetObject and its body as a stream of bytes (still gzipped). Errors are `TrailhoundError`s with
 * code `E_S3_GET` naming the object; `signal` aborts the request and the body.
 */
export async function openS3Object(client: S3Client, object: S3ObjectRef, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  const where = `s3://${object.bucket}/${object.key}`;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key }), signal ? { abortSignal: signal } : {});
    const stream = asByteStream(out.Body);
    if (!stream) throw new Error('the response has no body');
    return stream;
  } catch (error) {
    throw new TrailhoundError('E_S3_GET', `cannot read ${quoteForMessage(where, 300)}: ${describeError(error)}; check that the object exists and that the credentials allow s3:GetObject on it`, { cause: error });
  }
}

export class S3Source {
  readonly options: ResolvedS3SourceOptions;
  readonly client: S3Client;
  readonly stats: S3SourceStats = { passes: 0, listRequests: 0, objectsListed: 0, objectsYielded: 0, problems: 0 };
  private readonly now: () => number;
  private readonly onProblem: (problem: S3SourceProblem) => void;
  /** Everything before `AWSLogs/`. */
  private readonly base: string;
  /** The prefix as given, normalised (what every listed key must start with). */
  private readonly within: string;
  private roots: readonly LogRoot[] | undefined;
  private layoutAt = 0;
  /** Start of the next pass's scan, epoch ms; undefined before the first pass. */
  private scanFrom: number | undefined;
  private since: number | undefined;
  /** key → day index of its date folder, in insertion order (oldest first). */
  private readonly remembered = new Map<string, number>();

  constructor(options: S3SourceOptions, dependencies: S3SourceDependencies = {}) {
    this.options = parseS3SourceOptions(options);
    const o = this.options;
    this.client = dependencies.client ?? createS3Client({ ...(o.region !== undefined ? { region: o.region } : {}), ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}), forcePathStyle: o.forcePathStyle });
    this.now = dependencies.now ?? Date.now;
    this.onProblem = dependencies.onProblem ?? (() => undefined);
    let prefix = o.prefix.replace(/^\/+/, '');
    if (/(^|\/)AWSLogs$/.test(prefix)) prefix = `${prefix}/`;
    const layout = /(^|\/)AWSLogs\//.exec(prefix);
    if (layout) {
      this.base = prefix.slice(0, layout.index + (layout[1]?.length ?? 0));
      this.within = prefix;
    } else {
      this.base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
      this.within = this.base;
    }
    this.since = o.sinceEpochMs;
  }

  /** `s3://bucket/prefix` of this source, for messages. */
  get location(): string {
    return `s3://${this.options.bucket}/${this.within}`;
  }

  /** Open one object (see `openS3Object`). */
  open(object: S3ObjectRef, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    return openS3Object(this.client, object, signal);
  }

  /** Poll until `signal` aborts: one pass, then `pollIntervalMs` of sleep, and so on. */
  async *objects(options: WatchOptions = {}): AsyncGenerator<S3ListedObject> {
    const { signal } = options;
    while (!isAborted(signal)) {
      yield* this.pass(options);
      if (isAborted(signal)) return;
      try {
        await delay(this.options.pollIntervalMs, undefined, signal ? { signal } : {});
      } catch {
        return;
      }
    }
  }

  /**
   * The callback form of `objects`: `handle` is awaited for each object (backpressure). A rejection
   * is reported as `E_S3_PROCESS` and the watch goes on; the object is not offered again by this
   * source (the checkpoint store still has it as not done, so a restart retries it).
   */
  async run(handle: (object: S3ListedObject) => Promise<void>, options: WatchOptions = {}): Promise<void> {
    for await (const object of this.objects(options)) {
      try {
        await handle(object);
      } catch (error) {
        this.problem({ code: 'E_S3_PROCESS', source: `s3://${object.bucket}/${object.key}`, message: `processing failed: ${describeError(error)}`, cause: error });
      }
    }
  }

  /** One listing pass: every new object, oldest date folder first. Ends early when `signal` aborts. */
  async *pass(options: WatchOptions = {}): AsyncGenerator<S3ListedObject> {
    const { signal, isDone } = options;
    const started = this.now();
    this.since ??= started;
    const since = this.since;
    const from = this.scanFrom ?? since;
    this.stats.passes++;
    let isComplete = true;
    if (this.roots === undefined || started - this.layoutAt >= this.options.layoutRefreshMs) {
      try {
        this.roots = await this.discover(signal);
        this.layoutAt = started;
      } catch (error) {
        if (isAbort(error, signal)) return;
        this.problem({ code: 'E_S3_LIST', source: this.location, message: `cannot list the CloudTrail folders: ${describeError(error)}`, cause: error });
        isComplete = false;
        if (this.roots === undefined) return;
      }
    }
    const fromDay = Math.floor(from / DAY_MS);
    const toDay = Math.floor((started + CLOCK_SKEW_MS) / DAY_MS);
    const byDay = new Map<number, LogRoot[]>();
    for (const root of this.roots) {
      let days: number[];
      try {
        days = await this.dayFolders(root, fromDay, toDay, signal);
      } catch (error) {
        if (isAbort(error, signal)) return;
        this.problem({ code: 'E_S3_LIST', source: `s3://${this.options.bucket}/${root.prefix}`, message: `cannot list the date folders: ${describeError(error)}`, cause: error });
        isComplete = false;
        continue;
      }
      for (const day of days) {
        const list = byDay.get(day);
        if (list) list.push(root);
        else byDay.set(day, [root]);
      }
    }
    for (const day of [...byDay.keys()].sort((a, b) => a - b)) {
      const fresh: { object: S3ListedObject; order: number }[] = [];
      for (const root of byDay.get(day) ?? []) {
        const folder = `${root.prefix}${dayPath(day)}`;
        try {
          for await (const page of this.listPages(folder, false, signal)) {
            for (const object of page.objects) {
              this.stats.objectsListed++;
              if (!object.key.startsWith(this.within) || this.remembered.has(object.key) || cloudTrailObjectKind(object.key) !== 'log') continue;
              const stamp = parseCloudTrailKey(object.key)?.fileTime;
              const order = stamp ?? object.lastModified ?? started;
              if (stamp !== undefined ? stamp + STAMP_RESOLUTION_MS <= since : object.lastModified !== undefined && object.lastModified < since) continue;
              fresh.push({ object, order });
            }
          }
        } catch (error) {
          if (isAbort(error, signal)) return;
          this.problem({ code: 'E_S3_LIST', source: `s3://${this.options.bucket}/${folder}`, message: `cannot list the folder: ${describeError(error)}`, cause: error });
          isComplete = false;
        }
      }
      fresh.sort((a, b) => a.order - b.order || (a.object.key < b.object.key ? -1 : a.object.key > b.object.key ? 1 : 0));
      for (const { object } of fresh) {
        if (isAborted(signal)) return;
        const isFinished = isDone !== undefined && (await isDone(object));
        this.remember(object.key, day);
        if (isFinished) continue;
        this.stats.objectsYielded++;
        yield object;
      }
    }
    if (isComplete) this.advance(since, started);
  }

  private advance(since: number, started: number): void {
    this.scanFrom = Math.max(since, started - this.options.overlapMs);
    const firstDay = Math.floor(this.scanFrom / DAY_MS);
    for (const [key, day] of this.remembered) if (day < firstDay) this.remembered.delete(key);
  }

  private remember(key: string, day: number): void {
    this.remembered.delete(key);
    this.remembered.set(key, day);
    while (this.remembered.size > this.options.maxRememberedKeys) {
      const oldest = this.remembered.keys().next();
      if (oldest.done === true) break;
      this.remembered.delete(oldest.value);
    }
  }

  private problem(problem: S3SourceProblem): void {
    this.stats.problems++;
    this.onProblem(problem);
  }

  /** The account and region folders, filtered. */
  private async discover(signal: AbortSignal | undefined): Promise<LogRoot[]> {
    const top = `${this.base}AWSLogs/`;
    const accountFolders: { prefix: string; account: string }[] = [];
    const wantsAccount = (account: string, prefix: string): boolean => ACCOUNT_ID.test(account) && (this.options.accounts?.includes(account) ?? true) && overlaps(prefix, this.within);
    for (const child of await this.childFolders(top, signal)) {
      const name = child.slice(top.length, -1);
      if (!overlaps(child, this.within)) continue;
      if (ORG_ID.test(name)) {
        for (const grandchild of await this.childFolders(child, signal)) {
          const account = grandchild.slice(child.length, -1);
          if (wantsAccount(account, grandchild)) accountFolders.push({ prefix: grandchild, account });
        }
      } else if (wantsAccount(name, child)) {
        accountFolders.push({ prefix: child, account: name });
      }
    }
    const roots: LogRoot[] = [];
    for (const folder of accountFolders) {
      const trail = `${folder.prefix}CloudTrail/`;
      if (!overlaps(trail, this.within)) continue;
      for (const regionFolder of await this.childFolders(trail, signal)) {
        const region = regionFolder.slice(trail.length, -1);
        if (region === '' || !(this.options.regions?.includes(region) ?? true) || !overlaps(regionFolder, this.within)) continue;
        roots.push({ prefix: regionFolder, account: folder.account, region });
      }
    }
    return roots;
  }

  /** The date folders (day indexes) of one region folder between two days, inclusive. */
  private async dayFolders(root: LogRoot, fromDay: number, toDay: number, signal: AbortSignal | undefined): Promise<number[]> {
    if (toDay < fromDay) return [];
    if (toDay - fromDay < DIRECT_DAYS) {
      const days: number[] = [];
      for (let day = fromDay; day <= toDay; day++) if (overlaps(`${root.prefix}${dayPath(day)}`, this.within)) days.push(day);
      return days;
    }
    const from = new Date(fromDay * DAY_MS);
    const to = new Date(toDay * DAY_MS);
    const days: number[] = [];
    for (const yearFolder of await this.childFolders(root.prefix, signal)) {
      const year = Number(yearFolder.slice(root.prefix.length, -1));
      if (!/^\d{4}\/$/.test(yearFolder.slice(root.prefix.length)) || year < from.getUTCFullYear() || year > to.getUTCFullYear() || !overlaps(yearFolder, this.within)) continue;
      for (const monthFolder of await this.childFolders(yearFolder, signal)) {
        const monthText = monthFolder.slice(yearFolder.length);
        const month = Number(monthText.slice(0, -1));
        if (!/^\d{2}\/$/.test(monthText) || month < 1 || month > 12 || !overlaps(monthFolder, this.within)) continue;
        const monthStart = Date.UTC(year, month - 1, 1) / DAY_MS;
        const monthEnd = Date.UTC(year, month, 1) / DAY_MS - 1;
        if (monthEnd < fromDay || monthStart > toDay) continue;
        for (const dayFolder of await this.childFolders(monthFolder, signal)) {
          const dayText = dayFolder.slice(monthFolder.length);
          const dayOfMonth = Number(dayText.slice(0, -1));
          if (!/^\d{2}\/$/.test(dayText) || dayOfMonth < 1) continue;
          const day = monthStart + dayOfMonth - 1;
          if (day > monthEnd || day < fromDay || day > toDay || !overlaps(dayFolder, this.within)) continue;
          days.push(day);
        }
      }
    }
    return days;
  }

  private async childFolders(prefix: string, signal: AbortSignal | undefined): Promise<string[]> {
    const folders: string[] = [];
    for await (const page of this.listPages(prefix, true, signal)) folders.push(...page.prefixes);
    return folders;
  }

  private async *listPages(prefix: string, isDelimited: boolean, signal: AbortSignal | undefined): AsyncGenerator<ListPage> {
    let token: string | undefined;
    do {
      this.stats.listRequests++;
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, MaxKeys: this.options.pageSize, ...(isDelimited ? { Delimiter: '/' } : {}), ...(token !== undefined ? { ContinuationToken: token } : {}) }),
        signal ? { abortSignal: signal } : {},
      );
      const objects: S3ListedObject[] = [];
      for (const entry of out.Contents ?? []) {
        if (entry.Key === undefined) continue;
        objects.push({
          bucket: this.options.bucket,
          key: entry.Key,
          size: entry.Size ?? 0,
          etag: stripQuotes(entry.ETag ?? ''),
          ...(entry.LastModified !== undefined ? { lastModified: entry.LastModified.getTime() } : {}),
        });
      }
      const prefixes = (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix !== undefined ? [p.Prefix] : []));
      yield { objects, prefixes };
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}
