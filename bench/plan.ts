/**
 * The plan of a benchmark corpus: which files exist (an organization trail in the S3 layout, one
 * file per account, region and 5-minute slot), how many records each holds, and which planted
 * records go where. Everything follows from the parameters and the seed; writing the files
 * (write-file.ts) can then happen in any order, on any thread, with the same bytes.
 */
import { ec2CallJson, isFlagshipCall } from './ec2-calls.js';
import type { Ec2CallSpec } from './ec2-calls.js';
import { assumedRoleIdentity, documentationIp, iamUserIdentity, USER_AGENTS } from './identities.js';
import { Rng } from './rng.js';
import type { Weighted } from './rng.js';
import { COMPANION_RULE_ID, DATADOG_RULE_ID, RECORDS_PER_SCENARIO_SET, SCENARIO_KINDS, scenarioDuration } from './scenarios.js';
import type { ScenarioKind } from './scenarios.js';
import type { TemplateLibrary } from './templates.js';

export interface CorpusParams {
  readonly records: number;
  readonly seed: string;
  readonly minRecordsPerFile: number;
  readonly maxRecordsPerFile: number;
}

export const DEFAULT_SEED = 'trailhound-bench-1';

export function corpusParams(records: number, overrides: Partial<Omit<CorpusParams, 'records'>> = {}): CorpusParams {
  return { records, seed: overrides.seed ?? DEFAULT_SEED, minRecordsPerFile: overrides.minRecordsPerFile ?? 1000, maxRecordsPerFile: overrides.maxRecordsPerFile ?? 5000 };
}

/** A record written on purpose (planted attack, near miss), serialised. */
export interface PlantedRecord {
  readonly timeMs: number;
  readonly json: string;
}

export interface FileSpec {
  readonly index: number;
  /** Path under the corpus folder, with `/`. */
  readonly relPath: string;
  readonly account: string;
  readonly region: string;
  readonly slotStartMs: number;
  readonly records: number;
  /** Seed of this file's own generator. */
  readonly seed: string;
  /** The corpus seed (caller pools are per corpus and account). */
  readonly corpusSeed: string;
  /** Start of the corpus's time span (caller session dates are before it). */
  readonly baseMs: number;
  /** Planted records of this file, in time order. */
  readonly planted: readonly PlantedRecord[];
}

export interface PlantedEvent {
  readonly eventId: string;
  readonly eventName: string;
  readonly eventTime: string;
  readonly callerArn: string;
  readonly instanceIds: readonly string[];
  readonly file: string;
}

export interface ScenarioTruth {
  readonly id: string;
  readonly kind: string;
  readonly description: string;
  readonly account: string;
  readonly region: string;
  readonly events: readonly PlantedEvent[];
}

/** A signal the scan must raise: rule id and exact group (bd9-8o0-553 groups by `@userIdentity.arn`). */
export interface ExpectedSignal {
  readonly ruleId: string;
  readonly group: Readonly<Record<string, string>>;
  readonly scenario: string;
}

/**
 * A signal of the companion rule, keyed by its target instance: its group values must name the
 * instance and may only also name its account and region (the rule's group-by field names are its own).
 */
export interface ExpectedTargetSignal {
  readonly ruleId: string;
  readonly target: { readonly account: string; readonly region: string; readonly instanceId: string };
  readonly scenario: string;
}

export interface CorpusPlan {
  readonly params: CorpusParams;
  readonly orgId: string;
  readonly accounts: readonly string[];
  readonly streams: readonly { readonly account: string; readonly region: string }[];
  readonly startMs: number;
  readonly files: readonly FileSpec[];
  readonly scenarios: readonly ScenarioTruth[];
  /** Scenarios that did not fit the corpus's time span (tiny corpora only). */
  readonly skippedScenarios: readonly string[];
  readonly expectedSignals: readonly ExpectedSignal[];
  readonly expectedTargetSignals: readonly ExpectedTargetSignal[];
  /** eventIDs of planted records the flagship filter selects. */
  readonly plantedFlagshipCalls: readonly string[];
}

const SLOT_MS = 5 * 60 * 1000;

const REGIONS: readonly Weighted<string>[] = [
  { weight: 35, value: 'us-east-1' },
  { weight: 15, value: 'eu-west-1' },
  { weight: 15, value: 'us-west-2' },
  { weight: 10, value: 'eu-central-1' },
  { weight: 8, value: 'ap-southeast-2' },
  { weight: 7, value: 'ap-northeast-1' },
  { weight: 5, value: 'ca-central-1' },
  { weight: 5, value: 'sa-east-1' },
];

/** Record counts per file, each in [min, max] (a corpus smaller than `max` is one file), summing to `total`. */
export function fileSizes(total: number, min: number, max: number, rng: Rng): number[] {
  if (total <= max) return [total];
  let count = Math.max(Math.ceil(total / max), Math.round(total / ((min + max) / 2)));
  if (count * min > total) count = Math.max(1, Math.floor(total / min));
  const sizes = new Array<number>(count).fill(Math.floor(total / count));
  for (let i = 0; i < total % count; i++) sizes[i] = (sizes[i] ?? 0) + 1;
  for (let k = 0; k < count * 3; k++) {
    const i = rng.int(0, count - 1);
    const j = rng.int(0, count - 1);
    const from = sizes[i] ?? 0;
    const to = sizes[j] ?? 0;
    const room = Math.min(from - min, max - to);
    if (i === j || room <= 0) continue;
    const moved = rng.int(0, room);
    sizes[i] = from - moved;
    sizes[j] = to + moved;
  }
  return sizes;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** `AWSLogs/o-…/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz` */
function objectPath(orgId: string, account: string, region: string, deliveredMs: number, random: string): string {
  const d = new Date(deliveredMs);
  const [y, m, day, h, min] = [d.getUTCFullYear(), two(d.getUTCMonth() + 1), two(d.getUTCDate()), two(d.getUTCHours()), two(d.getUTCMinutes())];
  return `AWSLogs/${orgId}/${account}/CloudTrail/${region}/${y}/${m}/${day}/${account}_CloudTrail_${region}_${y}${m}${day}T${h}${min}Z_${random}.json.gz`;
}

interface Actor {
  readonly arn: string;
  readonly json: string;
  readonly sourceIp: string;
  readonly userAgent: string;
}

/** The callers of one scenario: fresh names, so no two scenarios share a caller. */
function scenarioActors(kind: ScenarioKind, account: string, tag: string, rng: Rng, baseMs: number): Actor[] {
  if (kind.isCloudFormation === true) {
    const built = assumedRoleIdentity(
      { account, roleName: `cfn-stack-${tag}-role`, rolePath: '/', sessionName: 'AWSCloudFormation', mfa: false, invokedBy: 'cloudformation.amazonaws.com' },
      rng,
      baseMs,
    );
    return [{ arn: built.arn, json: JSON.stringify(built.value), sourceIp: 'cloudformation.amazonaws.com', userAgent: 'cloudformation.amazonaws.com' }];
  }
  const style = rng.int(0, 2);
  const ip = documentationIp(rng);
  const ua = rng.pick([...USER_AGENTS.cli, ...USER_AGENTS.sdk]);
  if (kind.actorCount === 1 && style === 0) {
    const built = iamUserIdentity(account, `svc-deploy-${tag}`, rng);
    return [{ arn: built.arn, json: JSON.stringify(built.value), sourceIp: ip, userAgent: ua }];
  }
  const roleName = style === 2 && kind.actorCount === 1 ? `batch-${tag}-ec2-instance-role` : `AWSReservedSSO_AdministratorAccess_${rng.hex(16)}`;
  const rolePath = roleName.startsWith('AWSReservedSSO') ? '/aws-reserved/sso.amazonaws.com/' : '/';
  const sessions = style === 2 && kind.actorCount === 1 ? [`i-0${rng.hex(16)}`] : [`ops-${tag}@example.com`, `ops-${tag}-cli-${rng.digits(10)}`];
  return sessions.slice(0, kind.actorCount).map((sessionName) => {
    const built = assumedRoleIdentity({ account, roleName, rolePath, sessionName, mfa: false }, rng, baseMs);
    return { arn: built.arn, json: JSON.stringify(built.value), sourceIp: ip, userAgent: ua };
  });
}

const EC2_NAMES = { stop: 'StopInstances', start: 'StartInstances' } as const;

/** Plan the corpus: files, streams, planted scenarios and the truth about them. */
export function planCorpus(params: CorpusParams, library: TemplateLibrary): CorpusPlan {
  if (!Number.isInteger(params.records) || params.records < 1) throw new Error(`records must be a positive integer (got ${params.records})`);
  if (params.minRecordsPerFile < 1 || params.maxRecordsPerFile < params.minRecordsPerFile) throw new Error('records per file: need 1 <= min <= max');
  const rng = new Rng(`${params.seed}:plan`);
  const sizes = fileSizes(params.records, params.minRecordsPerFile, params.maxRecordsPerFile, rng);
  const fileCount = sizes.length;
  const streamCount = Math.max(1, Math.min(60, Math.floor(fileCount / 8)));
  const accountCount = Math.max(1, Math.min(40, Math.ceil(streamCount / 2)));
  const orgId = `o-${rng.lowerAlnum(10)}`;
  const accounts: string[] = [];
  while (accounts.length < accountCount) {
    const account = rng.digits(12);
    if (!accounts.includes(account)) accounts.push(account);
  }
  const regionsOf = new Map<string, string[]>(accounts.map((a) => [a, ['us-east-1']]));
  const streams = Array.from({ length: streamCount }, (_, s) => {
    const account = accounts[s % accountCount] ?? '';
    const taken = regionsOf.get(account) ?? [];
    const nth = Math.floor(s / accountCount);
    while (taken.length <= nth) {
      const free = REGIONS.filter((r) => !taken.includes(r.value));
      taken.push(free.length > 0 ? rng.weighted(free) : `us-east-1`);
    }
    return { account, region: taken[nth] ?? 'us-east-1' };
  });
  const startMs = Date.UTC(2025, 2, 3, 6 + rng.int(0, 8), 0, 0);
  /** File j is stream j % S, slot row floor(j / S): every stream covers consecutive 5-minute slots. */
  const rowsOf = (s: number) => Math.floor((fileCount - 1 - s) / streamCount) + 1;

  const planted = new Map<number, PlantedRecord[]>();
  const scenarios: ScenarioTruth[] = [];
  const skippedScenarios: string[] = [];
  const expectedSignals: ExpectedSignal[] = [];
  const expectedTargetSignals: ExpectedTargetSignal[] = [];
  const plantedFlagshipCalls: string[] = [];
  const files: FileSpec[] = sizes.map((records, index) => {
    const s = index % streamCount;
    const stream = streams[s] ?? { account: '', region: '' };
    const slotStartMs = startMs + Math.floor(index / streamCount) * SLOT_MS;
    return {
      index,
      relPath: objectPath(orgId, stream.account, stream.region, slotStartMs + SLOT_MS, rng.mixedAlnum(16)),
      account: stream.account,
      region: stream.region,
      slotStartMs,
      records,
      seed: `${params.seed}:file:${index}`,
      corpusSeed: params.seed,
      baseMs: startMs,
      planted: [],
    };
  });

  const pathOf = (index: number) => {
    const spec = files[index];
    if (!spec) throw new Error(`planted record outside the corpus: file ${index} of ${fileCount}`);
    return spec.relPath;
  };

  const sets = Math.max(1, Math.round(params.records / RECORDS_PER_SCENARIO_SET));
  let ordinal = 0;
  for (let set = 0; set < sets; set++) {
    for (const kind of SCENARIO_KINDS) {
      const id = `${kind.name}#${set + 1}`;
      const tag = `${set + 1}${kind.name.split('-').map((w) => w.charAt(0)).join('')}${rng.lowerAlnum(4)}`;
      const duration = scenarioDuration(kind);
      const s = (ordinal++ * 7) % streamCount;
      const spanSeconds = rowsOf(s) * (SLOT_MS / 1000);
      if (spanSeconds < duration + 20) {
        skippedScenarios.push(id);
        continue;
      }
      const stream = streams[s] ?? { account: '', region: '' };
      const t0 = startMs + rng.int(5, spanSeconds - duration - 5) * 1000;
      const actors = scenarioActors(kind, stream.account, tag, rng, startMs);
      const instances = Array.from({ length: kind.instanceCount }, () => `i-0${rng.hex(16)}`);
      const events: PlantedEvent[] = [];
      for (const step of kind.steps) {
        const actor = actors[step.actor] ?? actors[0];
        if (!actor) throw new Error(`scenario ${id} has no caller`);
        const timeMs = t0 + step.at * 1000;
        const instanceIds = step.instances.map((i) => instances[i] ?? '');
        const spec: Ec2CallSpec = {
          call: step.call,
          account: stream.account,
          region: stream.region,
          instanceIds,
          identityJson: actor.json,
          sourceIp: actor.sourceIp,
          userAgent: actor.userAgent,
          timeMs,
          eventId: rng.uuid(),
          requestId: rng.uuid(),
          force: step.call === 'stop',
          ...(step.isFailed === true
            ? {
                error: {
                  code: 'Client.UnauthorizedOperation',
                  message: `You are not authorized to perform this operation. User: ${actor.arn} is not authorized to perform: ec2:ModifyInstanceAttribute on resource: arn:aws:ec2:${stream.region}:${stream.account}:instance/${instanceIds[0] ?? ''} because no identity-based policy allows the ec2:ModifyInstanceAttribute action.`,
                },
              }
            : {}),
        };
        const json = ec2CallJson(spec, library);
        const row = Math.floor((timeMs - startMs) / SLOT_MS);
        const fileIndex = row * streamCount + s;
        const list = planted.get(fileIndex) ?? [];
        list.push({ timeMs, json });
        planted.set(fileIndex, list);
        const parsed: unknown = JSON.parse(json);
        if (isFlagshipCall(parsed)) plantedFlagshipCalls.push(spec.eventId);
        events.push({
          eventId: spec.eventId,
          eventName: step.call === 'stop' || step.call === 'start' ? EC2_NAMES[step.call] : 'ModifyInstanceAttribute',
          eventTime: new Date(timeMs).toISOString().slice(0, 19) + 'Z',
          callerArn: actor.arn,
          instanceIds,
          file: pathOf(fileIndex),
        });
      }
      scenarios.push({ id, kind: kind.name, description: kind.description, account: stream.account, region: stream.region, events });
      const first = actors[0];
      if (kind.firesDatadogRule && first) expectedSignals.push({ ruleId: DATADOG_RULE_ID, group: { '@userIdentity.arn': first.arn }, scenario: id });
      for (const target of kind.companionTargets) {
        expectedTargetSignals.push({ ruleId: COMPANION_RULE_ID, target: { account: stream.account, region: stream.region, instanceId: instances[target] ?? '' }, scenario: id });
      }
    }
  }

  const withPlanted = files.map((file) => {
    const mine = (planted.get(file.index) ?? []).slice().sort((a, b) => a.timeMs - b.timeMs);
    if (mine.length > file.records) throw new Error(`file ${file.relPath} would hold ${mine.length} planted records but only ${file.records} records`);
    return { ...file, planted: mine };
  });
  return {
    params,
    orgId,
    accounts,
    streams,
    startMs,
    files: withPlanted,
    scenarios,
    skippedScenarios,
    expectedSignals,
    expectedTargetSignals,
    plantedFlagshipCalls,
  };
}
