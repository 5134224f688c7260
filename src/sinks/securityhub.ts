/**
 * The `securityhub[:REGION]` sink: imports each signal change as an ASFF finding (src/sinks/asff.ts)
 * into AWS Security Hub with BatchImportFindings, at most 100 findings per call (Security Hub's
 * limit), calls one after another in order. A network sink: the outbox runner
 * (src/pipeline/outbox-delivery.ts) retries a failed delivery with backoff.
 *
 * A call counts only when Security Hub took every finding of it: findings it lists in
 * `FailedFindings` make the delivery fail, naming their ids; the changes before the first failed one
 * count as delivered (`SinkDeliveryError.delivered`). The same signal twice in one delivery (created,
 * then updated) goes into separate calls, so the later version is imported after the earlier one.
 *
 * The account: `accountId` when given, else the one in the ARN of the account's hub (DescribeHub),
 * asked once, at the first delivery (so a sink opens without the network). The region: `region`, else
 * the SDK's default (AWS_REGION, the profile). Credentials come from the SDK's default chain.
 */
import { BatchImportFindingsCommand, DescribeHubCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import type { AwsSecurityFinding } from '@aws-sdk/client-securityhub';
import { asffFinding } from './asff.js';
import { SinkDeliveryError } from './http-post.js';
import { DeliveryQueue } from './sink.js';
import type { SignalChange, SignalSink } from './sink.js';

/** Security Hub's limit of findings per BatchImportFindings call. */
export const SECURITY_HUB_BATCH_LIMIT = 100;

/** FailedFindings error codes that mean the finding itself is refused (retrying it cannot help). */
const REFUSED_FINDING_CODES = new Set(['InvalidInput', 'InvalidInputException', 'FindingSizeExceeded']);

/** SDK errors that mean the request itself is refused. */
const REFUSED_REQUEST_ERRORS = new Set(['InvalidInputException']);

export interface SecurityHubSinkOptions {
  /** trailhound's version (in each finding's ProductFields). */
  readonly productVersion: string;
  /** The Security Hub region (default: the SDK's, from AWS_REGION or the profile). */
  readonly region?: string;
  /** The Security Hub account (default: read from DescribeHub at the first delivery). */
  readonly accountId?: string;
  /** A client to use instead of making one (tests, custom configuration). */
  readonly client?: SecurityHubClient;
  /** Endpoint override for the client the sink makes (a VPC endpoint, a local test server). */
  readonly endpoint?: string;
  /** Static credentials for the client the sink makes (default: the SDK's chain). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** One request's time limit, connection included, for the client the sink makes (default the SDK's). */
  readonly requestTimeoutMs?: number;
  /** The SDK's attempts per call (default the SDK's, 3); the outbox runner retries beyond that. */
  readonly maxAttempts?: number;
  /** Most findings per call (default and maximum 100). */
  readonly batchSize?: number;
  /** The clock for `UpdatedAt` (default Date.now). */
  readonly now?: () => number;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.name !== 'Error' && !error.message.includes(error.name) ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}

/**
 * Splits the changes into calls: at most `limit` each, and a new call where a signal would come
 * twice into one (each call's findings have distinct ids).
 */
export function importBatches(changes: readonly SignalChange[], limit: number): SignalChange[][] {
  const batches: SignalChange[][] = [];
  let current: SignalChange[] = [];
  let ids = new Set<string>();
  for (const change of changes) {
    if (current.length >= limit || ids.has(change.signal.id)) {
      batches.push(current);
      current = [];
      ids = new Set();
    }
    current.push(change);
    ids.add(change.signal.id);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The account id in a Security Hub hub ARN (`arn:aws:securityhub:REGION:ACCOUNT:hub/default`). */
export function accountOfHubArn(arn: string): string | undefined {
  const account = arn.split(':')[4];
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
}

class SecurityHubSink implements SignalSink {
  readonly name: string;
  private readonly queue = new DeliveryQueue();
  private readonly client: SecurityHubClient;
  private readonly batchSize: number;
  private readonly now: () => number;
  private target: { readonly accountId: string; readonly region: string } | undefined;
  private lastUpdatedMs = 0;
  private isClosed = false;

  constructor(private readonly options: SecurityHubSinkOptions) {
    this.name = options.region === undefined ? 'securityhub' : `securityhub:${options.region}`;
    this.client =
      options.client ??
      new SecurityHubClient({
        ...(options.region !== undefined ? { region: options.region } : {}),
        ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
        ...(options.credentials !== undefined ? { credentials: { ...options.credentials } } : {}),
        ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
        ...(options.requestTimeoutMs !== undefined ? { requestHandler: { requestTimeout: options.requestTimeoutMs, connectionTimeout: options.requestTimeoutMs } } : {}),
      });
    this.batchSize = Math.max(1, Math.min(SECURITY_HUB_BATCH_LIMIT, options.batchSize ?? SECURITY_HUB_BATCH_LIMIT));
    this.now = options.now ?? Date.now;
  }

  deliver(changes: readonly SignalChange[]): Promise<void> {
    if (this.isClosed) return Promise.reject(new SinkDeliveryError(`cannot deliver to ${this.name}: the sink is closed`));
    if (changes.length === 0) return Promise.resolve();
    return this.queue.run(() => this.importAll(changes));
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await this.queue.idle();
    if (this.options.client === undefined) this.client.destroy();
  }

  private async importAll(changes: readonly SignalChange[]): Promise<void> {
    const target = await this.resolveTarget();
    let delivered = 0;
    for (const batch of importBatches(changes, this.batchSize)) {
      // UpdatedAt strictly increases, so Security Hub takes each version as newer than the last.
      const nowMs = Math.max(this.now(), this.lastUpdatedMs + 1);
      this.lastUpdatedMs = nowMs;
      const findings = batch.map((change) => asffFinding(change, { ...target, productVersion: this.options.productVersion, nowMs }) as unknown as AwsSecurityFinding);
      let answer;
      try {
        answer = await this.client.send(new BatchImportFindingsCommand({ Findings: findings }));
      } catch (error) {
        const name = error instanceof Error ? error.name : '';
        throw new SinkDeliveryError(`cannot import findings into ${this.name}: ${errorText(error)}`, { delivered, isPermanent: REFUSED_REQUEST_ERRORS.has(name), cause: error });
      }
      const failed = answer.FailedFindings ?? [];
      if (failed.length > 0 || (answer.FailedCount ?? 0) > 0) {
        const failedIds = new Set(failed.map((f) => f.Id ?? ''));
        const firstFailed = batch.findIndex((change) => failedIds.has(change.signal.id));
        const listed = failed
          .slice(0, 5)
          .map((f) => `${f.Id ?? '?'} (${f.ErrorCode ?? 'error'}: ${f.ErrorMessage ?? ''})`)
          .join('; ');
        const more = failed.length > 5 ? ` and ${failed.length - 5} more` : '';
        throw new SinkDeliveryError(`cannot import ${failed.length || (answer.FailedCount ?? 0)} finding(s) into ${this.name}: ${listed}${more}`, {
          delivered: delivered + (firstFailed >= 0 ? firstFailed : 0),
          isPermanent: failed.length > 0 && failed.every((f) => REFUSED_FINDING_CODES.has(f.ErrorCode ?? '')),
        });
      }
      delivered += batch.length;
    }
  }

  private async resolveTarget(): Promise<{ readonly accountId: string; readonly region: string }> {
    if (this.target !== undefined) return this.target;
    let region: string;
    try {
      region = this.options.region ?? (await this.client.config.region());
    } catch (error) {
      throw new SinkDeliveryError(`cannot deliver to ${this.name}: no AWS region (use securityhub:REGION or set AWS_REGION): ${errorText(error)}`, { cause: error });
    }
    let accountId = this.options.accountId;
    if (accountId === undefined) {
      try {
        const hub = await this.client.send(new DescribeHubCommand({}));
        accountId = accountOfHubArn(hub.HubArn ?? '');
      } catch (error) {
        throw new SinkDeliveryError(`cannot find the Security Hub account in ${region} (is Security Hub enabled there, and may these credentials call securityhub:DescribeHub?): ${errorText(error)}`, { cause: error });
      }
      if (accountId === undefined) throw new SinkDeliveryError(`cannot find the Security Hub account in ${region}: DescribeHub returned no hub ARN`);
    }
    this.target = { accountId, region };
    return this.target;
  }
}

/** A Security Hub sink (no network until the first delivery). */
export function createSecurityHubSink(options: SecurityHubSinkOptions): SignalSink {
  return new SecurityHubSink(options);
}
