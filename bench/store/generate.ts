/**
 * Realistic indexed events for the store benchmark: 30 days of CloudTrail from 20 accounts, a few
 * thousand IAM users and a few hundred roles whose sessions rotate (EC2 instance roles, CI, Lambda),
 * activity spread unevenly (most identities make a few calls a day) with four heavy identities
 * making 2.5% of all calls each, per-identity habits (usual APIs, source IPs, user agents) with a
 * long tail of rare ones, ~3% failed calls, and EC2 calls naming instances. Each event carries a
 * full record text (~1.2 KB of JSON) like the one CloudTrail writes. Deterministic for a seed:
 * the identities come from the seed, and each chunk of events from the seed and the chunk number,
 * so chunks can be generated on several threads and give the same events.
 */
import { indexedEventOf } from '../../src/investigate/indexed-event.js';
import type { JsonObject } from '../../src/core/types.js';
import type { IndexedEvent } from '../../src/store/event-index.js';
import { Rng } from '../rng.js';

/** Bump when the generated data changes: the corpus cache key includes it. */
export const STORE_GENERATOR_VERSION = 1;

export const DAY_MS = 86_400_000;
export const START_MS = Date.parse('2025-01-01T00:00:00Z');
export const SPAN_MS = 30 * DAY_MS;

interface Api {
  readonly source: string;
  readonly name: string;
  readonly isReadOnly: boolean;
  /** Names one instance (`instanceId`), several (`instancesSet`), or none. */
  readonly instances: 'one' | 'set' | 'none';
  readonly weight: number;
}

const API_LIST: readonly Api[] = [
  ...['DescribeInstances', 'DescribeInstanceStatus', 'DescribeVolumes', 'DescribeSecurityGroups', 'DescribeSubnets', 'DescribeVpcs', 'DescribeImages', 'DescribeSnapshots', 'DescribeTags', 'DescribeNetworkInterfaces', 'DescribeLaunchTemplates', 'DescribeAddresses'].map(
    (name, i) => ({ source: 'ec2.amazonaws.com', name, isReadOnly: true, instances: name === 'DescribeInstances' || name === 'DescribeInstanceStatus' ? ('set' as const) : ('none' as const), weight: 30 - i * 2 }),
  ),
  { source: 'ec2.amazonaws.com', name: 'DescribeInstanceAttribute', isReadOnly: true, instances: 'one', weight: 4 },
  { source: 'ec2.amazonaws.com', name: 'StopInstances', isReadOnly: false, instances: 'set', weight: 1 },
  { source: 'ec2.amazonaws.com', name: 'StartInstances', isReadOnly: false, instances: 'set', weight: 1 },
  { source: 'ec2.amazonaws.com', name: 'RebootInstances', isReadOnly: false, instances: 'set', weight: 0.3 },
  { source: 'ec2.amazonaws.com', name: 'ModifyInstanceAttribute', isReadOnly: false, instances: 'one', weight: 0.5 },
  { source: 'ec2.amazonaws.com', name: 'TerminateInstances', isReadOnly: false, instances: 'set', weight: 0.4 },
  { source: 'ec2.amazonaws.com', name: 'CreateTags', isReadOnly: false, instances: 'none', weight: 2 },
  { source: 'ec2.amazonaws.com', name: 'CreateSnapshot', isReadOnly: false, instances: 'none', weight: 0.5 },
  ...['GetObject', 'PutObject', 'ListObjects', 'ListObjectsV2', 'HeadObject', 'GetBucketLocation', 'ListBuckets', 'GetBucketAcl', 'GetBucketPolicy', 'DeleteObject'].map((name, i) => ({
    source: 's3.amazonaws.com',
    name,
    isReadOnly: !['PutObject', 'DeleteObject'].includes(name),
    instances: 'none' as const,
    weight: 20 - i * 2,
  })),
  ...['AssumeRole', 'GetCallerIdentity', 'GetSessionToken', 'AssumeRoleWithWebIdentity', 'GetFederationToken'].map((name, i) => ({ source: 'sts.amazonaws.com', name, isReadOnly: name.startsWith('Get'), instances: 'none' as const, weight: 15 - i * 3 })),
  ...['ListUsers', 'ListRoles', 'GetUser', 'GetRole', 'ListAttachedRolePolicies', 'ListAccessKeys', 'GetPolicy', 'GetPolicyVersion', 'ListPolicies', 'CreateAccessKey', 'AttachUserPolicy', 'CreateUser', 'PutRolePolicy', 'UpdateAssumeRolePolicy'].map((name, i) => ({
    source: 'iam.amazonaws.com',
    name,
    isReadOnly: /^(List|Get)/.test(name),
    instances: 'none' as const,
    weight: Math.max(0.2, 6 - i * 0.5),
  })),
  ...['Decrypt', 'GenerateDataKey', 'Encrypt', 'DescribeKey'].map((name, i) => ({ source: 'kms.amazonaws.com', name, isReadOnly: name === 'DescribeKey', instances: 'none' as const, weight: 14 - i * 3 })),
  ...['GetParameter', 'GetParameters', 'GetParametersByPath', 'DescribeInstanceInformation', 'SendCommand', 'StartSession', 'UpdateInstanceInformation'].map((name, i) => ({
    source: 'ssm.amazonaws.com',
    name,
    isReadOnly: name.startsWith('Get') || name.startsWith('Describe'),
    instances: name === 'UpdateInstanceInformation' ? ('one' as const) : ('none' as const),
    weight: 10 - i,
  })),
  ...['Invoke', 'GetFunction', 'ListFunctions20150331', 'UpdateFunctionCode20150331v2'].map((name, i) => ({ source: 'lambda.amazonaws.com', name, isReadOnly: name !== 'UpdateFunctionCode20150331v2', instances: 'none' as const, weight: 6 - i })),
  ...['PutLogEvents', 'CreateLogStream', 'DescribeLogGroups', 'FilterLogEvents'].map((name, i) => ({ source: 'logs.amazonaws.com', name, isReadOnly: name.startsWith('Describe') || name.startsWith('Filter'), instances: 'none' as const, weight: 10 - i * 2 })),
  ...['GetSecretValue', 'DescribeSecret', 'ListSecrets'].map((name, i) => ({ source: 'secretsmanager.amazonaws.com', name, isReadOnly: true, instances: 'none' as const, weight: 5 - i })),
  ...['DescribeTrails', 'LookupEvents', 'GetTrailStatus', 'StopLogging'].map((name, i) => ({ source: 'cloudtrail.amazonaws.com', name, isReadOnly: name !== 'StopLogging', instances: 'none' as const, weight: name === 'StopLogging' ? 0.05 : 3 - i * 0.5 })),
  ...['ReceiveMessage', 'SendMessage', 'DeleteMessage', 'GetQueueAttributes'].map((name, i) => ({ source: 'sqs.amazonaws.com', name, isReadOnly: name.startsWith('Get') || name === 'ReceiveMessage', instances: 'none' as const, weight: 8 - i * 1.5 })),
  ...['DescribeStacks', 'ListStacks', 'UpdateStack', 'CreateChangeSet'].map((name, i) => ({ source: 'cloudformation.amazonaws.com', name, isReadOnly: name.startsWith('Describe') || name.startsWith('List'), instances: 'none' as const, weight: 4 - i * 0.8 })),
];

const USER_AGENTS: readonly string[] = [
  'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances',
  'aws-cli/2.13.4 Python/3.11.4 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.cp',
  'aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.6 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.1',
  'aws-sdk-go/1.50.8 (go1.21.6; linux; amd64)',
  'Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51',
  'Boto3/1.28.62 Python/3.9.16 Linux/4.14.336-253.554.amzn2.x86_64 exec-env/AWS_Lambda_python3.9 Botocore/1.31.62',
  'aws-sdk-java/2.21.29 Linux/5.10.205-195.807.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.9+8-LTS Java/17.0.9 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard',
  'aws-sdk-js/3.521.0 ua/2.0 os/linux#5.10.209-198.858.amzn2.x86_64 lang/js md/nodejs#20.11.1 api/s3#3.521.0',
  'APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.38.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.1',
  'console.ec2.amazonaws.com',
  'console.amazonaws.com',
  'AWS Internal',
  'cloudformation.amazonaws.com',
  'autoscaling.amazonaws.com',
  'ssm-agent/3.2.2303.0',
  'amazon-ssm-agent/3.3.40.0',
  'kubernetes/v1.28.5-eks-5e0fdde aws-sdk-go/1.48.11 (go1.20.12; linux; amd64)',
  'aws-sdk-rust/1.1.4 os/linux lang/rust/1.75.0',
  'S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
];

const REGIONS = ['us-east-1', 'us-east-1', 'us-east-1', 'eu-west-1', 'us-west-2', 'ap-southeast-2', 'eu-central-1'];
const ERRORS: readonly { readonly code: string; readonly message: string; readonly weight: number }[] = [
  { code: 'AccessDenied', message: 'User is not authorized to perform this action because no identity-based policy allows it', weight: 5 },
  { code: 'Client.UnauthorizedOperation', message: 'You are not authorized to perform this operation.', weight: 3 },
  { code: 'ThrottlingException', message: 'Rate exceeded', weight: 2 },
  { code: 'Client.InvalidInstanceID.NotFound', message: 'The instance ID does not exist', weight: 1 },
  { code: 'NoSuchKey', message: 'The specified key does not exist.', weight: 2 },
];

/** Who calls: an IAM user, or a role whose sessions rotate. */
interface Actor {
  readonly kind: 'user' | 'role';
  readonly account: string;
  readonly name: string;
  readonly arn: string;
  readonly principalId: string;
  readonly accessKeys: readonly string[];
  readonly ips: readonly string[];
  readonly agents: readonly string[];
  readonly apis: readonly Api[];
  readonly apiWeights: readonly number[];
  /** Roles: how long a session lasts and how many run side by side. */
  readonly sessionMs: number;
  readonly parallelSessions: number;
  readonly sessionStyle: 'instance' | 'botocore' | 'ci' | 'lambda';
  readonly isHeavy: boolean;
}

interface Session {
  readonly name: string;
  readonly arn: string;
  readonly principalId: string;
  readonly accessKey: string;
  readonly createdIso: string;
}

export interface StoreCorpusTargets {
  readonly centerMs: number;
  readonly heavyUserArn: string;
  readonly heavyUserKey: string;
  readonly heavyUserPrincipal: string;
  readonly heavyRoleArn: string;
  readonly heavyRoleSessionArn: string;
  readonly typicalUserArn: string;
  readonly typicalRoleArn: string;
  readonly busyInstanceId: string;
  /** Three eventIDs of the heavy user near the center: a signal's events. */
  readonly signalEventIds: readonly string[];
}

function cumulative(weights: readonly number[]): number[] {
  let total = 0;
  return weights.map((w) => (total += w));
}

function pickCumulative(sums: readonly number[], r: number): number {
  const target = r * (sums[sums.length - 1] ?? 0);
  let lo = 0;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sums[mid] ?? 0) > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export class StoreEventGenerator {
  readonly #rng: Rng;
  readonly #total: number;
  get centerMs(): number {
    return this.#centerMs;
  }
  get heavyUserArn(): string {
    return this.#actors[0]?.arn ?? '';
  }
  readonly #actors: Actor[] = [];
  readonly #actorSums: number[];
  readonly #instances: string[] = [];
  readonly #sessions = new Map<string, Session>();
  readonly #apiSums = cumulative(API_LIST.map((a) => a.weight));
  readonly #errorSums = cumulative(ERRORS.map((e) => e.weight));
  readonly #seed: string;
  readonly #centerMs = START_MS + 20 * DAY_MS;

  constructor(seed: string, total: number) {
    this.#seed = seed;
    this.#rng = new Rng(`store-bench:${seed}`);
    this.#total = total;
    const rng = this.#rng;
    const accounts = Array.from({ length: 20 }, () => rng.digits(12));
    for (let i = 0; i < 8000; i++) this.#instances.push(`i-0${rng.hex(16)}`);
    const weights: number[] = [];
    const makeActor = (kind: 'user' | 'role', name: string, isHeavy: boolean, style: Actor['sessionStyle']): Actor => {
      const account = rng.pick(accounts);
      const apiCount = rng.int(4, 18);
      const apis = Array.from({ length: apiCount }, () => API_LIST[pickCumulative(this.#apiSums, rng.float())] as Api);
      return {
        kind,
        account,
        name,
        arn: kind === 'user' ? `arn:aws:iam::${account}:user/${name}` : `arn:aws:iam::${account}:role/${name}`,
        principalId: `${kind === 'user' ? 'AIDA' : 'AROA'}${rng.upperId(17)}`,
        accessKeys: kind === 'user' ? Array.from({ length: rng.int(1, 2) }, () => `AKIA${rng.upperId(16)}`) : [],
        ips: Array.from({ length: rng.int(1, isHeavy ? 6 : 3) }, () => `${rng.int(3, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`),
        agents: Array.from({ length: rng.int(1, 3) }, () => rng.pick(USER_AGENTS)),
        apis,
        apiWeights: cumulative(apis.map(() => rng.float() * rng.float() + 0.01)),
        sessionMs: style === 'instance' ? 6 * 3_600_000 : style === 'lambda' ? 3_600_000 : style === 'ci' ? 15 * 60_000 : 12 * 3_600_000,
        parallelSessions: style === 'instance' ? rng.int(1, isHeavy ? 40 : 6) : style === 'lambda' ? rng.int(1, 10) : 1,
        sessionStyle: style,
        isHeavy,
      };
    };
    // Four heavy identities: 2.5% of all calls each.
    const heavy = [makeActor('user', 'ci-deployer', true, 'botocore'), makeActor('role', 'eks-node-group-role', true, 'instance'), makeActor('role', 'ingest-lambda-role', true, 'lambda'), makeActor('user', 'terraform', true, 'botocore')];
    for (const actor of heavy) {
      this.#actors.push(actor);
      weights.push(0);
    }
    const styles: Actor['sessionStyle'][] = ['instance', 'botocore', 'ci', 'lambda'];
    for (let i = 0; i < 3000; i++) {
      this.#actors.push(makeActor('user', `${rng.pick(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'svc', 'deploy', 'backup', 'ops'])}-${rng.lowerAlnum(5)}`, false, 'botocore'));
      weights.push(1 / (i + 10));
    }
    for (let i = 0; i < 400; i++) {
      this.#actors.push(makeActor('role', `${rng.pick(['app', 'worker', 'batch', 'etl', 'web', 'api', 'github-actions', 'admin', 'readonly'])}-${rng.lowerAlnum(6)}-role`, false, rng.pick(styles)));
      weights.push(3 / (i + 10));
    }
    const light = weights.reduce((a, b) => a + b, 0);
    // Heavy ones: 2.5% each of the total, the rest shared by the others.
    for (let i = 0; i < heavy.length; i++) weights[i] = (light * 0.025) / 0.9;
    this.#actorSums = cumulative(weights);
  }

  #session(actor: Actor, timeMs: number, rng: Rng): Session {
    const slot = Math.floor(timeMs / actor.sessionMs);
    const lane = rng.int(0, actor.parallelSessions - 1);
    const key = `${actor.arn}|${slot}|${lane}`;
    let session = this.#sessions.get(key);
    if (session === undefined) {
      const local = new Rng(key);
      const name =
        actor.sessionStyle === 'instance'
          ? (this.#instances[local.int(0, this.#instances.length - 1)] ?? 'i-0')
          : actor.sessionStyle === 'lambda'
            ? actor.name.replace(/-role$/, '')
            : actor.sessionStyle === 'ci'
              ? `GitHubActions-${local.digits(10)}`
              : `botocore-session-${local.digits(10)}`;
      session = {
        name,
        arn: `arn:aws:sts::${actor.account}:assumed-role/${actor.name}/${name}`,
        principalId: `${actor.principalId}:${name}`,
        accessKey: `ASIA${local.upperId(16)}`,
        createdIso: new Date(slot * actor.sessionMs).toISOString().replace('.000Z', 'Z'),
      };
      if (this.#sessions.size > 200_000) this.#sessions.clear();
      this.#sessions.set(key, session);
    }
    return session;
  }

  /** Chunk number `chunk` (events `chunk * size` up to `size` more, fewer at the end), in event-time order. */
  chunk(chunk: number, size: number): IndexedEvent[] {
    const out: IndexedEvent[] = [];
    const rng = new Rng(`store-bench:${this.#seed}:chunk:${chunk}`);
    const end = Math.min(this.#total, (chunk + 1) * size);
    for (let index = chunk * size; index < end; index++) {
      const timeMs = START_MS + Math.floor((index * SPAN_MS) / this.#total) + rng.int(0, 999);
      const actor = this.#actors[pickCumulative(this.#actorSums, rng.float())] as Actor;
      const api = rng.chance(0.02) ? (API_LIST[pickCumulative(this.#apiSums, rng.float())] as Api) : (actor.apis[pickCumulative(actor.apiWeights, rng.float())] as Api);
      const region = rng.pick(REGIONS);
      const ip = rng.chance(0.03) ? `${rng.int(3, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}` : rng.pick(actor.ips);
      const agent = rng.chance(0.01) ? rng.pick(USER_AGENTS) : rng.pick(actor.agents);
      const error = rng.chance(0.03) ? ERRORS[pickCumulative(this.#errorSums, rng.float())] : undefined;
      const eventId = rng.uuid();
      let userIdentity: JsonObject;
      if (actor.kind === 'user') {
        userIdentity = { type: 'IAMUser', principalId: actor.principalId, arn: actor.arn, accountId: actor.account, accessKeyId: rng.pick(actor.accessKeys), userName: actor.name };
      } else {
        const s = this.#session(actor, timeMs, rng);
        userIdentity = {
          type: 'AssumedRole',
          principalId: s.principalId,
          arn: s.arn,
          accountId: actor.account,
          accessKeyId: s.accessKey,
          sessionContext: {
            sessionIssuer: { type: 'Role', principalId: actor.principalId, arn: actor.arn, accountId: actor.account, userName: actor.name },
            webIdFederationData: {},
            attributes: { creationDate: s.createdIso, mfaAuthenticated: 'false' },
            ...(actor.sessionStyle === 'instance' ? { ec2RoleDelivery: '2.0' } : {}),
          },
        };
      }
      let requestParameters: JsonObject | null = null;
      if (api.instances === 'one') requestParameters = { instanceId: rng.pick(this.#instances), ...(api.name === 'ModifyInstanceAttribute' ? { attribute: 'userData', value: '<sensitiveDataRemoved>' } : {}) };
      else if (api.instances === 'set') requestParameters = { instancesSet: { items: Array.from({ length: rng.chance(0.8) ? 1 : rng.int(2, 4) }, () => ({ instanceId: rng.pick(this.#instances) })) }, filterSet: {} };
      else if (api.source === 's3.amazonaws.com') requestParameters = { bucketName: `data-${actor.account}-${region}`, Host: `data-${actor.account}-${region}.s3.${region}.amazonaws.com`, key: `exports/${rng.lowerAlnum(8)}/${rng.lowerAlnum(12)}.json.gz` };
      else if (api.name === 'AssumeRole') requestParameters = { roleArn: `arn:aws:iam::${actor.account}:role/${rng.lowerAlnum(8)}-role`, roleSessionName: `session-${rng.digits(10)}`, durationSeconds: 3600 };
      const record: JsonObject = {
        eventVersion: '1.09',
        userIdentity,
        eventTime: new Date(timeMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        eventSource: api.source,
        eventName: api.name,
        awsRegion: region,
        sourceIPAddress: ip,
        userAgent: agent,
        ...(error !== undefined ? { errorCode: error.code, errorMessage: error.message } : {}),
        requestParameters,
        responseElements: error === undefined && !api.isReadOnly ? { requestId: rng.uuid(), _return: true } : null,
        requestID: rng.uuid(),
        eventID: eventId,
        readOnly: api.isReadOnly,
        eventType: 'AwsApiCall',
        managementEvent: true,
        recipientAccountId: actor.account,
        eventCategory: 'Management',
        tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${api.source.split('.')[0] ?? 'ec2'}.${region}.amazonaws.com` },
      };
      const event = indexedEventOf(record);
      if (event === undefined) throw new Error('generated record without a time');
      out.push(event);
    }
    return out;
  }

  /** What the benchmark queries for; `signalEventIds` are looked up in the store once it is filled. */
  targets(signalEventIds: readonly string[]): StoreCorpusTargets {
    const [heavyUser, heavyRole] = this.#actors;
    if (heavyUser === undefined || heavyRole === undefined) throw new Error('no actors');
    const typicalUser = this.#actors[4 + 300];
    const typicalRole = this.#actors[4 + 3000 + 40];
    const heavySession = this.#session(heavyRole, this.#centerMs, new Rng('target'));
    return {
      centerMs: this.#centerMs,
      heavyUserArn: heavyUser.arn,
      heavyUserKey: heavyUser.accessKeys[0] ?? '',
      heavyUserPrincipal: heavyUser.principalId,
      heavyRoleArn: heavyRole.arn,
      heavyRoleSessionArn: heavySession.arn,
      typicalUserArn: typicalUser?.arn ?? '',
      typicalRoleArn: typicalRole?.arn ?? '',
      busyInstanceId: this.#instances[0] ?? '',
      signalEventIds,
    };
  }
}
