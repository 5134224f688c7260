/**
 * Who makes the calls in the benchmark corpus: per account, a deterministic pool of callers of every
 * kind a real organization trail shows (IAM users, IAM Identity Center (SSO) sessions, EC2
 * instance-profile sessions, Lambda and automation roles, an instance scheduler, rarely the root
 * user), each with its `userIdentity` JSON written once, in CloudTrail's key order.
 */
import { Rng } from './rng.js';
import type { Weighted } from './rng.js';

export type IdentityKind = 'iam-user' | 'sso' | 'instance-profile' | 'app-role' | 'automation' | 'scheduler' | 'root' | 'cloudformation';

export interface Identity {
  readonly kind: IdentityKind;
  readonly arn: string;
  /** The `userIdentity` object, serialised. */
  readonly json: string;
  readonly sourceIp: string;
  readonly userAgent: string;
}

export interface IdentityPool {
  readonly account: string;
  /** A caller for ordinary traffic, weighted by how often each kind shows in a real trail. */
  pick(rng: Rng): Identity;
  /** The account's instance scheduler (a Lambda role that stops and starts instances on a timetable). */
  readonly scheduler: Identity;
  /** The account's Terraform role (it changes instance attributes, never user data). */
  readonly terraform: Identity;
}

/** User agents of the usual clients; none contains a character that needs escaping in JSON. */
export const USER_AGENTS = {
  cli: [
    'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances',
    'aws-cli/2.17.32 md/awscrt#0.21.2 ua/2.0 os/linux#6.8.0-1015-aws md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off',
    'aws-cli/2.13.25 Python/3.11.6 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.ls',
  ],
  sdk: [
    'Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.51',
    'aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.3',
    'aws-sdk-java/2.25.6 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard',
    'aws-sdk-js/3.525.0 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 lang/js md/nodejs#20.11.1 api/s3#3.525.0',
  ],
  console: ['AWS Internal', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15'],
  terraform: [
    'APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.39.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.3',
  ],
} as const;

const FIRST_NAMES = ['amira', 'bastien', 'chloe', 'dmitri', 'elena', 'farid', 'greta', 'hiro', 'ines', 'jonas', 'kwame', 'lucia', 'mateo', 'noor', 'olga', 'pavel'];
const LAST_NAMES = ['alvarez', 'brandt', 'costa', 'dubois', 'eriksen', 'fischer', 'garcia', 'haddad', 'ivanova', 'jensen', 'kowalski', 'lindqvist'];
const APPS = ['orders', 'payments', 'catalog', 'search', 'billing', 'ingest', 'reports', 'auth', 'checkout', 'inventory'];
const SSO_PERMISSION_SETS = ['AdministratorAccess', 'PowerUserAccess', 'ReadOnlyAccess', 'DeveloperAccess', 'SecurityAudit'];

/** A public-looking address from the documentation and benchmarking ranges (never a real host). */
export function documentationIp(rng: Rng): string {
  const prefix = rng.pick(['198.51.100', '203.0.113', '192.0.2', '198.18.7', '198.19.44']);
  return `${prefix}.${rng.int(1, 254)}`;
}

function principalSuffix(rng: Rng): string {
  return rng.upperId(17);
}

function creationDate(baseMs: number, rng: Rng): string {
  return new Date(baseMs - rng.int(60, 36_000) * 1000).toISOString().slice(0, 19) + 'Z';
}

export interface AssumedRoleSpec {
  readonly account: string;
  readonly roleName: string;
  /** The path of the role in IAM, with slashes: `/`, `/aws-reserved/sso.amazonaws.com/`. */
  readonly rolePath: string;
  readonly sessionName: string;
  readonly mfa: boolean;
  readonly ec2RoleDelivery?: boolean;
  readonly invokedBy?: string;
}

/** An `AssumedRole` userIdentity, keys in CloudTrail's order. */
export function assumedRoleIdentity(spec: AssumedRoleSpec, rng: Rng, baseMs: number): { arn: string; value: Record<string, unknown> } {
  const roleId = `AROA${principalSuffix(rng)}`;
  const arn = `arn:aws:sts::${spec.account}:assumed-role/${spec.roleName}/${spec.sessionName}`;
  const sessionContext: Record<string, unknown> = {
    sessionIssuer: { type: 'Role', principalId: roleId, arn: `arn:aws:iam::${spec.account}:role${spec.rolePath}${spec.roleName}`, accountId: spec.account, userName: spec.roleName },
    webIdFederationData: {},
    attributes: { creationDate: creationDate(baseMs, rng), mfaAuthenticated: spec.mfa ? 'true' : 'false' },
  };
  if (spec.ec2RoleDelivery === true) sessionContext['ec2RoleDelivery'] = '2.0';
  const value: Record<string, unknown> = {
    type: 'AssumedRole',
    principalId: `${roleId}:${spec.sessionName}`,
    arn,
    accountId: spec.account,
    accessKeyId: `ASIA${rng.upperId(16)}`,
    sessionContext,
  };
  if (spec.invokedBy !== undefined) value['invokedBy'] = spec.invokedBy;
  return { arn, value };
}

/** An `IAMUser` userIdentity (long-term access key), keys in CloudTrail's order. */
export function iamUserIdentity(account: string, userName: string, rng: Rng): { arn: string; value: Record<string, unknown> } {
  const arn = `arn:aws:iam::${account}:user/${userName}`;
  return {
    arn,
    value: { type: 'IAMUser', principalId: `AIDA${principalSuffix(rng)}`, arn, accountId: account, accessKeyId: `AKIA${rng.upperId(16)}`, userName },
  };
}

function make(kind: IdentityKind, built: { arn: string; value: Record<string, unknown> }, sourceIp: string, userAgent: string): Identity {
  return { kind, arn: built.arn, json: JSON.stringify(built.value), sourceIp, userAgent };
}

/** The caller pool of one account; the same seed and account always give the same pool. */
export function identityPool(seed: string, account: string, baseMs: number): IdentityPool {
  const rng = new Rng(`${seed}:identities:${account}`);
  const users: Identity[] = [];
  for (let i = 0; i < 6; i++) {
    const name = `${rng.pick(FIRST_NAMES)}.${rng.pick(LAST_NAMES)}`;
    users.push(make('iam-user', iamUserIdentity(account, name, rng), documentationIp(rng), rng.pick([...USER_AGENTS.cli, ...USER_AGENTS.sdk])));
  }
  const sso: Identity[] = [];
  for (let i = 0; i < 6; i++) {
    const permissionSet = rng.pick(SSO_PERMISSION_SETS);
    const email = `${rng.pick(FIRST_NAMES)}.${rng.pick(LAST_NAMES)}@example.com`;
    const spec: AssumedRoleSpec = { account, roleName: `AWSReservedSSO_${permissionSet}_${rng.hex(16)}`, rolePath: '/aws-reserved/sso.amazonaws.com/', sessionName: email, mfa: false };
    sso.push(make('sso', assumedRoleIdentity(spec, rng, baseMs), documentationIp(rng), rng.pick([...USER_AGENTS.console, ...USER_AGENTS.cli])));
  }
  const instances: Identity[] = [];
  for (let i = 0; i < 6; i++) {
    const spec: AssumedRoleSpec = { account, roleName: `${rng.pick(APPS)}-ec2-instance-role`, rolePath: '/', sessionName: `i-0${rng.hex(16)}`, mfa: false, ec2RoleDelivery: true };
    instances.push(make('instance-profile', assumedRoleIdentity(spec, rng, baseMs), `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, rng.pick(USER_AGENTS.sdk)));
  }
  const apps: Identity[] = [];
  for (let i = 0; i < 6; i++) {
    const app = `${rng.pick(APPS)}-${rng.pick(['api', 'worker', 'consumer', 'cron'])}`;
    const spec: AssumedRoleSpec = { account, roleName: `${app}-lambda-role`, rolePath: '/service-role/', sessionName: app, mfa: false };
    apps.push(make('app-role', assumedRoleIdentity(spec, rng, baseMs), documentationIp(rng), rng.pick(USER_AGENTS.sdk)));
  }
  const ci = make(
    'automation',
    assumedRoleIdentity({ account, roleName: 'github-actions-deploy', rolePath: '/', sessionName: `GitHubActions-${rng.digits(10)}`, mfa: false }, rng, baseMs),
    documentationIp(rng),
    rng.pick(USER_AGENTS.sdk),
  );
  const terraform = make(
    'automation',
    assumedRoleIdentity({ account, roleName: 'terraform-apply', rolePath: '/', sessionName: `terraform-${rng.digits(19)}`, mfa: false }, rng, baseMs),
    documentationIp(rng),
    rng.pick(USER_AGENTS.terraform),
  );
  const scheduler = make(
    'scheduler',
    assumedRoleIdentity({ account, roleName: 'InstanceSchedulerRole', rolePath: '/service-role/', sessionName: 'instance-scheduler-StartStop', mfa: false }, rng, baseMs),
    documentationIp(rng),
    rng.pick(USER_AGENTS.sdk),
  );
  const rootArn = `arn:aws:iam::${account}:root`;
  const root: Identity = {
    kind: 'root',
    arn: rootArn,
    json: JSON.stringify({
      type: 'Root',
      principalId: account,
      arn: rootArn,
      accountId: account,
      accessKeyId: `ASIA${rng.upperId(16)}`,
      sessionContext: { sessionIssuer: {}, webIdFederationData: {}, attributes: { creationDate: creationDate(baseMs, rng), mfaAuthenticated: 'true' } },
    }),
    sourceIp: documentationIp(rng),
    userAgent: rng.pick(USER_AGENTS.console),
  };

  const groups: Weighted<readonly Identity[]>[] = [
    { weight: 20, value: users },
    { weight: 24, value: sso },
    { weight: 24, value: instances },
    { weight: 26, value: apps },
    { weight: 4, value: [ci, terraform] },
    { weight: 0.05, value: [root] },
  ];
  return {
    account,
    scheduler,
    terraform,
    pick: (r: Rng) => r.pick(r.weighted(groups)),
  };
}
