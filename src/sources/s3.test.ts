import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { S3Fake } from '../../test/support/s3-fake.js';
import type { Availability } from '../../test/support/sqs-fake.js';
import { tryStart } from '../../test/support/sqs-fake.js';
import type { S3ListedObject, S3SourceOptions, S3SourceProblem } from './s3.js';
import { S3Source, parseS3SourceOptions, parseS3Url, s3SourceOptionsSchema } from './s3.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/cloudtrail/invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json', import.meta.url));
const FIXTURE_TEXT = readFileSync(FIXTURE, 'utf8');
const TINY = gzipSync('{"Records":[]}');

const ACCOUNT_A = '218007301253';
const ACCOUNT_B = '111122223333';
const ORG = 'o-a1b2c3d4e5';
const ACCOUNT_C = '444455556666';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The sources' clock in these tests. */
const NOW = Date.parse('2023-07-12T12:00:00Z');

const pad = (n: number): string => String(n).padStart(2, '0');

interface Placed {
  readonly key: string;
  readonly prefix: string;
  readonly org?: string;
  readonly account: string;
  readonly region: string;
  readonly time: number;
}

/** A key in the CloudTrail layout, named as CloudTrail names its files. */
function place(spec: { prefix?: string; org?: string; account: string; region: string; time: number; suffix: string }): Placed {
  const d = new Date(spec.time);
  const date = `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}`;
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}Z`;
  const prefix = spec.prefix ?? '';
  const key = `${prefix}AWSLogs/${spec.org ? `${spec.org}/` : ''}${spec.account}/CloudTrail/${spec.region}/${date}/${spec.account}_CloudTrail_${spec.region}_${stamp}_${spec.suffix}.json.gz`;
  return { key, prefix, ...(spec.org ? { org: spec.org } : {}), account: spec.account, region: spec.region, time: spec.time };
}

let started: Availability<S3Fake>;
beforeAll(async () => {
  started = await tryStart('the S3 fake (s3rver)', () => S3Fake.start({ buckets: ['layout', 'dates', 'paging', 'polling', 'late', 'reading'] }));
}, 30_000);
afterAll(async () => {
  if (started.ok) await started.service.close();
});

/** The fake, or skip the test with the reason it is not there. */
function fake(skip: (note: string) => never): S3Fake {
  if (!started.ok) skip(started.reason);
  return started.service;
}

/** A client that logs the input of every ListObjectsV2 request it sends. */
function recordingClient(s3: S3Fake): { client: S3Client; lists: { Prefix?: string; Delimiter?: string; ContinuationToken?: string }[] } {
  const client = s3.client();
  const lists: { Prefix?: string; Delimiter?: string; ContinuationToken?: string }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ListObjectsV2Command') lists.push({ ...(args.input as { Prefix?: string; Delimiter?: string; ContinuationToken?: string }) });
      return next(args);
    },
    { step: 'initialize', name: 'recordListings' },
  );
  return { client, lists };
}

async function drain(source: S3Source, isDone?: (o: S3ListedObject) => boolean): Promise<S3ListedObject[]> {
  const out: S3ListedObject[] = [];
  for await (const object of source.pass(isDone ? { isDone } : {})) out.push(object);
  return out;
}

const sorted = (keys: Iterable<string>): string[] => [...keys].sort();

describe('options', () => {
  it('every option is documented in docs/sources.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/sources.md', import.meta.url)), 'utf8');
    expect(Object.keys(s3SourceOptionsSchema.shape).filter((key) => !doc.includes(`\`${key}\``))).toEqual([]);
  });

  it.each([
    { input: { bucket: 'b', pollIntervalMs: 1000, pollInterval: 5 }, says: 'pollInterval' },
    { input: { bucket: 'b', accounts: ['12345'] }, says: 'accounts.0' },
    { input: { bucket: 'b', regions: ['US EAST'] }, says: 'regions.0' },
    { input: { bucket: 'b', pageSize: 5000 }, says: 'pageSize' },
    { input: { bucket: 'x' }, says: 'bucket' },
  ])('$says is rejected with a usage error naming it', ({ input, says }) => {
    expect(() => parseS3SourceOptions(input)).toThrow(UsageError);
    expect(() => parseS3SourceOptions(input)).toThrow(says);
  });

  it('defaults are filled in', () => {
    expect(parseS3SourceOptions({ bucket: 'trail-logs' })).toMatchObject({ prefix: '', pollIntervalMs: 60_000, pageSize: 1000, overlapMs: HOUR, forcePathStyle: false });
  });

  it.each([
    { url: 's3://trail-logs', expected: { bucket: 'trail-logs', prefix: '' } },
    { url: 's3://trail-logs/', expected: { bucket: 'trail-logs', prefix: '' } },
    { url: 's3://trail-logs/team/prod', expected: { bucket: 'trail-logs', prefix: 'team/prod' } },
  ])('parseS3Url($url)', ({ url, expected }) => {
    expect(parseS3Url(url)).toEqual(expected);
  });

  it.each(['https://trail-logs/x', 's3://', 'trail-logs'])('parseS3Url(%s) is a usage error', (url) => {
    expect(() => parseS3Url(url)).toThrow(UsageError);
  });
});

describe('listing the CloudTrail layout', () => {
  const t = NOW - 3 * HOUR;
  const layout: Placed[] = [
    place({ prefix: 'team/', account: ACCOUNT_A, region: 'us-east-1', time: t, suffix: 'a1' }),
    place({ prefix: 'team/', account: ACCOUNT_A, region: 'eu-west-1', time: t + 60_000, suffix: 'a2' }),
    place({ prefix: 'team/', account: ACCOUNT_A, region: 'ca-northsouth-2r', time: t + 120_000, suffix: 'a3' }),
    place({ prefix: 'team/', account: ACCOUNT_B, region: 'us-east-1', time: t + 180_000, suffix: 'b1' }),
    place({ prefix: 'team/', org: ORG, account: ACCOUNT_C, region: 'us-east-1', time: t + 240_000, suffix: 'c1' }),
    place({ prefix: 'team/', org: ORG, account: ACCOUNT_C, region: 'eu-west-1', time: t + 300_000, suffix: 'c2' }),
    place({ prefix: 'team/', org: ORG, account: ACCOUNT_A, region: 'us-east-1', time: t + 360_000, suffix: 'ca' }),
    place({ prefix: '', account: ACCOUNT_A, region: 'us-east-1', time: t, suffix: 'root' }),
  ];
  const day = new Date(t).toISOString().slice(0, 10).replace(/-/g, '/');
  const noise = [
    `team/AWSLogs/${ACCOUNT_A}/CloudTrail-Digest/us-east-1/${day}/${ACCOUNT_A}_CloudTrail-Digest_us-east-1_trail_us-east-1_20230712T090000Z.json.gz`,
    `team/AWSLogs/${ACCOUNT_A}/CloudTrail-Insight/us-east-1/${day}/${ACCOUNT_A}_CloudTrail-Insight_us-east-1_20230712T0900Z_x.json.gz`,
    `team/AWSLogs/${ACCOUNT_A}/Config/us-east-1/${day}/ConfigSnapshot/x.json.gz`,
    `team/AWSLogs/not-an-account/CloudTrail/us-east-1/${day}/x.json.gz`,
    `team/AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/${day}/CloudTrail-Digest/odd.json.gz`,
    `team/readme.txt`,
  ];

  beforeAll(async () => {
    if (!started.ok) return;
    await started.service.putObjects('layout', [...layout, ...noise.map((key) => ({ key }))].map((p) => ({ key: p.key, body: TINY })));
  }, 30_000);

  const expectFor = (keep: (p: Placed) => boolean): string[] => sorted(layout.filter(keep).map((p) => p.key));

  it.for([
    { name: 'every account, organisation account and region under the prefix', options: { prefix: 'team' }, expected: expectFor((p) => p.prefix === 'team/') },
    { name: 'the prefix written with its slash', options: { prefix: 'team/' }, expected: expectFor((p) => p.prefix === 'team/') },
    { name: 'one account, in and out of the organisation folder', options: { prefix: 'team', accounts: [ACCOUNT_A] }, expected: expectFor((p) => p.prefix === 'team/' && p.account === ACCOUNT_A) },
    { name: 'an organisation member account', options: { prefix: 'team', accounts: [ACCOUNT_C, ACCOUNT_B] }, expected: expectFor((p) => p.prefix === 'team/' && (p.account === ACCOUNT_C || p.account === ACCOUNT_B)) },
    { name: 'regions', options: { prefix: 'team', regions: ['eu-west-1', 'ca-northsouth-2r'] }, expected: expectFor((p) => p.prefix === 'team/' && (p.region === 'eu-west-1' || p.region === 'ca-northsouth-2r')) },
    { name: 'accounts and regions together', options: { prefix: 'team', accounts: [ACCOUNT_C], regions: ['eu-west-1'] }, expected: expectFor((p) => p.prefix === 'team/' && p.account === ACCOUNT_C && p.region === 'eu-west-1') },
    { name: 'a prefix that goes into the organisation folder', options: { prefix: `team/AWSLogs/${ORG}/` }, expected: expectFor((p) => p.prefix === 'team/' && p.org === ORG) },
    { name: 'a prefix that goes into one region folder', options: { prefix: `team/AWSLogs/${ACCOUNT_A}/CloudTrail/eu-west-1/` }, expected: expectFor((p) => p.prefix === 'team/' && p.org === undefined && p.account === ACCOUNT_A && p.region === 'eu-west-1') },
    { name: 'no prefix: only the trail at the bucket root', options: { prefix: '' }, expected: expectFor((p) => p.prefix === '') },
    { name: 'an account with no logs', options: { prefix: 'team', accounts: ['999999999999'] }, expected: [] },
  ] as { name: string; options: Partial<S3SourceOptions>; expected: string[] }[])('$name', async ({ options, expected }, ctx) => {
    const s3 = fake(ctx.skip);
    const source = new S3Source({ bucket: 'layout', sinceEpochMs: NOW - DAY, ...options }, { client: s3.client(), now: () => NOW });
    const objects = await drain(source);
    expect(sorted(objects.map((o) => o.key))).toEqual(expected);
    expect(objects.every((o) => o.bucket === 'layout' && o.size === TINY.length && /^[0-9a-f]{32}$/.test(o.etag))).toBe(true);
  });

  it('objects come oldest file stamp first across accounts and regions', async (ctx) => {
    const s3 = fake(ctx.skip);
    const source = new S3Source({ bucket: 'layout', prefix: 'team', sinceEpochMs: NOW - DAY }, { client: s3.client(), now: () => NOW });
    const objects = await drain(source);
    const times = objects.map((o) => layout.find((p) => p.key === o.key)?.time ?? Number.NaN);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.length).toBe(layout.filter((p) => p.prefix === 'team/').length);
  });
});

describe('starting back in time: the date folders are pruned by since', () => {
  // Two files a day for 40 days before NOW, in two regions; and a file stamped just before and after since.
  const objects: Placed[] = [];
  for (let d = 0; d < 40; d++) {
    for (const region of ['us-east-1', 'eu-west-1']) objects.push(place({ account: ACCOUNT_A, region, time: NOW - d * DAY - 5 * HOUR, suffix: `d${d}` }));
  }
  const since2h = NOW - 2 * HOUR;
  objects.push(place({ account: ACCOUNT_A, region: 'us-east-1', time: since2h - 61_000, suffix: 'before' }));
  objects.push(place({ account: ACCOUNT_A, region: 'us-east-1', time: since2h - 30_000, suffix: 'same-minute' }));
  objects.push(place({ account: ACCOUNT_A, region: 'us-east-1', time: since2h + 60_000, suffix: 'after' }));

  beforeAll(async () => {
    if (!started.ok) return;
    await started.service.putObjects('dates', objects.map((p) => ({ key: p.key, body: TINY })));
  }, 60_000);

  const dayFolder = (ms: number): string => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '/');

  it.for([
    { name: 'since 2h', since: since2h },
    { name: 'since 30 days (the year, month and day folders are listed)', since: NOW - 30 * DAY },
    { name: 'since 3 days', since: NOW - 3 * DAY },
  ])('$name: every file stamped in the minute of since or after, and only date folders from since on', async ({ since }, ctx) => {
    const s3 = fake(ctx.skip);
    const { client, lists } = recordingClient(s3);
    const source = new S3Source({ bucket: 'dates', sinceEpochMs: since }, { client, now: () => NOW });
    const got = await drain(source);
    // A stamp is truncated to the minute: a file stamped in since's minute may hold events after since.
    expect(sorted(got.map((o) => o.key))).toEqual(sorted(objects.filter((p) => p.time >= Math.floor(since / 60_000) * 60_000).map((p) => p.key)));
    const fullListings = lists.filter((l) => l.Delimiter === undefined).map((l) => l.Prefix ?? '');
    const firstFolder = dayFolder(since);
    for (const prefix of fullListings) {
      const folder = /\/(\d{4}\/\d{2}\/\d{2})\/$/.exec(prefix)?.[1];
      expect(folder, prefix).toBeDefined();
      expect((folder ?? '') >= firstFolder, prefix).toBe(true);
    }
    // Every region's date folders in range were listed.
    const wanted = new Set(objects.filter((p) => dayFolder(p.time) >= firstFolder).map((p) => p.key.slice(0, p.key.lastIndexOf('/') + 1)));
    expect([...wanted].filter((f) => !fullListings.includes(f))).toEqual([]);
    // The listing walked the layout with Delimiter, never the whole bucket.
    expect(lists.some((l) => l.Delimiter === undefined && !/\d{4}\/\d{2}\/\d{2}\/$/.test(l.Prefix ?? ''))).toBe(false);
  });

  it('a wide range lists year and month folders with Delimiter instead of naming every day', async (ctx) => {
    const s3 = fake(ctx.skip);
    const { client, lists } = recordingClient(s3);
    await drain(new S3Source({ bucket: 'dates', sinceEpochMs: NOW - 30 * DAY }, { client, now: () => NOW }));
    const delimited = lists.filter((l) => l.Delimiter === '/').map((l) => l.Prefix ?? '');
    expect(delimited).toContain(`AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/`);
    expect(delimited).toContain(`AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/2023/`);
    expect(delimited).toContain(`AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/2023/06/`);
    // Months wholly before since are not listed.
    expect(delimited).not.toContain(`AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/2023/05/`);
  });
});

describe('paged listings', () => {
  const base = NOW - 4 * HOUR;
  const many = Array.from({ length: 57 }, (_, n) => place({ account: ACCOUNT_B, region: 'us-west-2', time: base + n * 60_000, suffix: `p${String(n).padStart(3, '0')}` }));

  beforeAll(async () => {
    if (!started.ok) return;
    await started.service.putObjects('paging', many.map((p) => ({ key: p.key, body: TINY })));
  }, 30_000);

  it.for([{ pageSize: 5 }, { pageSize: 56 }, { pageSize: 57 }, { pageSize: 1000 }])('with MaxKeys $pageSize every object comes exactly once', async ({ pageSize }, ctx) => {
    const s3 = fake(ctx.skip);
    const { client, lists } = recordingClient(s3);
    const got = await drain(new S3Source({ bucket: 'paging', pageSize, sinceEpochMs: base - HOUR }, { client, now: () => NOW }));
    expect(got.map((o) => o.key)).toEqual(many.map((p) => p.key));
    const pages = lists.filter((l) => l.Delimiter === undefined && l.Prefix?.endsWith('/2023/07/12/'));
    expect(pages.length).toBe(Math.max(1, Math.ceil(many.length / pageSize)));
    expect(pages.filter((l) => l.ContinuationToken !== undefined).length).toBe(pages.length - 1);
  });
});

describe('polling', () => {
  const t0 = NOW - HOUR;
  const first = place({ account: ACCOUNT_A, region: 'us-east-1', time: t0, suffix: 'first' });
  const second = place({ account: ACCOUNT_A, region: 'us-east-1', time: t0 + 5 * 60_000, suffix: 'second' });
  const third = place({ account: ACCOUNT_A, region: 'us-east-1', time: t0 + 10 * 60_000, suffix: 'third' });

  it('each pass gives only what is new, once; finished objects are not given at all', async (ctx) => {
    const s3 = fake(ctx.skip);
    await s3.putObject('polling', first.key, TINY);
    const source = new S3Source({ bucket: 'polling', sinceEpochMs: t0 - HOUR }, { client: s3.client(), now: () => NOW });
    expect((await drain(source)).map((o) => o.key)).toEqual([first.key]);
    expect(await drain(source)).toEqual([]);
    await s3.putObject('polling', second.key, TINY);
    await s3.putObject('polling', third.key, TINY);
    const done = new Set([second.key]);
    expect((await drain(source, (o) => done.has(o.key))).map((o) => o.key)).toEqual([third.key]);
    expect(await drain(source)).toEqual([]);
  });

  it('a restart with the checkpoint predicate gives only what is not done', async (ctx) => {
    const s3 = fake(ctx.skip);
    await s3.putObjects('polling', [first, second, third].map((p) => ({ key: p.key, body: TINY })));
    const done = new Set([first.key, third.key]);
    const restarted = new S3Source({ bucket: 'polling', sinceEpochMs: t0 - HOUR }, { client: s3.client(), now: () => NOW });
    expect((await drain(restarted, (o) => done.has(o.key))).map((o) => o.key)).toEqual([second.key]);
  });

  it.for([
    { maxRememberedKeys: 200_000, secondPass: [] as string[] },
    { maxRememberedKeys: 1, secondPass: ['first'] },
  ])('with maxRememberedKeys $maxRememberedKeys, a second pass without the predicate gives $secondPass', async ({ maxRememberedKeys, secondPass }, ctx) => {
    const s3 = fake(ctx.skip);
    const older = place({ account: ACCOUNT_A, region: 'ap-south-1', time: t0, suffix: 'older' });
    const newer = place({ account: ACCOUNT_A, region: 'ap-south-1', time: t0 + 60_000, suffix: 'newer' });
    await s3.putObjects('polling', [older, newer].map((p) => ({ key: p.key, body: TINY })));
    const source = new S3Source({ bucket: 'polling', regions: ['ap-south-1'], sinceEpochMs: t0 - 1, maxRememberedKeys }, { client: s3.client(), now: () => NOW });
    expect((await drain(source)).map((o) => o.key)).toEqual([older.key, newer.key]);
    // The memory is bounded: the oldest keys are forgotten first (the checkpoint predicate covers them).
    const byName = { first: older.key } as const;
    expect((await drain(source)).map((o) => o.key)).toEqual(secondPass.map((n) => byName[n as keyof typeof byName]));
  });

  it('objects() picks up a file that appears while watching, then stops on abort', async (ctx) => {
    const s3 = fake(ctx.skip);
    const fresh = place({ account: ACCOUNT_B, region: 'us-east-1', time: Date.now(), suffix: 'live' });
    const source = new S3Source({ bucket: 'polling', pollIntervalMs: 50, layoutRefreshMs: 0, accounts: [ACCOUNT_B] }, { client: s3.client() });
    const controller = new AbortController();
    const seen: string[] = [];
    const stopAfter = setTimeout(() => controller.abort(), 15_000);
    const putLater = setTimeout(() => void s3.putObject('polling', fresh.key, TINY), 300);
    for await (const object of source.objects({ signal: controller.signal })) {
      seen.push(object.key);
      controller.abort();
    }
    clearTimeout(stopAfter);
    clearTimeout(putLater);
    expect(seen).toEqual([fresh.key]);
    expect(source.stats.passes).toBeGreaterThan(1);
  });

  it('run() reports a handler failure and goes on to the next object', async (ctx) => {
    const s3 = fake(ctx.skip);
    const a = place({ account: ACCOUNT_C, region: 'us-east-1', time: NOW - 30 * 60_000, suffix: 'bad' });
    const b = place({ account: ACCOUNT_C, region: 'us-east-1', time: NOW - 20 * 60_000, suffix: 'good' });
    await s3.putObjects('polling', [a, b].map((p) => ({ key: p.key, body: TINY })));
    const problems: S3SourceProblem[] = [];
    const handled: string[] = [];
    const controller = new AbortController();
    const source = new S3Source({ bucket: 'polling', accounts: [ACCOUNT_C], sinceEpochMs: NOW - HOUR, pollIntervalMs: 20 }, { client: s3.client(), now: () => NOW, onProblem: (p) => problems.push(p) });
    await source.run(
      async (object) => {
        handled.push(object.key);
        if (object.key === b.key) controller.abort();
        if (object.key === a.key) throw new Error('poison object');
        await Promise.resolve();
      },
      { signal: controller.signal },
    );
    expect(handled).toEqual([a.key, b.key]);
    expect(problems.map((p) => [p.code, p.source])).toEqual([['E_S3_PROCESS', `s3://polling/${a.key}`]]);
  });
});

describe('a failed listing moves nothing forward', () => {
  it('a pass that could not list is reported and the next pass still starts at since', async (ctx) => {
    const s3 = fake(ctx.skip);
    // Just after midnight: since (2 h back) is the day before.
    const now = Date.parse('2023-07-12T00:30:00Z');
    const late = place({ account: ACCOUNT_A, region: 'us-east-1', time: Date.parse('2023-07-11T23:15:00Z'), suffix: 'late' });
    let clock = now;
    const problems: S3SourceProblem[] = [];
    const options: S3SourceOptions = { bucket: 'not-created-yet', sinceEpochMs: now - 2 * HOUR, overlapMs: 60_000, layoutRefreshMs: 0, pollIntervalMs: 10_000 };
    const source = new S3Source(options, { client: s3.client(), now: () => clock, onProblem: (p) => problems.push(p) });
    expect(await drain(source)).toEqual([]);
    expect(problems.map((p) => p.code)).toEqual(['E_S3_LIST']);
    expect(problems[0]?.message).toContain('NoSuchBucket');
    await s3.createBucket('not-created-yet');
    await s3.putObject('not-created-yet', late.key, TINY);
    clock = now + 10 * 60_000;
    expect((await drain(source)).map((o) => o.key)).toEqual([late.key]);
    expect(problems.length).toBe(1);
  });

  it('after a good pass, the next one starts overlapMs before it (a folder left behind is not listed again)', async (ctx) => {
    const s3 = fake(ctx.skip);
    const { client, lists } = recordingClient(s3);
    const now = Date.parse('2023-07-12T00:30:00Z');
    let clock = now;
    const source = new S3Source({ bucket: 'late', sinceEpochMs: now - 3 * DAY, overlapMs: 10 * 60_000 }, { client, now: () => clock });
    await s3.putObject('late', place({ account: ACCOUNT_A, region: 'us-east-1', time: now - 2 * DAY, suffix: 'old' }).key, TINY);
    expect((await drain(source)).length).toBe(1);
    lists.length = 0;
    clock = now + HOUR;
    await drain(source);
    const folders = lists.filter((l) => l.Delimiter === undefined).map((l) => l.Prefix ?? '');
    expect(folders).toEqual([`AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/2023/07/12/`]);
  });
});

describe('reading objects', () => {
  it('open() streams the stored bytes (still gzipped)', async (ctx) => {
    const s3 = fake(ctx.skip);
    const key = `AWSLogs/${ACCOUNT_A}/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json.gz`;
    const gz = gzipSync(FIXTURE_TEXT);
    await s3.putObject('reading', key, gz);
    const source = new S3Source({ bucket: 'reading', sinceEpochMs: Date.parse('2023-07-10T00:00:00Z') }, { client: s3.client(), now: () => Date.parse('2023-07-10T13:00:00Z') });
    const [listed] = await drain(source);
    expect(listed).toMatchObject({ key, size: gz.length });
    const chunks: Uint8Array[] = [];
    for await (const chunk of await source.open(listed ?? { bucket: 'reading', key })) chunks.push(chunk);
    expect(gunzipSync(Buffer.concat(chunks)).toString('utf8')).toBe(FIXTURE_TEXT);
  });

  it('open() of a missing object is an E_S3_GET error naming it', async (ctx) => {
    const s3 = fake(ctx.skip);
    const source = new S3Source({ bucket: 'reading' }, { client: s3.client() });
    const failure = await source.open({ bucket: 'reading', key: 'AWSLogs/missing.json.gz' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TrailhoundError);
    expect(failure).toMatchObject({ code: 'E_S3_GET' });
    expect((failure as Error).message).toContain('s3://reading/AWSLogs/missing.json.gz');
    expect((failure as Error).message).toContain('NoSuchKey');
  });
});
