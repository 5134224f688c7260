import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { stratusAttack } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { createIntakeServer } from './intake-server.js';
import {
  BEARER,
  cloudWatchGzip,
  cloudWatchMessage,
  eventBridgeEvent,
  FIREHOSE_KEY,
  firehoseBody,
  firehoseHeaders,
  gate,
  NOW,
  processedIds,
  slowUpload,
  startIntake,
} from './test-support.js';
import type { TestIntake } from './test-support.js';

const { stop, modify, start } = stratusAttack();
const attack: Rec[] = [stop, modify, start];
const attackIds = attack.map((r) => r.eventID);

const running: TestIntake[] = [];
async function intake(options: Parameters<typeof startIntake>[0] = {}): Promise<TestIntake> {
  const started = await startIntake(options);
  running.push(started);
  return started;
}

afterEach(async () => {
  for (const i of running.splice(0)) {
    i.hold?.open();
    await i.server.close();
  }
});

async function postFirehose(i: TestIntake, requestId: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${i.url}/intake/firehose`, { method: 'POST', headers: { ...firehoseHeaders(requestId), ...headers }, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

async function postCloudTrail(i: TestIntake, body: string | Buffer, headers: Record<string, string> = { authorization: `Bearer ${BEARER}` }): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${i.url}/intake/cloudtrail`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

/** Waits (up to 5 s) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function metricsText(i: TestIntake): Promise<string> {
  return (await fetch(`${i.url}/metrics`)).text();
}

describe('POST /intake/firehose: the Firehose HTTP endpoint protocol', () => {
  it('answers exactly {requestId, timestamp} with 200 once the records are processed and the request is marked done', async () => {
    const i = await intake();
    const id = 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f';
    const response = await postFirehose(i, id, firehoseBody(id, attack.map((r) => JSON.stringify(r))));
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ requestId: id, timestamp: NOW });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(Number(response.headers.get('content-length'))).toBe(JSON.stringify(response.json).length);
    expect(processedIds(i)).toEqual(attackIds);
    expect(i.calls[0]?.context).toEqual({ source: 'firehose', requestId: id, sourceArn: 'arn:aws:firehose:us-east-1:123456789012:deliverystream/trailhound' });
    expect(i.calls[0]?.records.map((r) => r.origin)).toEqual([0, 1, 2].map((index) => ({ source: `firehose:${id}`, index })));
    expect(i.done.has(id)).toBe(true);
  });

  it.each([
    ['one record per Firehose record', () => attack.map((r) => JSON.stringify(r))],
    ['a CloudTrail log file object', () => [JSON.stringify({ Records: attack })]],
    ['JSON lines in one Firehose record', () => [attack.map((r) => JSON.stringify(r)).join('\n')]],
    ['concatenated EventBridge events (EventBridge → Firehose)', () => [attack.map((r) => JSON.stringify(eventBridgeEvent(r))).join('')]],
    ['a gzipped CloudWatch Logs subscription payload (CloudWatch Logs → Firehose)', () => [cloudWatchGzip(attack.slice(0, 2)), cloudWatchGzip(attack.slice(2))]],
    ['a decompressed CloudWatch Logs payload (Firehose decompression on)', () => [JSON.stringify(cloudWatchMessage(attack))]],
  ])('record data as %s gives the attack records in order', async (_name, data) => {
    const i = await intake();
    const response = await postFirehose(i, 'req-shapes', firehoseBody('req-shapes', data()));
    expect(response.status).toBe(200);
    expect(processedIds(i)).toEqual(attackIds);
    expect(i.problems).toEqual([]);
  });

  it.each([
    ['only empty records (Firehose permits them)', ['', '']],
    ['no records at all', []],
  ])('a request with %s is acknowledged and marked done without calling onRecords', async (_name, data) => {
    const i = await intake();
    const response = await postFirehose(i, 'req-empty', firehoseBody('req-empty', data));
    expect(response.status).toBe(200);
    expect(i.calls).toEqual([]);
    expect(i.problems).toEqual([]);
    expect(i.done.has('req-empty')).toBe(true);
  });

  it('takes a gzip body (Content-Encoding: gzip)', async () => {
    const i = await intake();
    const body = gzipSync(Buffer.from(firehoseBody('req-gzip', attack.map((r) => JSON.stringify(r)))));
    const response = await postFirehose(i, 'req-gzip', body, { 'content-encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(processedIds(i)).toEqual(attackIds);
  });

  it('a retry of a completed request is acknowledged without processing it again', async () => {
    const i = await intake();
    const body = firehoseBody('req-retry', attack.map((r) => JSON.stringify(r)));
    expect((await postFirehose(i, 'req-retry', body)).status).toBe(200);
    const retry = await postFirehose(i, 'req-retry', body);
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual({ requestId: 'req-retry', timestamp: NOW });
    expect(i.calls).toHaveLength(1);
    expect(await metricsText(i)).toContain('trailhound_duplicate_requests_total{source="firehose"} 1\n');
  });

  it('a retry that arrives while the first attempt is still running waits for it and is not processed twice', async () => {
    const i = await intake();
    i.hold = gate();
    const body = firehoseBody('req-overlap', attack.map((r) => JSON.stringify(r)));
    const first = postFirehose(i, 'req-overlap', body);
    await until(() => i.isDoneCalls.length === 1);
    const second = postFirehose(i, 'req-overlap', body);
    // The second attempt is recognised when it joins the first, which is still held.
    await until(() => i.server.metrics.duplicateRequests.get({ source: 'firehose' }) === 1);
    expect(i.calls).toHaveLength(0);
    i.hold.open();
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(i.calls).toHaveLength(1);
    expect(i.isDoneCalls).toEqual(['req-overlap']);
  });

  it('a failed processing answers 500 in the error shape, is not marked done, and its retry is processed', async () => {
    const i = await intake();
    const body = firehoseBody('req-fail', attack.map((r) => JSON.stringify(r)));
    i.failure = new Error('sink unwritable');
    const failed = await postFirehose(i, 'req-fail', body);
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({ requestId: 'req-fail', timestamp: NOW, errorMessage: expect.stringContaining('sink unwritable') as unknown });
    expect(i.done.has('req-fail')).toBe(false);
    expect(i.errors).toHaveLength(1);
    i.failure = undefined;
    expect((await postFirehose(i, 'req-fail', body)).status).toBe(200);
    expect(processedIds(i)).toEqual(attackIds);
  });

  it.each([
    ['a wrong access key', { 'x-amz-firehose-access-key': `${FIREHOSE_KEY}x` }],
    ['a key that is a prefix of the right one', { 'x-amz-firehose-access-key': FIREHOSE_KEY.slice(0, -1) }],
    ['an empty access key', { 'x-amz-firehose-access-key': '' }],
    ['the bearer token instead of the access key', { 'x-amz-firehose-access-key': BEARER }],
  ])('%s gets 401 in the error shape with nothing processed', async (_name, headers) => {
    const i = await intake();
    const response = await postFirehose(i, 'req-auth', firehoseBody('req-auth', attack.map((r) => JSON.stringify(r))), headers);
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ requestId: 'req-auth', timestamp: NOW, errorMessage: expect.stringMatching(/X-Amz-Firehose-Access-Key/) as unknown });
    expect(i.calls).toEqual([]);
    expect(i.isDoneCalls).toEqual([]);
    expect(i.done.size).toBe(0);
  });

  it('a missing access key gets 401, before the size limit is looked at', async () => {
    const i = await intake({ maxBodyBytes: 1024 });
    const headers = firehoseHeaders('req-nokey');
    delete headers['x-amz-firehose-access-key'];
    const response = await slowUpload(i.url, '/intake/firehose', { ...headers, 'content-length': String(1024 * 1024) }, 1024 * 1024, 64 * 1024, 5);
    expect(response.status).toBe(401);
    expect(i.calls).toEqual([]);
  });

  it.each([
    ['a body that is not JSON', 'requestId=1', /not valid JSON/],
    ['a body without records', JSON.stringify({ requestId: 'req-bad', timestamp: NOW }), /records is missing, not an array/],
    ['a record without data', JSON.stringify({ requestId: 'req-bad', timestamp: NOW, records: [{}] }), /records\[0\]\.data/],
    ['a body whose requestId differs from the header', firehoseBody('another-id', ['{}']), /differs from the X-Amz-Firehose-Request-Id header/],
    ['bad base64 in one record', JSON.stringify({ requestId: 'req-bad', timestamp: NOW, records: [{ data: Buffer.from(JSON.stringify(stop)).toString('base64') }, { data: 'not base64!' }] }), /records\[1\]\.data is not valid base64/],
    ['base64 without its padding', JSON.stringify({ requestId: 'req-bad', timestamp: NOW, records: [{ data: 'eyJ9' }, { data: 'e30' }] }), /records\[1\]\.data is not valid base64/],
  ])('%s gets 400 with a clear message and nothing processed', async (_name, body, message) => {
    const i = await intake();
    const response = await postFirehose(i, 'req-bad', body);
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ requestId: 'req-bad', timestamp: NOW, errorMessage: expect.stringMatching(message) as unknown });
    expect(i.calls).toEqual([]);
    expect(i.done.size).toBe(0);
  });

  it('a record that is not CloudTrail is reported and counted, and the other records are processed', async () => {
    const i = await intake();
    const data = [JSON.stringify(stop), '{"eventName": "cut short', JSON.stringify({ hello: 'world' }), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01]), JSON.stringify(start)];
    const response = await postFirehose(i, 'req-mixed', firehoseBody('req-mixed', data));
    expect(response.status).toBe(200);
    expect(processedIds(i)).toEqual([stop.eventID, start.eventID]);
    expect(i.problems.map((p) => [p.code, p.message.slice(0, 11)])).toEqual([
      ['E_READ_JSON', 'records[1]:'],
      ['E_READ_NOT_CLOUDTRAIL', 'records[2]:'],
      ['E_READ_GZIP', 'records[3]:'],
    ]);
    expect(i.problems.every((p) => p.source === 'firehose:req-mixed')).toBe(true);
    expect(await metricsText(i)).toContain('trailhound_records_bad_total{source="firehose"} 3\n');
    expect(i.done.has('req-mixed')).toBe(true);
  });

  it('a body over maxBodyBytes (Content-Length) gets 413 without being read', async () => {
    const i = await intake({ maxBodyBytes: 4096 });
    const body = firehoseBody('req-big', attack.map((r) => JSON.stringify(r)).concat('x'.repeat(8192)));
    const response = await postFirehose(i, 'req-big', body);
    expect(response.status).toBe(413);
    expect(response.json).toEqual({ requestId: 'req-big', timestamp: NOW, errorMessage: expect.stringMatching(/larger than the limit of 4096 bytes/) as unknown });
    expect(i.calls).toEqual([]);
  });

  it('a chunked body is cut off at maxBodyBytes: 413 arrives while the client is still sending', async () => {
    const i = await intake({ maxBodyBytes: 64 * 1024 });
    const total = 1024 * 1024;
    const response = await slowUpload(i.url, '/intake/firehose', firehoseHeaders('req-stream'), total, 16 * 1024, 2);
    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
    expect(response.bytesSent).toBeLessThan(total);
    expect(JSON.parse(response.body)).toEqual({ requestId: 'req-stream', timestamp: NOW, errorMessage: expect.stringMatching(/larger than the limit/) as unknown });
    expect(i.calls).toEqual([]);
  });

  it('a small gzip body that inflates beyond maxBodyBytes gets 413', async () => {
    const i = await intake({ maxBodyBytes: 64 * 1024 });
    const bomb = gzipSync(Buffer.from(firehoseBody('req-bomb', ['x'.repeat(1024 * 1024)])));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const response = await postFirehose(i, 'req-bomb', bomb, { 'content-encoding': 'gzip' });
    expect(response.status).toBe(413);
    expect(response.json.errorMessage).toMatch(/decompressed body/);
  });

  it('gzip records that inflate beyond maxDecodedBytes get 413 with nothing processed', async () => {
    const i = await intake({ maxDecodedBytes: 64 * 1024 });
    const response = await postFirehose(i, 'req-bomb', firehoseBody('req-bomb', [gzipSync(Buffer.alloc(1024 * 1024, 0x20))]));
    expect(response.status).toBe(413);
    expect(response.json.errorMessage).toMatch(/maxDecodedBytes/);
    expect(i.calls).toEqual([]);
  });

  it('an unsupported Content-Encoding gets 415', async () => {
    const i = await intake();
    const response = await postFirehose(i, 'req-br', firehoseBody('req-br', [JSON.stringify(stop)]), { 'content-encoding': 'br' });
    expect(response.status).toBe(415);
  });

  it('a checkpoint store that fails answers 500 so that Firehose retries', async () => {
    const i = await intake();
    const failing = createIntakeServer(
      { firehoseAccessKeys: [FIREHOSE_KEY] },
      { onRecords: () => Promise.resolve(), isDone: () => Promise.reject(new Error('database is locked')), markDone: () => Promise.resolve() },
      { now: () => NOW },
    );
    const address = await failing.listen('127.0.0.1', 0);
    try {
      const response = await postFirehose({ ...i, url: `http://127.0.0.1:${address.port}` }, 'req-db', firehoseBody('req-db', [JSON.stringify(stop)]));
      expect(response.status).toBe(500);
      expect(response.json.errorMessage).toMatch(/checkpoint store/);
    } finally {
      await failing.close();
    }
  });

  it('answers 404 when no Firehose access key is configured', async () => {
    const i = await intake({ firehoseAccessKeys: [] });
    const response = await postFirehose(i, 'req-off', firehoseBody('req-off', [JSON.stringify(stop)]));
    expect(response.status).toBe(404);
    expect(i.calls).toEqual([]);
  });
});

describe('POST /intake/cloudtrail: raw CloudTrail JSON with a bearer token', () => {
  it.each([
    ['a JSON array of records', () => JSON.stringify(attack)],
    ['a CloudTrail log file object', () => JSON.stringify({ Records: attack })],
    ['JSON lines', () => attack.map((r) => `${JSON.stringify(r)}\n`).join('')],
    ['one EventBridge event per request (EventBridge API destination)', () => JSON.stringify(eventBridgeEvent(stop))],
    ['an encoded CloudWatch Logs payload', () => JSON.stringify({ awslogs: { data: cloudWatchGzip(attack).toString('base64') } })],
  ])('takes %s', async (name, body) => {
    const i = await intake();
    const response = await postCloudTrail(i, body());
    const want = name.startsWith('one EventBridge') ? [stop.eventID] : attackIds;
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown, timestamp: NOW, records: want.length, problems: [] });
    expect(processedIds(i)).toEqual(want);
    expect(i.calls[0]?.context).toEqual({ source: 'http', requestId: response.json.requestId });
    expect(i.done.size).toBe(0);
  });

  it('takes a gzip body', async () => {
    const i = await intake();
    const response = await postCloudTrail(i, gzipSync(Buffer.from(JSON.stringify(attack))), { authorization: `Bearer ${BEARER}`, 'content-encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(processedIds(i)).toEqual(attackIds);
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: `Bearer ${BEARER}0` }],
    ['another scheme', { authorization: `Basic ${Buffer.from(`x:${BEARER}`).toString('base64')}` }],
    ['the Firehose access key', { authorization: `Bearer ${FIREHOSE_KEY}` }],
    ['the right token in the Firehose header', { 'x-amz-firehose-access-key': BEARER }],
  ])('%s gets 401 with a Bearer challenge and nothing processed', async (_name, headers) => {
    const i = await intake();
    const response = await postCloudTrail(i, JSON.stringify(attack), headers);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="trailhound"');
    expect(response.json.errorMessage).toMatch(/bearer token/);
    expect(i.calls).toEqual([]);
  });

  it('the Bearer scheme is case-insensitive', async () => {
    const i = await intake();
    expect((await postCloudTrail(i, JSON.stringify(attack), { authorization: `bearer ${BEARER}` })).status).toBe(200);
  });

  it.each([
    ['text that is not JSON', 'StopInstances at noon', /no CloudTrail record could be read: E_READ_JSON: not JSON/],
    ['JSON cut short', JSON.stringify(attack).slice(0, 300), /no CloudTrail record could be read: E_READ_JSON/],
    ['JSON that is not CloudTrail', JSON.stringify({ hello: 'world' }), /E_READ_NOT_CLOUDTRAIL/],
    ['an empty body', '', /input is empty/],
  ])('%s gets 400 with a clear message', async (_name, body, message) => {
    const i = await intake();
    const response = await postCloudTrail(i, body);
    expect(response.status).toBe(400);
    expect(response.json.errorMessage).toMatch(message);
    expect(i.calls).toEqual([]);
  });

  it('JSON lines with one bad line: the good records are processed and the bad line is reported', async () => {
    const i = await intake();
    const body = [JSON.stringify(stop), '{"eventName": "ModifyInstanceAttribute", "cut', JSON.stringify(start)].join('\n');
    const response = await postCloudTrail(i, body);
    expect(response.status).toBe(200);
    expect(response.json.records).toBe(2);
    expect(response.json.problems).toEqual([{ code: 'E_READ_JSON', message: expect.any(String) as unknown }]);
    expect(processedIds(i)).toEqual([stop.eventID, start.eventID]);
    expect(i.problems).toHaveLength(1);
  });

  it('a body over maxBodyBytes gets 413', async () => {
    const i = await intake({ maxBodyBytes: 2048 });
    const response = await postCloudTrail(i, JSON.stringify(attack));
    expect(response.status).toBe(413);
    expect(i.calls).toEqual([]);
  });

  it('CloudWatch Logs payloads that decode to more than maxDecodedBytes of records get 413 with nothing processed', async () => {
    const i = await intake({ maxDecodedBytes: 64 * 1024 });
    // Each payload is within the limit; together they are not.
    const line = `${JSON.stringify({ awslogs: { data: cloudWatchGzip(attack).toString('base64') } })}\n`;
    const payload = line.repeat(20);
    expect(JSON.stringify(cloudWatchMessage(attack)).length).toBeLessThan(64 * 1024);
    expect(JSON.stringify(attack).length * 20).toBeGreaterThan(64 * 1024);
    const response = await postCloudTrail(i, payload);
    expect(response.status).toBe(413);
    expect(response.json.errorMessage).toMatch(/maxDecodedBytes/);
    expect(i.calls).toEqual([]);
  });

  it('a failed processing answers 500 so that the sender retries', async () => {
    const i = await intake();
    i.failure = new Error('engine stopped');
    const response = await postCloudTrail(i, JSON.stringify(attack));
    expect(response.status).toBe(500);
    expect(response.json.errorMessage).toMatch(/engine stopped/);
  });
});

describe('health, metrics, routing and shutdown', () => {
  it('GET /healthz is 200 ok when ready and 503 while the pipeline is not', async () => {
    const i = await intake();
    const ready = await fetch(`${i.url}/healthz`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ok\n']);
    i.isReady = false;
    const starting = await fetch(`${i.url}/healthz`);
    expect([starting.status, await starting.text()]).toEqual([503, 'starting\n']);
  });

  it('GET /metrics counts requests by route and status in the Prometheus text format', async () => {
    const i = await intake();
    await postFirehose(i, 'req-m1', firehoseBody('req-m1', attack.map((r) => JSON.stringify(r))));
    await postFirehose(i, 'req-m2', firehoseBody('req-m2', [JSON.stringify(stop)]), { 'x-amz-firehose-access-key': 'wrong-key-wrong-key' });
    await postCloudTrail(i, JSON.stringify(attack));
    const response = await fetch(`${i.url}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('# TYPE trailhound_http_requests_total counter\n');
    expect(text).toContain('trailhound_http_requests_total{route="firehose",status="200"} 1\n');
    expect(text).toContain('trailhound_http_requests_total{route="firehose",status="401"} 1\n');
    expect(text).toContain('trailhound_http_requests_total{route="cloudtrail",status="200"} 1\n');
    expect(text).toContain('trailhound_records_total{source="firehose"} 3\n');
    expect(text).toContain('trailhound_records_total{source="http"} 3\n');
    expect(text).toContain('trailhound_objects_processed_total{source="firehose"} 1\n');
  });

  it.each([
    ['GET', '/intake/firehose', 405, 'POST'],
    ['DELETE', '/healthz', 405, 'GET, HEAD'],
    ['GET', '/nowhere', 404, null],
    ['POST', '/intake/firehose/extra', 404, null],
  ])('%s %s gets %d', async (method, path, status, allow) => {
    const i = await intake();
    const response = await fetch(`${i.url}${path}`, { method });
    expect(response.status).toBe(status);
    expect(response.headers.get('allow')).toBe(allow);
    await response.arrayBuffer();
  });

  it('close() drains: health turns 503 and new requests are refused while a request in flight finishes, then the port closes', async () => {
    const i = await intake();
    i.hold = gate();
    const inFlight = postFirehose(i, 'req-drain', firehoseBody('req-drain', attack.map((r) => JSON.stringify(r))));
    await until(() => i.isDoneCalls.length === 1);
    const closing = i.server.close();
    expect(i.server.isDraining).toBe(true);
    const health = await fetch(`${i.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([503, 'draining\n']);
    const refused = await postFirehose(i, 'req-late', firehoseBody('req-late', [JSON.stringify(stop)]));
    expect(refused.status).toBe(503);
    expect(refused.json.errorMessage).toMatch(/shutting down/);
    i.hold.open();
    expect((await inFlight).status).toBe(200);
    expect(await closing).toEqual({ abandonedRequests: 0 });
    expect(processedIds(i)).toEqual(attackIds);
    await expect(fetch(`${i.url}/healthz`)).rejects.toThrow();
  });

  it('close() cuts requests still running at the drain deadline and says how many', async () => {
    const i = await intake({ drainTimeoutMs: 100 });
    i.hold = gate();
    const inFlight = postFirehose(i, 'req-stuck', firehoseBody('req-stuck', [JSON.stringify(stop)])).catch((error: unknown) => error);
    await until(() => i.isDoneCalls.length === 1);
    expect(await i.server.close()).toEqual({ abandonedRequests: 1 });
    expect(await inFlight).toBeInstanceOf(Error);
    expect(i.done.size).toBe(0);
  });

  it('refuses invalid options with every problem listed', () => {
    const handlers = { onRecords: () => Promise.resolve(), isDone: () => Promise.resolve(false), markDone: () => Promise.resolve() };
    expect(() => createIntakeServer({ firehoseAccessKeys: ['short'], maxBodyBytes: -1, listen: 'x' } as never, handlers)).toThrow(/at least 16 characters[\s\S]*maxBodyBytes[\s\S]*unknown option listen/);
  });
});
