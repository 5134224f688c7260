/**
 * The webhook sink against a recording HTTP server on 127.0.0.1: the shared sink conformance suite
 * (flat form, which carries the whole signal), the HMAC signature checked as a receiver would, the
 * OCSF form, and the failures a retry can or cannot fix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { SinkDeliveryError, parseRetryAfter } from './http-post.js';
import { DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, createWebhookSink, verifyWebhookSignature, webhookSignature } from './webhook.js';

const SECRET = 'conformance-hmac-key';

async function harness(): Promise<SinkHarness> {
  const server = await startHttpRecorder();
  const refusing = await startHttpRecorder({ answer: () => ({ status: 500 }) });
  return {
    open: () => Promise.resolve(createWebhookSink({ url: `${server.url}/hook?token=abc`, format: 'flat', secret: SECRET, productVersion: '1.2.3' })),
    written: () =>
      Promise.resolve(
        server.accepted().map((r) => {
          expect(verifyWebhookSignature(SECRET, r.headers, r.body)).toBe(true);
          return (JSON.parse(r.body) as { signal: Signal }).signal;
        }),
      ),
    openUnwritable: () => Promise.resolve(createWebhookSink({ url: refusing.url, format: 'flat', productVersion: '1.2.3' })),
    holdDurability: () => server.hold(),
    cleanup: async () => {
      await server.close();
      await refusing.close();
    },
  };
}

runSinkConformance('webhook', harness);

describe('webhook sink', () => {
  const servers: HttpRecorder[] = [];
  const serve = async (...args: Parameters<typeof startHttpRecorder>): Promise<HttpRecorder> => {
    const server = await startHttpRecorder(...args);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('signs TIMESTAMP.BODY with HMAC-SHA256; a receiver refuses a changed body, another key or an old timestamp', async () => {
    const server = await serve();
    const now = Date.parse('2024-08-01T12:10:00Z');
    const sink = createWebhookSink({ url: `${server.url}/in`, format: 'flat', secret: SECRET, productVersion: '1.2.3', now: () => now });
    const [change] = realSignalChanges();
    if (change === undefined) throw new Error('no change');
    await sink.deliver([change]);
    await sink.close();
    const [request] = server.requests;
    if (request === undefined) throw new Error('no request');
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/in');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers[TIMESTAMP_HEADER]).toBe(String(now / 1000));
    expect(request.headers[SIGNATURE_HEADER]).toBe(webhookSignature(SECRET, now / 1000, request.body));
    expect(request.headers[SIGNATURE_HEADER]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(request.headers[DELIVERY_HEADER]).toBe(`${change.signal.id}:0:created`);
    expect(JSON.parse(request.body)).toEqual({ kind: 'created', signal: change.signal });
    expect(verifyWebhookSignature(SECRET, request.headers, request.body, { nowMs: now + 1000 })).toBe(true);
    expect(verifyWebhookSignature(SECRET, request.headers, request.body.replace(change.signal.id, 'ffffffffffffffff'), { nowMs: now })).toBe(false);
    expect(verifyWebhookSignature('another key', request.headers, request.body, { nowMs: now })).toBe(false);
    expect(verifyWebhookSignature(SECRET, request.headers, request.body, { nowMs: now + 10 * 60_000 })).toBe(false);
    expect(verifyWebhookSignature(SECRET, { ...request.headers, [SIGNATURE_HEADER]: undefined }, request.body, { nowMs: now })).toBe(false);
  });

  it('posts the OCSF Detection Finding by default, unsigned without a secret', async () => {
    const server = await serve();
    const sink = createWebhookSink({ url: server.url, productVersion: '1.2.3' });
    const changes = realSignalChanges().slice(0, 2);
    await sink.deliver(changes);
    await sink.close();
    expect(server.requests).toHaveLength(2);
    const documents = server.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(documents.map((d) => d['class_uid'])).toEqual([2004, 2004]);
    expect(documents.map((d) => d['activity_id'])).toEqual(changes.map((c) => (c.kind === 'created' ? 1 : 2)));
    expect(documents[0]?.['message']).toBe(changes[0]?.signal.title);
    expect(server.requests[0]?.headers[SIGNATURE_HEADER]).toBeUndefined();
  });

  it.each([
    [400, true],
    [413, true],
    [422, true],
    [401, false],
    [404, false],
    [500, false],
    [503, false],
  ])('HTTP %i fails the delivery; a retry cannot help: %s', async (status, isPermanent) => {
    const server = await serve({ answer: () => ({ status, body: 'nope\n\u001b[31m' }) });
    const sink = createWebhookSink({ url: `${server.url}/secret-path?token=hunter2`, format: 'flat', productVersion: '1.2.3' });
    const error: unknown = await sink.deliver(realSignalChanges().slice(0, 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkDeliveryError);
    const failure = error as SinkDeliveryError;
    expect(failure.isPermanent).toBe(isPermanent);
    expect(failure.delivered).toBe(0);
    expect(failure.message).toContain(`cannot deliver to webhook:${server.url}/…: HTTP ${String(status)}: nope`);
    // The URL's path and query (where webhook secrets live) and control characters stay out of messages.
    expect(failure.message).not.toMatch(/hunter2|secret-path/);
    expect(failure.message).not.toContain(String.fromCharCode(27));
  });

  it('counts the changes delivered before a failure, and says how long a 429 asked to wait', async () => {
    const server = await serve({ answer: ({ index }) => (index < 2 ? { status: 204 } : { status: 429, headers: { 'retry-after': '7' } }) });
    const sink = createWebhookSink({ url: server.url, format: 'flat', productVersion: '1.2.3' });
    const error = (await sink.deliver(realSignalChanges().slice(0, 4)).catch((e: unknown) => e)) as SinkDeliveryError;
    expect(error.delivered).toBe(2);
    expect(error.retryAfterMs).toBe(7000);
    expect(server.requests).toHaveLength(3);
    // Like every sink, it rejects after a failure (the delivery runner opens a new one).
    await expect(sink.deliver(realSignalChanges().slice(0, 1))).rejects.toThrow(/cannot deliver/);
  });

  it('a target that does not answer in time fails with the timeout; a closed port with the connection error', async () => {
    const server = await serve();
    const release = server.hold();
    const slow = createWebhookSink({ url: server.url, productVersion: '1.2.3', format: 'flat', timeoutMs: 150 });
    await expect(slow.deliver(realSignalChanges().slice(0, 1))).rejects.toThrow(/cannot deliver to webhook:http:\/\/127\.0\.0\.1:\d+: no answer within 150 ms/);
    release();
    const closedPort = await serve();
    await closedPort.close();
    servers.pop();
    const refused = createWebhookSink({ url: closedPort.url, productVersion: '1.2.3', format: 'flat' });
    await expect(refused.deliver(realSignalChanges().slice(0, 1))).rejects.toThrow(/cannot deliver to .*ECONNREFUSED/);
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => createWebhookSink({ url: 'file:///etc/passwd', productVersion: '1' })).toThrow(/http/);
    expect(() => createWebhookSink({ url: 'not a url', productVersion: '1' })).toThrow(/not a URL/);
  });

  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Thu, 01 Aug 2024 12:00:30 GMT', 30_000],
    ['soon', undefined],
    [null, undefined],
  ])('Retry-After %s is %s ms', (value, expected) => {
    expect(parseRetryAfter(value, Date.parse('2024-08-01T12:00:00Z'))).toBe(expected);
  });
});
