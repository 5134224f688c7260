/**
 * Builds the bundled example in examples/: a small CloudTrail trail, in the S3 layout and gzipped as
 * CloudTrail delivers it, in which an IAM user with a leaked access key stops an instance, replaces
 * its user data and starts it again, among ordinary activity and one harmless near miss.
 *
 * The record shapes are those of real CloudTrail records (the Stratus Red Team detonation log in
 * test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json, Apache-2.0),
 * re-stamped with documentation-only account ids, addresses and names.
 *
 *   npm run example   # rewrites examples/ (a test checks that the committed files match)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { stableHash } from '../src/core/hash.js';

type Json = Record<string, unknown>;

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const INSTANCE = 'i-0a1b2c3d4e5f67890';
const OTHER_INSTANCE = 'i-0fedcba9876543210';
const ATTACKER_IP = '203.0.113.45';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stratus = JSON.parse(readFileSync(join(root, 'test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json'), 'utf8')) as Json[];

function template(eventName: string): Json {
  const found = stratus.find((r) => r.eventName === eventName);
  if (!found) throw new Error(`no ${eventName} record in the Stratus log`);
  return structuredClone(found);
}

function uuid(seed: string): string {
  const h = stableHash(seed) + stableHash(`${seed}/2`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface Actor {
  readonly identity: Json;
  readonly ip: string;
  readonly userAgent: string;
}

const leakedUser: Actor = {
  identity: {
    type: 'IAMUser',
    principalId: 'AIDAEXAMPLEBUILDBOT01',
    arn: `arn:aws:iam::${ACCOUNT}:user/build-bot`,
    accountId: ACCOUNT,
    accessKeyId: 'AKIAEXAMPLELEAKED001',
    userName: 'build-bot',
  },
  ip: ATTACKER_IP,
  userAgent: 'aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/ec2.modify-instance-attribute',
};

const opsRole: Actor = {
  identity: {
    type: 'AssumedRole',
    principalId: 'AROAEXAMPLEOPSROLE01:alice@example.com',
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/OpsAdmin/alice@example.com`,
    accountId: ACCOUNT,
    accessKeyId: 'ASIAEXAMPLEOPS000001',
    sessionContext: {
      sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEOPSROLE01', arn: `arn:aws:iam::${ACCOUNT}:role/OpsAdmin`, accountId: ACCOUNT, userName: 'OpsAdmin' },
      attributes: { creationDate: '2026-03-14T08:55:00Z', mfaAuthenticated: 'true' },
    },
  },
  ip: '198.51.100.23',
  userAgent: 'console.ec2.amazonaws.com',
};

function record(eventName: string, actor: Actor, time: string, requestParameters: Json, responseElements: Json | null): Json {
  const r = template(eventName === 'DescribeInstances' || eventName === 'StopInstances' || eventName === 'StartInstances' || eventName === 'ModifyInstanceAttribute' ? eventName : 'DescribeInstances');
  const id = uuid(`${eventName}/${time}/${JSON.stringify(actor.identity.arn)}`);
  return {
    ...r,
    eventName,
    eventTime: time,
    eventID: id,
    requestID: uuid(`req/${id}`),
    awsRegion: REGION,
    recipientAccountId: ACCOUNT,
    sourceIPAddress: actor.ip,
    userAgent: actor.userAgent,
    userIdentity: actor.identity,
    requestParameters,
    responseElements,
    readOnly: eventName.startsWith('Describe'),
    tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `ec2.${REGION}.amazonaws.com` },
  };
}

const items = (id: string) => ({ instancesSet: { items: [{ instanceId: id }] } });
const stateChange = (id: string, from: [number, string], to: [number, string]) => ({
  instancesSet: { items: [{ instanceId: id, currentState: { code: to[0], name: to[1] }, previousState: { code: from[0], name: from[1] } }] },
});

/** Every record of the example, in event time order. */
export function exampleRecords(): Json[] {
  const out: Json[] = [];
  // Ordinary morning activity: the ops admin looks around in the console.
  for (let m = 0; m < 10; m++) {
    out.push(record('DescribeInstances', opsRole, `2026-03-14T09:0${m}:1${m}Z`, { instancesSet: {}, filterSet: {} }, null));
  }
  // A harmless near miss: the ops admin restarts another instance without touching its user data.
  out.push(record('StopInstances', opsRole, '2026-03-14T09:04:05Z', { ...items(OTHER_INSTANCE), force: false }, stateChange(OTHER_INSTANCE, [16, 'running'], [64, 'stopping'])));
  out.push(record('StartInstances', opsRole, '2026-03-14T09:08:40Z', items(OTHER_INSTANCE), stateChange(OTHER_INSTANCE, [80, 'stopped'], [0, 'pending'])));
  // The attack: a leaked access key stops the instance, waits for it to stop, swaps the user data, starts it.
  out.push(record('StopInstances', leakedUser, '2026-03-14T09:12:03Z', { ...items(INSTANCE), force: true }, stateChange(INSTANCE, [16, 'running'], [64, 'stopping'])));
  for (let s = 0; s < 6; s++) {
    const poll = new Date(Date.parse('2026-03-14T09:12:10Z') + s * 15_000).toISOString().replace('.000Z', 'Z');
    out.push(record('DescribeInstances', leakedUser, poll, { ...items(INSTANCE), filterSet: {} }, null));
  }
  out.push(record('ModifyInstanceAttribute', leakedUser, '2026-03-14T09:13:41Z', { instanceId: INSTANCE, userData: '<sensitiveDataRemoved>' }, { _return: true }));
  out.push(record('StartInstances', leakedUser, '2026-03-14T09:13:42Z', items(INSTANCE), stateChange(INSTANCE, [80, 'stopped'], [0, 'pending'])));
  return out.sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
}

/** The records grouped into CloudTrail's five-minute S3 objects: relative path → records. */
export function exampleFiles(): Map<string, Json[]> {
  const files = new Map<string, Json[]>();
  for (const r of exampleRecords()) {
    const t = String(r.eventTime);
    const [date = '', clock = ''] = t.split('T');
    const [y = '', mo = '', d = ''] = date.split('-');
    const minute = Math.floor(Number(clock.slice(3, 5)) / 5) * 5;
    const stamp = `${y}${mo}${d}T${clock.slice(0, 2)}${String(minute).padStart(2, '0')}Z`;
    const name = `${ACCOUNT}_CloudTrail_${REGION}_${stamp}_${stableHash(stamp).toUpperCase()}.json.gz`;
    const path = `AWSLogs/${ACCOUNT}/CloudTrail/${REGION}/${y}/${mo}/${d}/${name}`;
    const list = files.get(path) ?? [];
    list.push(r);
    files.set(path, list);
  }
  return files;
}

export function writeExample(dir: string): string[] {
  rmSync(join(dir, 'AWSLogs'), { recursive: true, force: true });
  const written: string[] = [];
  for (const [path, records] of exampleFiles()) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, gzipSync(JSON.stringify({ Records: records })));
    written.push(path);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const p of writeExample(join(root, 'examples'))) console.log(`wrote examples/${p}`);
}
