/**
 * Write one file of the benchmark corpus: a gzipped CloudTrail log file `{"Records":[…]}` holding
 * the ordinary traffic of one account and region for 5 minutes, in time order, with the file's
 * planted records merged in. Streams to disk in 1 MiB pieces, so memory stays bounded whatever the
 * file size. The same spec always gives the same bytes.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { ec2CallJson, isFlagshipCall, isoSeconds } from './ec2-calls.js';
import type { Ec2Call } from './ec2-calls.js';
import { identityPool } from './identities.js';
import type { IdentityPool } from './identities.js';
import type { FileSpec } from './plan.js';
import { Rng } from './rng.js';
import { CATEGORY_WEIGHTS, ERROR_SHARE, loadTemplates, renderTemplate, SLOT, SLOT_COUNT } from './templates.js';
import type { TemplateLibrary } from './templates.js';

export interface FileResult {
  readonly index: number;
  readonly relPath: string;
  readonly records: number;
  readonly uncompressedBytes: number;
  readonly gzipBytes: number;
  /** Failed calls (records with `errorCode`). */
  readonly failedCalls: number;
  /** eventIDs of ordinary records the flagship filter selects (the instance scheduler's Stop and Start). */
  readonly flagshipCallIds: readonly string[];
}

export interface WriterContext {
  readonly library: TemplateLibrary;
  readonly pools: Map<string, IdentityPool>;
  readonly buckets: Map<string, readonly string[]>;
}

export function createWriterContext(library: TemplateLibrary = loadTemplates()): WriterContext {
  return { library, pools: new Map(), buckets: new Map() };
}

/** Share of ordinary records that are the instance scheduler's Stop / Start, and Terraform's attribute changes. */
const SCHEDULER_SHARE = 0.0006;
const TERRAFORM_SHARE = 0.0004;
const FLUSH_CHARS = 1 << 20;

const BUCKET_PURPOSES = ['data-lake', 'exports', 'artifacts', 'logs', 'backups', 'uploads'];
const KEY_PREFIXES = ['raw/events', 'exports/daily', 'builds', 'AWSLogs/elb', 'backups/postgres', 'uploads/images'];
const KEY_EXTENSIONS = ['parquet', 'json.gz', 'zip', 'log.gz', 'dump', 'jpg'];

function poolOf(ctx: WriterContext, spec: FileSpec): IdentityPool {
  let pool = ctx.pools.get(spec.account);
  if (!pool) ctx.pools.set(spec.account, (pool = identityPool(spec.corpusSeed, spec.account, spec.baseMs)));
  return pool;
}

function bucketsOf(ctx: WriterContext, spec: FileSpec): readonly string[] {
  let buckets = ctx.buckets.get(spec.account);
  if (!buckets) {
    const rng = new Rng(`${spec.corpusSeed}:buckets:${spec.account}`);
    buckets = BUCKET_PURPOSES.map((purpose) => `${rng.pick(['acme', 'corp', 'team', 'prod', 'shared'])}-${purpose}-${spec.account}`);
    ctx.buckets.set(spec.account, buckets);
  }
  return buckets;
}

/** One ordinary record, serialised; `failed` tells whether it is a failed call. */
function noiseRecord(ctx: WriterContext, spec: FileSpec, rng: Rng, timeMs: number, values: string[], flagshipIds: string[]): { json: string; failed: boolean } {
  const roll = rng.float();
  if (roll < SCHEDULER_SHARE + TERRAFORM_SHARE) {
    const pool = poolOf(ctx, spec);
    const isScheduler = roll < SCHEDULER_SHARE;
    const caller = isScheduler ? pool.scheduler : pool.terraform;
    const call: Ec2Call = isScheduler ? rng.pick(['stop', 'start'] as const) : rng.pick(['modify-termination', 'modify-other-attribute'] as const);
    const count = isScheduler ? rng.int(1, 3) : 1;
    const eventId = rng.uuid();
    const json = ec2CallJson(
      {
        call,
        account: spec.account,
        region: spec.region,
        instanceIds: Array.from({ length: count }, () => `i-0${rng.hex(16)}`),
        identityJson: caller.json,
        sourceIp: caller.sourceIp,
        userAgent: caller.userAgent,
        timeMs,
        eventId,
        requestId: rng.uuid(),
      },
      ctx.library,
    );
    if (isFlagshipCall(JSON.parse(json))) flagshipIds.push(eventId);
    return { json, failed: false };
  }
  const category = rng.weighted(CATEGORY_WEIGHTS);
  const bucket = ctx.library.categories.get(category);
  if (!bucket) throw new Error(`no templates for ${category}`);
  const failed = bucket.failed.length > 0 && rng.chance(ERROR_SHARE);
  const template = rng.pick(failed ? bucket.failed : bucket.ok);
  if (template.hasCallerSlot) {
    const caller = poolOf(ctx, spec).pick(rng);
    values[SLOT.identity] = template.invokedBy === undefined ? caller.json : `${caller.json.slice(0, -1)},"invokedBy":${JSON.stringify(template.invokedBy)}}`;
    values[SLOT.sourceIp] = caller.sourceIp;
    values[SLOT.userAgent] = caller.userAgent;
  }
  values[SLOT.time] = isoSeconds(timeMs);
  values[SLOT.eventId] = rng.uuid();
  values[SLOT.requestId] = template.requestIdForm === 'short' ? rng.upperId(16) : rng.uuid();
  values[SLOT.sharedEventId] = rng.uuid();
  if (category === 's3-data') {
    values[SLOT.bucket] = rng.pick(bucketsOf(ctx, spec));
    const day = isoSeconds(timeMs).slice(0, 10).replaceAll('-', '/');
    values[SLOT.objectKey] = `${rng.pick(KEY_PREFIXES)}/${day}/part-${rng.digits(5)}-${rng.hex(8)}.${rng.pick(KEY_EXTENSIONS)}`;
  }
  return { json: renderTemplate(template, values), failed };
}

/** Write the file of `spec` under `root` (through a temporary name, so a half-written file never has the final name). */
export async function writeCorpusFile(spec: FileSpec, root: string, ctx: WriterContext): Promise<FileResult> {
  const rng = new Rng(spec.seed);
  const noiseCount = spec.records - spec.planted.length;
  const times = new Float64Array(noiseCount);
  for (let i = 0; i < noiseCount; i++) times[i] = spec.slotStartMs + rng.int(0, 299_999);
  times.sort();

  const path = join(root, spec.relPath);
  const partial = `${path}.partial`;
  await mkdir(dirname(path), { recursive: true });
  const gzip = createGzip({ level: 6 });
  const written = pipeline(gzip, createWriteStream(partial));
  // A write error surfaces through `written`; keep it from being reported as unhandled while we write.
  written.catch(() => undefined);

  const values = new Array<string>(SLOT_COUNT).fill('');
  values[SLOT.account] = spec.account;
  values[SLOT.region] = spec.region;
  const flagshipCallIds: string[] = [];
  let failedCalls = 0;
  let uncompressedBytes = 0;
  let text = '{"Records":[';
  let first = true;
  let p = 0;
  const push = async (json: string) => {
    text += first ? json : `,${json}`;
    first = false;
    if (text.length >= FLUSH_CHARS) {
      uncompressedBytes += Buffer.byteLength(text);
      if (!gzip.write(text)) await once(gzip, 'drain');
      text = '';
    }
  };
  for (let i = 0; i < noiseCount; i++) {
    const timeMs = times[i] ?? spec.slotStartMs;
    for (let next = spec.planted[p]; next !== undefined && next.timeMs <= timeMs; next = spec.planted[++p]) await push(next.json);
    const record = noiseRecord(ctx, spec, rng, timeMs, values, flagshipCallIds);
    if (record.failed) failedCalls++;
    await push(record.json);
  }
  for (let next = spec.planted[p]; next !== undefined; next = spec.planted[++p]) await push(next.json);
  text += ']}';
  uncompressedBytes += Buffer.byteLength(text);
  gzip.end(text);
  await written;
  await rename(partial, path);
  const gzipBytes = (await stat(path)).size;
  failedCalls += spec.planted.filter((r) => r.json.includes('"errorCode"')).length;
  return { index: spec.index, relPath: spec.relPath, records: spec.records, uncompressedBytes, gzipBytes, failedCalls, flagshipCallIds };
}
