/**
 * Runs a response plan's automated steps with the AWS SDK v3, in order, stopping at the first
 * failure. The clients and the file access are injected: the CLI passes real ones, tests pass
 * clients mocked with aws-sdk-client-mock. Manual steps are reported, never run.
 *
 * Each outcome carries the AWS error code of a failure (`AccessDenied`, `UnauthorizedOperation`…)
 * so that the caller can log it in the signal's notes.
 */
import { CreateSnapshotCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, ModifyInstanceAttributeCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import type { EC2Client, Instance, Reservation } from '@aws-sdk/client-ec2';
import { DeleteLoginProfileCommand, GetRoleCommand, ListAccessKeysCommand, PutRolePolicyCommand, PutUserPolicyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import type { AccessKeyMetadata, IAMClient } from '@aws-sdk/client-iam';
import type { ResponseAction, ResponsePlan, ResponseStep } from './plan.js';

export interface ResponseClients {
  readonly iam: IAMClient;
  readonly ec2: EC2Client;
}

export interface ExecuteOptions {
  readonly clients: ResponseClients;
  /** Reads the user data a restore step puts back. */
  readonly readFile: (path: string) => Promise<Uint8Array>;
  /** Writes an evidence file unless it exists; resolves false when it existed (left as it was). */
  readonly writeNewFile: (path: string, text: string) => Promise<boolean>;
  /** Called before each step runs (automated or not) and after each outcome; awaited. */
  readonly onStepStart?: (step: ResponseStep, index: number) => Promise<void> | void;
  readonly onOutcome?: (outcome: StepOutcome) => Promise<void> | void;
  /** Waiting for instances to stop: poll every `pollMs` (default 5 s) for at most `stopTimeoutMs` (default 10 min). */
  readonly pollMs?: number;
  readonly stopTimeoutMs?: number;
  /** Injected for tests (default setTimeout). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export type StepStatus = 'ok' | 'failed' | 'manual' | 'not-run';

export interface StepOutcome {
  readonly step: ResponseStep;
  /** Zero-based position in the plan. */
  readonly index: number;
  readonly status: StepStatus;
  /** What was done or what went wrong (AWS values inside: escape before printing). */
  readonly detail: string;
  /** The AWS error code (or Node error code) of a failure. */
  readonly errorCode?: string;
}

export interface ExecutionReport {
  readonly outcomes: readonly StepOutcome[];
  /** Every automated step succeeded. */
  readonly isComplete: boolean;
}

/** A step failure with a code: an AWS error's, or one of ours (E_STOP_TIMEOUT…). */
class StepFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The code to log for an error: the AWS error code (`Code`, else the exception name), else a Node `code`. */
export function errorCodeOf(error: unknown): string {
  if (error instanceof StepFailure) return error.code;
  if (typeof error === 'object' && error !== null) {
    const e = error as { Code?: unknown; name?: unknown; code?: unknown };
    if (typeof e.Code === 'string' && e.Code !== '') return e.Code;
    if (typeof e.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name;
    if (typeof e.code === 'string' && e.code !== '') return e.code;
  }
  return 'Error';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isNoSuchEntity(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code === 'NoSuchEntity' || code === 'NoSuchEntityException';
}

async function allAccessKeys(iam: IAMClient, userName: string): Promise<AccessKeyMetadata[]> {
  const keys: AccessKeyMetadata[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListAccessKeysCommand({ UserName: userName, ...(marker !== undefined ? { Marker: marker } : {}) }));
    keys.push(...(page.AccessKeyMetadata ?? []));
    marker = page.IsTruncated === true ? page.Marker : undefined;
  } while (marker !== undefined);
  return keys;
}

interface TrustSummary {
  readonly principals: string[];
  readonly conditions: string[];
}

/** Who a trust policy lets assume the role: `AWS arn…`, `Service ec2.amazonaws.com`, `Federated …`, with condition keys. */
export function summariseTrustPolicy(documentText: string): TrustSummary | undefined {
  let document: unknown;
  try {
    document = JSON.parse(decodeURIComponent(documentText));
  } catch {
    try {
      document = JSON.parse(documentText);
    } catch {
      return undefined;
    }
  }
  if (typeof document !== 'object' || document === null) return undefined;
  const statementValue = (document as { Statement?: unknown }).Statement;
  const statements = Array.isArray(statementValue) ? (statementValue as unknown[]) : [statementValue];
  const principals: string[] = [];
  const conditions: string[] = [];
  for (const statement of statements) {
    if (typeof statement !== 'object' || statement === null) continue;
    const s = statement as { Effect?: unknown; Principal?: unknown; Condition?: unknown };
    if (s.Effect !== 'Allow') continue;
    if (s.Principal === '*') principals.push('anyone (*)');
    else if (typeof s.Principal === 'object' && s.Principal !== null) {
      for (const [kind, value] of Object.entries(s.Principal as Record<string, unknown>)) {
        for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) if (typeof v === 'string') principals.push(`${kind} ${v}`);
      }
    }
    if (typeof s.Condition === 'object' && s.Condition !== null) {
      for (const [operator, block] of Object.entries(s.Condition as Record<string, unknown>)) {
        if (typeof block === 'object' && block !== null) for (const key of Object.keys(block)) conditions.push(`${operator} ${key}`);
      }
    }
  }
  return { principals, conditions };
}

function instancesOf(reservations: readonly Reservation[] | undefined): Instance[] {
  return (reservations ?? []).flatMap((r) => r.Instances ?? []);
}

async function waitUntilStopped(ec2: EC2Client, instanceIds: readonly string[], options: ExecuteOptions): Promise<void> {
  const pollMs = options.pollMs ?? 5_000;
  const timeoutMs = options.stopTimeoutMs ?? 600_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let waited = 0; ; waited += pollMs) {
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...instanceIds] }));
    const states = new Map(instancesOf(described.Reservations).map((i) => [i.InstanceId ?? '', i.State?.Name ?? 'unknown']));
    const gone = instanceIds.filter((id) => states.get(id) === 'terminated' || states.get(id) === 'shutting-down');
    if (gone.length > 0) throw new StepFailure('E_INSTANCE_TERMINATED', `${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} terminated: its volumes may already be gone`);
    const running = instanceIds.filter((id) => states.get(id) !== 'stopped');
    if (running.length === 0) return;
    if (waited >= timeoutMs) throw new StepFailure('E_STOP_TIMEOUT', `${running.join(', ')} not stopped after ${Math.round(timeoutMs / 1000)} s (state ${running.map((id) => states.get(id) ?? 'not found').join(', ')})`);
    await sleep(pollMs);
  }
}

/** Perform one action; resolves to the detail to log, throws on failure. */
async function perform(action: ResponseAction, options: ExecuteOptions): Promise<string> {
  const { iam, ec2 } = options.clients;
  switch (action.kind) {
    case 'iam:list-access-keys': {
      const keys = await allAccessKeys(iam, action.userName);
      if (keys.length === 0) return `${action.userName} has no access keys`;
      return keys.map((k) => `${k.AccessKeyId ?? '?'} ${k.Status ?? '?'} (created ${k.CreateDate?.toISOString() ?? '?'})`).join('; ');
    }
    case 'iam:deactivate-access-keys': {
      const keys = await allAccessKeys(iam, action.userName);
      const active = keys.filter((k) => k.Status === 'Active' && k.AccessKeyId !== undefined);
      for (const key of active) await iam.send(new UpdateAccessKeyCommand({ UserName: action.userName, AccessKeyId: key.AccessKeyId, Status: 'Inactive' }));
      const inactive = keys.filter((k) => k.Status !== 'Active').map((k) => k.AccessKeyId ?? '?');
      const done = active.length > 0 ? `deactivated ${active.map((k) => k.AccessKeyId ?? '?').join(', ')}` : 'no active access key to deactivate';
      return inactive.length > 0 ? `${done} (already inactive: ${inactive.join(', ')})` : done;
    }
    case 'iam:delete-login-profile':
      try {
        await iam.send(new DeleteLoginProfileCommand({ UserName: action.userName }));
        return `deleted the login profile of ${action.userName}`;
      } catch (error) {
        if (isNoSuchEntity(error)) return `${action.userName} has no login profile (no console password): nothing to delete`;
        throw error;
      }
    case 'iam:revoke-role-sessions':
      await iam.send(new PutRolePolicyCommand({ RoleName: action.roleName, PolicyName: action.policyName, PolicyDocument: action.policyDocument }));
      return `put inline policy ${action.policyName} on role ${action.roleName}`;
    case 'iam:revoke-user-sessions':
      await iam.send(new PutUserPolicyCommand({ UserName: action.userName, PolicyName: action.policyName, PolicyDocument: action.policyDocument }));
      return `put inline policy ${action.policyName} on user ${action.userName}`;
    case 'iam:show-role-trust': {
      const role = await iam.send(new GetRoleCommand({ RoleName: action.roleName }));
      const text = role.Role?.AssumeRolePolicyDocument;
      if (text === undefined) return `role ${action.roleName} has no trust policy`;
      const summary = summariseTrustPolicy(text);
      if (summary === undefined) return `trust policy of ${action.roleName} (unreadable): ${text.slice(0, 500)}`;
      const who = summary.principals.length > 0 ? summary.principals.join(', ') : 'no principal';
      return `${action.roleName} can be assumed by: ${who}${summary.conditions.length > 0 ? `; conditions: ${summary.conditions.join(', ')}` : '; no conditions'}`;
    }
    case 'ec2:save-user-data': {
      const attribute = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: action.instanceId, Attribute: 'userData' }));
      const value = attribute.UserData?.Value;
      if (value === undefined || value === '') return `${action.instanceId} has no user data`;
      const isWritten = await options.writeNewFile(action.file, `${value}\n`);
      return isWritten ? `saved the user data of ${action.instanceId} (${value.length} base64 characters) to ${action.file}` : `${action.file} already exists: kept it as it was (the copy saved by an earlier run)`;
    }
    case 'ec2:stop-instances': {
      const result = await ec2.send(new StopInstancesCommand({ InstanceIds: [...action.instanceIds] }));
      const before = (result.StoppingInstances ?? []).map((c) => `${c.InstanceId ?? '?'} ${c.PreviousState?.Name ?? '?'} → ${c.CurrentState?.Name ?? '?'}`).join(', ');
      await waitUntilStopped(ec2, action.instanceIds, options);
      return `${before || action.instanceIds.join(', ')}; now stopped`;
    }
    case 'ec2:snapshot-volumes': {
      const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...action.instanceIds] }));
      const made: string[] = [];
      const volumes = instancesOf(described.Reservations).flatMap((instance) =>
        (instance.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.VolumeId !== undefined ? [{ instanceId: instance.InstanceId ?? '?', volumeId: m.Ebs.VolumeId, device: m.DeviceName ?? '?' }] : [])),
      );
      if (volumes.length === 0) return `no EBS volume is attached to ${action.instanceIds.join(', ')}`;
      for (const v of volumes) {
        try {
          const snapshot = await ec2.send(
            new CreateSnapshotCommand({
              VolumeId: v.volumeId,
              Description: `trailhound signal ${action.signalId}: forensic copy of ${v.device} of ${v.instanceId}`,
              TagSpecifications: [
                {
                  ResourceType: 'snapshot',
                  Tags: [
                    { Key: 'trailhound:signal', Value: action.signalId },
                    { Key: 'trailhound:instance', Value: v.instanceId },
                  ],
                },
              ],
            }),
          );
          made.push(`${snapshot.SnapshotId ?? '?'} of ${v.volumeId} (${v.instanceId} ${v.device})`);
        } catch (error) {
          const sofar = made.length > 0 ? ` after ${made.join(', ')}` : '';
          throw new StepFailure(errorCodeOf(error), `snapshot of ${v.volumeId} failed${sofar}: ${messageOf(error)}`);
        }
      }
      return `started ${made.join(', ')}`;
    }
    case 'ec2:restore-user-data': {
      const bytes = await options.readFile(action.file);
      await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: action.instanceId, UserData: { Value: bytes } }));
      return `put ${bytes.length} bytes of user data from ${action.file} on ${action.instanceId}`;
    }
  }
}

/**
 * Run `plan`'s automated steps in order. Stops at the first failure: the steps after it are
 * `not-run`. Manual steps are `manual` and do not stop anything.
 */
export async function executePlan(plan: ResponsePlan, options: ExecuteOptions): Promise<ExecutionReport> {
  const outcomes: StepOutcome[] = [];
  let failed = false;
  for (const [index, step] of plan.steps.entries()) {
    let outcome: StepOutcome;
    if (failed) outcome = { step, index, status: 'not-run', detail: 'not run: an earlier step failed' };
    else if (step.action === null) outcome = { step, index, status: 'manual', detail: 'manual step: do it by hand' };
    else {
      await options.onStepStart?.(step, index);
      try {
        outcome = { step, index, status: 'ok', detail: await perform(step.action, options) };
      } catch (error) {
        failed = true;
        outcome = { step, index, status: 'failed', detail: error instanceof StepFailure ? error.message : messageOf(error), errorCode: errorCodeOf(error) };
      }
    }
    outcomes.push(outcome);
    await options.onOutcome?.(outcome);
  }
  return { outcomes, isComplete: !failed };
}
