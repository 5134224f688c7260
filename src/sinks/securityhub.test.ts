import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { asffProblems } from '../../test/support/asff-check.js';
import { asffFinding } from './asff.js';
import { SinkDeliveryError } from './http-post.js';
import { accountOfHubArn, createSecurityHubSink, importBatches } from './securityhub.js';
import type { SecurityHubSinkOptions } from './securityhub.js';
import type { SignalChange, SignalSink } from './sink.js';
import { isOutboxSink, openSink, outboxBatchSizeOf, parseSinkSpec, sinkKeyOf } from './spec.js';

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const VERSION = '0.1.0';
const CREDENTIALS = { accessKeyId: 'AKIDTRAILHOUNDTEST', secretAccessKey: 'not-a-real-secret' };

interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string;
  readonly body: unknown;
}

type Answer = { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> };

/** A local stand-in for the Security Hub API on 127.0.0.1 that records every request. */
class FakeSecurityHub {
  readonly requests: RecordedRequest[] = [];
  /** The answer to an import (default: every finding taken). */
  answerImport: (findings: { Id: string }[]) => Answer = () => ({ status: 200, body: { FailedCount: 0, SuccessCount: 0, FailedFindings: [] } });
  /** Holds import answers while set. */
  gate: Promise<void> | undefined;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The findings imported, in order. */
  imported(): Record<string, unknown>[] {
    return this.requests.filter((r) => r.path === '/findings/import').flatMap((r) => (r.body as { Findings: Record<string, unknown>[] }).Findings);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (request.url ?? '').split('?')[0] ?? '';
    const recorded: RecordedRequest = { method: request.method ?? '', path, authorization: String(request.headers.authorization ?? ''), body: text === '' ? undefined : (JSON.parse(text) as unknown) };
    let answer: Answer;
    if (request.method === 'GET' && path === '/accounts') {
      this.requests.push(recorded);
      answer = { status: 200, body: { HubArn: `arn:aws:securityhub:${REGION}:${ACCOUNT}:hub/default`, SubscribedAt: '2024-01-01T00:00:00.000Z' } };
    } else if (request.method === 'POST' && path === '/findings/import') {
      if (this.gate !== undefined) await this.gate;
      this.requests.push(recorded);
      const findings = (recorded.body as { Findings: { Id: string }[] }).Findings;
      answer = this.answerImport(findings);
    } else {
      answer = { status: 404, body: { message: 'not found' } };
    }
    response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    response.end(JSON.stringify(answer.body));
  }
}

const hubs: FakeSecurityHub[] = [];
const sinks: SignalSink[] = [];

async function startHub(): Promise<{ hub: FakeSecurityHub; endpoint: string }> {
  const hub = new FakeSecurityHub();
  hubs.push(hub);
  return { hub, endpoint: await hub.start() };
}

function open(endpoint: string, options: Partial<SecurityHubSinkOptions> = {}): SignalSink {
  const sink = createSecurityHubSink({ productVersion: VERSION, region: REGION, accountId: ACCOUNT, endpoint, credentials: CREDENTIALS, maxAttempts: 1, now: () => Date.parse('2026-03-04T05:06:07.000Z'), ...options });
  sinks.push(sink);
  return sink;
}

afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.close().catch(() => undefined);
  for (const hub of hubs.splice(0)) await hub.stop();
});

/**
 * The conformance harness reads the findings Security Hub received back as signals: each must pass
 * the ASFF checks and be exactly the finding of one change given to the sink (the harness remembers
 * them), made at the finding's own UpdatedAt.
 */
async function harness(): Promise<SinkHarness> {
  const { hub, endpoint } = await startHub();
  const given: SignalChange[] = [];
  const remember = (sink: SignalSink): SignalSink => ({
    name: sink.name,
    deliver: (changes) => {
      given.push(...changes);
      return sink.deliver(changes);
    },
    close: () => sink.close(),
  });
  let closedPort: string | undefined;
  return {
    open: () => Promise.resolve(remember(open(endpoint))),
    written: () =>
      Promise.resolve(
        hub.imported().map((received): Signal => {
          const problems = asffProblems(received);
          if (problems.length > 0) throw new Error(`an invalid finding was imported: ${problems.join('; ')}`);
          const context = { accountId: ACCOUNT, region: REGION, productVersion: VERSION, nowMs: Date.parse(String(received.UpdatedAt)) };
          const change = given.find((c) => isDeepStrictEqual(JSON.parse(JSON.stringify(asffFinding(c, context))), received));
          if (change === undefined) throw new Error(`finding ${String(received.Id)} is not the finding of any change given to the sink`);
          return change.signal;
        }),
      ),
    openUnwritable: async () => {
      if (closedPort === undefined) {
        const gone = new FakeSecurityHub();
        closedPort = await gone.start();
        await gone.stop();
      }
      return open(closedPort);
    },
    holdDurability: () => {
      let release: () => void = () => undefined;
      hub.gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        hub.gate = undefined;
        release();
      };
    },
    cleanup: () => Promise.resolve(),
  };
}

runSinkConformance('securityhub', harness);

/** `count` distinct changes made from the real ones (each a signal of its own). */
function manyChanges(count: number): SignalChange[] {
  const real = realSignalChanges();
  return Array.from({ length: count }, (_, i) => {
    const change = real[i % real.length] as SignalChange;
    return { kind: 'created', signal: { ...change.signal, id: `${change.signal.id}-${i}` } };
  });
}

describe('securityhub sink', () => {
  it('imports 250 changes in three signed calls of 100, 100 and 50, in order', async () => {
    const { hub, endpoint } = await startHub();
    const sink = open(endpoint);
    const changes = manyChanges(250);
    await sink.deliver(changes);
    const imports = hub.requests.filter((r) => r.path === '/findings/import');
    expect(imports.map((r) => (r.body as { Findings: unknown[] }).Findings.length)).toEqual([100, 100, 50]);
    expect(hub.imported().map((f) => f.Id)).toEqual(changes.map((c) => c.signal.id));
    expect(imports.every((r) => r.method === 'POST' && r.authorization.startsWith(`AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/`) && r.authorization.includes(`/${REGION}/securityhub/aws4_request`))).toBe(true);
    expect(hub.imported().every((f) => asffProblems(f).length === 0)).toBe(true);
    expect(hub.requests.some((r) => r.path === '/accounts')).toBe(false);
  });

  it('a FailedFindings answer fails the delivery with the failed ids, counting the changes before the first one as delivered', async () => {
    const { hub, endpoint } = await startHub();
    const changes = manyChanges(150);
    const failedIds = [changes[120]?.signal.id, changes[140]?.signal.id] as string[];
    hub.answerImport = (findings) => {
      const failed = findings.filter((f) => failedIds.includes(f.Id)).map((f) => ({ Id: f.Id, ErrorCode: 'InvalidInput', ErrorMessage: 'Finding does not adhere to Amazon Finding Format' }));
      return { status: 200, body: { FailedCount: failed.length, SuccessCount: findings.length - failed.length, FailedFindings: failed } };
    };
    const sink = open(endpoint);
    const error = await sink.deliver(changes).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SinkDeliveryError);
    const failure = error as SinkDeliveryError;
    expect(failure.message).toContain(failedIds[0]);
    expect(failure.message).toContain(failedIds[1]);
    expect(failure.message).toMatch(/^cannot import 2 finding\(s\) into securityhub:eu-west-1: .*InvalidInput/);
    expect(failure.delivered).toBe(120);
    expect(failure.isPermanent).toBe(true);
    // As every sink: a failed delivery makes later ones reject (the outbox runner opens a new sink).
    await expect(sink.deliver(changes.slice(0, 1))).rejects.toThrow(/cannot import/);
  });

  it('a throttled or failing API fails the delivery as retryable, with what Security Hub said', async () => {
    const { hub, endpoint } = await startHub();
    hub.answerImport = () => ({ status: 429, body: { message: 'Rate exceeded' }, headers: { 'x-amzn-errortype': 'TooManyRequestsException' } });
    const sink = open(endpoint);
    const error = (await sink.deliver(manyChanges(3)).catch((e: unknown) => e)) as SinkDeliveryError;
    expect(error).toBeInstanceOf(SinkDeliveryError);
    expect(error.message).toMatch(/^cannot import findings into securityhub:eu-west-1: .*Rate exceeded/);
    expect([error.delivered, error.isPermanent]).toEqual([0, false]);
  });

  it('the same signal twice in one delivery goes into two calls, the update after the creation', async () => {
    const { hub, endpoint } = await startHub();
    const [first] = realSignalChanges();
    if (first === undefined) throw new Error('no change');
    const sink = open(endpoint);
    await sink.deliver([first, { kind: 'updated', signal: { ...first.signal, updates: 1 } }]);
    const imports = hub.requests.filter((r) => r.path === '/findings/import').map((r) => (r.body as { Findings: { Id: string; ProductFields: Record<string, string>; UpdatedAt: string }[] }).Findings);
    expect(imports.map((findings) => findings.map((f) => [f.Id, f.ProductFields['trailhound/Updates']]))).toEqual([[[first.signal.id, '0']], [[first.signal.id, '1']]]);
    const [createdAt, updatedAt] = imports.map((findings) => Date.parse(findings[0]?.UpdatedAt ?? ''));
    expect(updatedAt).toBeGreaterThan(createdAt ?? Infinity);
  });

  it('without an account id, asks DescribeHub once for the account of the hub', async () => {
    const { hub, endpoint } = await startHub();
    const sink = createSecurityHubSink({ productVersion: VERSION, region: REGION, endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
    sinks.push(sink);
    await sink.deliver(manyChanges(2));
    await sink.deliver(manyChanges(3));
    expect(hub.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /accounts', 'POST /findings/import', 'POST /findings/import']);
    expect(hub.imported().every((f) => f.AwsAccountId === ACCOUNT && f.ProductArn === `arn:aws:securityhub:${REGION}:${ACCOUNT}:product/${ACCOUNT}/default`)).toBe(true);
  });

  it('opens without the network and says so when Security Hub cannot be reached', async () => {
    const gone = new FakeSecurityHub();
    const endpoint = await gone.start();
    await gone.stop();
    const sink = createSecurityHubSink({ productVersion: VERSION, region: REGION, endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
    sinks.push(sink);
    expect(sink.name).toBe('securityhub:eu-west-1');
    await expect(sink.deliver(manyChanges(1))).rejects.toThrow(/^cannot find the Security Hub account in eu-west-1/);
  });

  it('splits into calls of at most the limit, and where a signal would repeat', () => {
    const changes = manyChanges(5);
    const repeat = changes[1] as SignalChange;
    expect(importBatches(changes, 2).map((b) => b.length)).toEqual([2, 2, 1]);
    expect(importBatches([...changes.slice(0, 3), repeat, ...changes.slice(3)], 100).map((b) => b.length)).toEqual([3, 3]);
    expect(importBatches([], 100)).toEqual([]);
  });

  it('reads the account from a hub ARN', () => {
    expect(accountOfHubArn('arn:aws:securityhub:us-east-1:123456789012:hub/default')).toBe('123456789012');
    expect(accountOfHubArn('nonsense')).toBeUndefined();
  });

  it.each([
    ['securityhub', { kind: 'securityhub' }, 'securityhub'],
    ['securityhub:eu-west-1', { kind: 'securityhub', region: 'eu-west-1' }, 'securityhub:eu-west-1'],
    ['securityhub:us-gov-west-1', { kind: 'securityhub', region: 'us-gov-west-1' }, 'securityhub:us-gov-west-1'],
  ])('--sink %s is a Security Hub sink delivered through the outbox', (text, spec, key) => {
    const parsed = parseSinkSpec(text);
    expect(parsed).toMatchObject({ ok: true, value: spec });
    if (!parsed.ok) return;
    expect(isOutboxSink(parsed.value)).toBe(true);
    expect(sinkKeyOf(parsed.value)).toBe(key);
    expect(outboxBatchSizeOf(parsed.value)).toBe(100);
  });

  it.each(['securityhub:', 'securityhub:Europe', 'securityhub:eu-west-1;rm'])('--sink %s is refused with E_SINK_SPEC and a hint', (text) => {
    const parsed = parseSinkSpec(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics[0]).toMatchObject({ code: 'E_SINK_SPEC', message: expect.stringMatching(/not an AWS region/) as unknown, hint: expect.stringContaining('securityhub[:REGION]') as unknown });
  });

  it('openSink opens the sink a spec names, with the product version', async () => {
    const { hub, endpoint } = await startHub();
    const sink = await openSink({ kind: 'securityhub', region: REGION }, { productVersion: '7.7.7', securityhub: { endpoint, credentials: CREDENTIALS, accountId: ACCOUNT, maxAttempts: 1 } });
    sinks.push(sink);
    await sink.deliver(manyChanges(2));
    expect(hub.imported().map((f) => (f.ProductFields as Record<string, string>)['trailhound/Version'])).toEqual(['7.7.7', '7.7.7']);
  });
});
