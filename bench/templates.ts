/**
 * Record templates for the benchmark corpus, made from real CloudTrail records in
 * test/fixtures/cloudtrail/: the invictus log files (a day of a real account, every common AWS API)
 * for the noise, the Stratus Red Team user-data run for the EC2 Stop / Modify / Start calls.
 *
 * A noise template is compiled once into text pieces and slots (caller, time, ids, account,
 * region…), so writing a record is a string join, not a `JSON.stringify` of a fresh object: the
 * generator writes about 1.5 GB per million records and must stay fast.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Weighted } from './rng.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../test/fixtures/cloudtrail/', import.meta.url));

/** Slots a compiled template leaves open. `J` slots take raw JSON, the others text inside a string. */
export const SLOT = {
  identity: 0,
  time: 1,
  eventId: 2,
  requestId: 3,
  sharedEventId: 4,
  account: 5,
  region: 6,
  sourceIp: 7,
  userAgent: 8,
  objectKey: 9,
  bucket: 10,
} as const;
export const SLOT_COUNT = 11;

export type Category = 'ec2-read' | 'other-read' | 'kms' | 'sts' | 's3-data' | 's3-management' | 'write';

/** The mix of ordinary traffic: mostly reads, as in a real organization trail. */
export const CATEGORY_WEIGHTS: readonly Weighted<Category>[] = [
  { weight: 21, value: 'ec2-read' },
  { weight: 26, value: 'other-read' },
  { weight: 15, value: 'kms' },
  { weight: 6, value: 'sts' },
  { weight: 14, value: 's3-data' },
  { weight: 4, value: 's3-management' },
  { weight: 5, value: 'write' },
];

/** Share of ordinary records drawn from the failed calls of their category. */
export const ERROR_SHARE = 0.04;

export interface CompiledTemplate {
  readonly eventSource: string;
  readonly eventName: string;
  /** Text pieces and slots, in order: a string is written as is, a number is a `SLOT`. */
  readonly pieces: readonly (string | number)[];
  /** Whether the caller is drawn from the identity pool (else the template's own service identity stays). */
  readonly hasCallerSlot: boolean;
  /** When the call was made through a service (`sourceIPAddress` is the service): the caller gets this `invokedBy`. */
  readonly invokedBy: string | undefined;
  /** Form of the template's requestID: a UUID, or S3's 16 upper-case characters. */
  readonly requestIdForm: 'uuid' | 'short' | 'none';
}

export interface TemplateLibrary {
  readonly categories: ReadonlyMap<Category, { readonly ok: readonly CompiledTemplate[]; readonly failed: readonly CompiledTemplate[] }>;
  /** Real EC2 records the instance calls are built from. */
  readonly ec2: {
    readonly stop: Readonly<Record<string, unknown>>;
    readonly modifyUserData: Readonly<Record<string, unknown>>;
    readonly start: Readonly<Record<string, unknown>>;
    /** Terraform's `ModifyInstanceAttribute` of `disableApiTermination` (invictus). */
    readonly modifyTermination: Readonly<Record<string, unknown>>;
  };
}

/** CloudTrail's own key order, as in delivered log files. Keys not listed keep their order after these. */
const KEY_ORDER = [
  'eventVersion',
  'userIdentity',
  'eventTime',
  'eventSource',
  'eventName',
  'awsRegion',
  'sourceIPAddress',
  'userAgent',
  'errorCode',
  'errorMessage',
  'requestParameters',
  'responseElements',
  'additionalEventData',
  'requestID',
  'eventID',
  'readOnly',
  'resources',
  'eventType',
  'apiVersion',
  'managementEvent',
  'recipientAccountId',
  'sharedEventID',
  'vpcEndpointId',
  'serviceEventDetails',
  'eventCategory',
  'tlsDetails',
  'sessionCredentialFromConsole',
];

/** A copy of a record with its top-level keys in CloudTrail's order. */
export function inCloudTrailOrder(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of KEY_ORDER) if (key in record) out[key] = record[key];
  for (const key of Object.keys(record)) if (!(key in out)) out[key] = record[key];
  return out;
}

/** Calls that never appear as noise: the flagship calls are written on purpose, and a few others would look like attacks. */
const NEVER_NOISE = new Set(['StopInstances', 'StartInstances', 'ModifyInstanceAttribute', 'ConsoleLogin', 'GetPasswordData', 'RunInstances']);
/** Services whose write calls are ordinary enough for background traffic (IAM, Organizations, CloudTrail… writes are not). */
const ORDINARY_WRITE_SOURCES = new Set(['ssm.amazonaws.com', 'secretsmanager.amazonaws.com', 'ec2.amazonaws.com', 'kms.amazonaws.com', 'rds.amazonaws.com', 'logs.amazonaws.com']);
const SUSPICIOUS_WRITE = /SecurityGroup|ImageAttribute|SnapshotAttribute|SerialConsole|SSHPublicKey|Command|Session|Snapshot/;

type Rec = Record<string, unknown>;

function isRecord(value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function recordsOfFile(path: string): Rec[] {
  const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (Array.isArray(value)) return value.filter(isRecord);
  if (isRecord(value) && Array.isArray(value['Records'])) return value['Records'].filter(isRecord);
  return isRecord(value) ? [value] : [];
}

function invictusRecords(): Rec[] {
  const dir = join(FIXTURES_DIR, 'invictus-aws-dataset', 'CloudTrail');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .flatMap((name) => recordsOfFile(join(dir, name)));
}

function categoryOf(record: Rec): Category | undefined {
  const name = String(record['eventName']);
  const source = String(record['eventSource']);
  if (NEVER_NOISE.has(name)) return undefined;
  if (record['readOnly'] !== true) {
    if (record['eventType'] === 'AwsServiceEvent') return 'other-read';
    return ORDINARY_WRITE_SOURCES.has(source) && !SUSPICIOUS_WRITE.test(name) ? 'write' : undefined;
  }
  if (source === 'ec2.amazonaws.com') return 'ec2-read';
  if (source === 'kms.amazonaws.com') return 'kms';
  if (source === 'sts.amazonaws.com') return 'sts';
  if (source === 's3.amazonaws.com') return 's3-management';
  return 'other-read';
}

/** Replace, in every string of a JSON value, the template's account and region by slot markers. */
function markStrings(value: unknown, account: string, region: string): unknown {
  if (typeof value === 'string') return value.split(account).join(`~~S${SLOT.account}~~`).split(region).join(`~~S${SLOT.region}~~`);
  if (Array.isArray(value)) return value.map((v) => markStrings(v, account, region));
  if (isRecord(value)) {
    const out: Rec = {};
    for (const [k, v] of Object.entries(value)) out[k] = markStrings(v, account, region);
    return out;
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MARKER = /"~~J(\d+)~~"|~~S(\d+)~~/g;
const SERVICE_HOST = /\.amazonaws\.com$|^AWS Internal$/;

/** Compile one record: fields that vary per record become slots; the rest is kept as text. */
export function compileTemplate(source: Rec): CompiledTemplate {
  const account = typeof source['recipientAccountId'] === 'string' ? source['recipientAccountId'] : '000000000000';
  const region = typeof source['awsRegion'] === 'string' ? source['awsRegion'] : 'us-east-1';
  const identity = isRecord(source['userIdentity']) ? source['userIdentity'] : {};
  const identityType = identity['type'];
  const hasCallerSlot = identityType === 'IAMUser' || identityType === 'AssumedRole';
  const sourceIp = typeof source['sourceIPAddress'] === 'string' ? source['sourceIPAddress'] : '';
  const viaService = SERVICE_HOST.test(sourceIp);
  const record = markStrings(source, account, region) as Rec;
  if (hasCallerSlot) {
    record['userIdentity'] = `~~J${SLOT.identity}~~`;
    if (!viaService) {
      record['sourceIPAddress'] = `~~S${SLOT.sourceIp}~~`;
      record['userAgent'] = `~~S${SLOT.userAgent}~~`;
    }
  }
  record['eventTime'] = `~~S${SLOT.time}~~`;
  record['eventID'] = `~~S${SLOT.eventId}~~`;
  const requestId = source['requestID'];
  const requestIdForm = typeof requestId !== 'string' ? 'none' : UUID.test(requestId) ? 'uuid' : 'short';
  if (requestIdForm !== 'none') record['requestID'] = `~~S${SLOT.requestId}~~`;
  if (typeof source['sharedEventID'] === 'string') record['sharedEventID'] = `~~S${SLOT.sharedEventId}~~`;
  const text = JSON.stringify(inCloudTrailOrder(record));
  const pieces: (string | number)[] = [];
  let last = 0;
  for (const m of text.matchAll(MARKER)) {
    pieces.push(text.slice(last, m.index));
    pieces.push(Number(m[1] ?? m[2]));
    last = m.index + m[0].length;
  }
  pieces.push(text.slice(last));
  return {
    eventSource: String(source['eventSource']),
    eventName: String(source['eventName']),
    pieces: pieces.filter((p) => p !== ''),
    hasCallerSlot,
    invokedBy: hasCallerSlot && viaService ? sourceIp : undefined,
    requestIdForm,
  };
}

/** Write a compiled template with its slots filled (`values[SLOT.x]`). */
export function renderTemplate(template: CompiledTemplate, values: readonly string[]): string {
  let out = '';
  for (const piece of template.pieces) out += typeof piece === 'string' ? piece : (values[piece] ?? '');
  return out;
}

/**
 * S3 data events (GetObject / PutObject) are not in the fixtures: build them from a real S3 record
 * of the invictus files (its envelope, TLS and `additionalEventData` shape), as AWS logs data events.
 */
function s3DataRecords(base: Rec): Rec[] {
  const out: Rec[] = [];
  const extra = isRecord(base['additionalEventData']) ? base['additionalEventData'] : {};
  const bucket = `~~S${SLOT.bucket}~~`;
  const key = `~~S${SLOT.objectKey}~~`;
  const region = String(base['awsRegion']);
  const account = String(base['recipientAccountId']);
  for (const [name, bytes] of [
    ['GetObject', 48_213],
    ['GetObject', 1_882],
    ['GetObject', 731_004],
    ['PutObject', 12_977],
    ['HeadObject', 0],
  ] as const) {
    const isRead = name !== 'PutObject';
    out.push({
      ...base,
      eventName: name,
      requestParameters: { bucketName: bucket, Host: `${bucket}.s3.${region}.amazonaws.com`, key },
      responseElements: isRead ? null : { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': `arn:aws:kms:${region}:${account}:key/5d1c3e7a-2f4b-4a8e-9c61-0b7d2e8f4a13` },
      additionalEventData: { ...extra, bytesTransferredIn: isRead ? 0 : bytes, bytesTransferredOut: isRead ? bytes : 0 },
      resources: [
        { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/${key}` },
        { accountId: account, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` },
      ],
      readOnly: isRead,
      managementEvent: false,
      eventCategory: 'Data',
    });
  }
  return out;
}

function findRecord(records: readonly Rec[], what: string, test: (r: Rec) => boolean): Rec {
  const found = records.find(test);
  if (!found) throw new Error(`bench templates: the fixtures lack ${what} (test/fixtures/cloudtrail/)`);
  return found;
}

/** Load and compile every template. Reads about 4 MB of fixtures; call once per thread. */
export function loadTemplates(): TemplateLibrary {
  const invictus = invictusRecords();
  const buckets = new Map<Category, { ok: CompiledTemplate[]; failed: CompiledTemplate[] }>();
  const add = (category: Category, record: Rec) => {
    let bucket = buckets.get(category);
    if (!bucket) buckets.set(category, (bucket = { ok: [], failed: [] }));
    (record['errorCode'] === undefined ? bucket.ok : bucket.failed).push(compileTemplate(record));
  };
  for (const record of invictus) {
    const category = categoryOf(record);
    if (category) add(category, record);
  }
  const s3Base = findRecord(invictus, 'an S3 GetBucketAcl record', (r) => r['eventName'] === 'GetBucketAcl' && r['errorCode'] === undefined && isRecord(r['additionalEventData']));
  for (const record of s3DataRecords(s3Base)) add('s3-data', record);
  for (const { value } of CATEGORY_WEIGHTS) {
    if ((buckets.get(value)?.ok.length ?? 0) === 0) throw new Error(`bench templates: no template for ${value}`);
  }

  const stratus = recordsOfFile(join(FIXTURES_DIR, 'stratus-detonation-logs', 'aws.execution.ec2-user-data.json'));
  const byName = (name: string) => findRecord(stratus, `the Stratus ${name} record`, (r) => r['eventName'] === name);
  return {
    categories: buckets,
    ec2: {
      stop: byName('StopInstances'),
      modifyUserData: byName('ModifyInstanceAttribute'),
      start: byName('StartInstances'),
      modifyTermination: findRecord(invictus, "Terraform's ModifyInstanceAttribute", (r) => r['eventName'] === 'ModifyInstanceAttribute'),
    },
  };
}
