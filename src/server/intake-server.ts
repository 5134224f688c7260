/**
 * `trailhound serve`'s HTTP intake, on node:http (no framework: four routes do not need one).
 *
 * | route                      | auth                                       | body                                   |
 * |----------------------------|--------------------------------------------|----------------------------------------|
 * | `POST /intake/firehose`    | `X-Amz-Firehose-Access-Key`                | Firehose HTTP endpoint request (firehose.ts) |
 * | `POST /intake/cloudtrail`  | `Authorization: Bearer <token>`            | CloudTrail JSON in any shape `scan` reads |
 * | `GET /healthz`             | none                                       | 200 `ok`; 503 while starting or draining |
 * | `GET /metrics`             | none                                       | Prometheus text (src/pipeline/metrics.ts) |
 *
 * Guarantees:
 * - A wrong or missing secret gets 401 before a byte of the body is read; nothing is processed.
 *   Secrets are compared in constant time (auth.ts).
 * - Bodies are limited (`maxBodyBytes`, on the wire and after gzip): 413, counted as they arrive and
 *   never buffered past the limit; the connection is then closed.
 * - At least once: the response is sent only after `onRecords` resolved (and, for Firehose,
 *   `markDone`), so a crash before it makes the sender retry.
 * - Firehose retries are deduplicated by request id: `isDone(id)` → 200 without processing; a retry
 *   that arrives while the first attempt is still running waits for that attempt's outcome.
 * - Request-level protocol errors (body not JSON, no `records`, bad base64) get 400 with nothing
 *   processed. Content that is not CloudTrail inside an accepted request (bad JSON in one record, bad
 *   gzip, another kind of event) is reported through `onProblem`, counted as bad, and the rest is
 *   processed: retrying would not make it readable, and refusing would hold back the good records.
 *   A `/intake/cloudtrail` body in which nothing is readable gets 400.
 * - `close()` drains: `/healthz` turns 503 and new requests get 503 with `Connection: close` while
 *   the requests in flight finish (within `drainTimeoutMs`); then the listener closes and every
 *   connection left is cut.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TrailhoundError } from '../core/errors.js';
import { formatDiagnostic } from '../core/types.js';
import { createLiveMetrics, PROMETHEUS_CONTENT_TYPE } from '../pipeline/metrics.js';
import type { LiveMetrics } from '../pipeline/metrics.js';
import type { InputRecord, ReadDiagnostic } from '../sources/source.js';
import { bearerToken, createSecretCheck } from './auth.js';
import type { SecretCheck } from './auth.js';
import { gunzipWithin, readRequestBody } from './body.js';
import type { BodyFailure } from './body.js';
import {
  decodeBase64Strict,
  FIREHOSE_ACCESS_KEY_HEADER,
  FIREHOSE_REQUEST_ID_HEADER,
  FIREHOSE_SOURCE_ARN_HEADER,
  firehoseErrorBody,
  firehoseSuccessBody,
  parseFirehoseRequest,
} from './firehose.js';
import { parseIntakeOptions } from './options.js';
import type { IntakeServerOptions, ResolvedIntakeOptions } from './options.js';
import { originFor, RecordCollector, summariseProblems } from './records.js';

export const FIREHOSE_PATH = '/intake/firehose';
export const CLOUDTRAIL_PATH = '/intake/cloudtrail';
export const HEALTH_PATH = '/healthz';
export const METRICS_PATH = '/metrics';

/** How long a refused request's unread body is drained (and discarded) before its connection is cut. */
const LINGER_MS = 2000;

/** Problems listed in a `/intake/cloudtrail` response. */
const MAX_PROBLEMS_IN_RESPONSE = 10;

/** What the records of one request came through. */
export interface IntakeRequestContext {
  /** `firehose` for `POST /intake/firehose`, `http` for `POST /intake/cloudtrail`. */
  readonly source: 'firehose' | 'http';
  /** Firehose's request id (stable across retries), or a fresh UUID for `/intake/cloudtrail`. */
  readonly requestId: string;
  /** `X-Amz-Firehose-Source-Arn`, when Firehose sent it. */
  readonly sourceArn?: string;
}

/** What the caller (the live pipeline) supplies. Every callback may be called concurrently for different requests. */
export interface IntakeHandlers {
  /**
   * Processes the records of one request (normalise, detect, deliver signals). The response waits
   * for it; a rejection answers 500 and the sender retries. Called only with at least one record.
   */
  onRecords(records: readonly InputRecord[], context: IntakeRequestContext): Promise<void>;
  /** Whether the Firehose request with this id was already processed (the checkpoint store). */
  isDone(requestId: string): Promise<boolean>;
  /** Records that the Firehose request with this id is processed; called after `onRecords` resolved. */
  markDone(requestId: string): Promise<void>;
  /** Each part of an accepted request that is not readable CloudTrail (already counted as bad). */
  onProblem?(problem: ReadDiagnostic): void;
  /** An unexpected failure (a handler rejected): the request was answered 500 (log it). */
  onError?(error: unknown, context: IntakeRequestContext): void;
  /** Whether the pipeline is ready; `/healthz` answers 503 while false. Default: always ready. */
  isReady?(): boolean;
}

export interface IntakeDependencies {
  /** Where the server counts; by default its own `createLiveMetrics()`. `/metrics` renders its registry. */
  readonly metrics?: LiveMetrics;
  /** Wall clock in epoch ms, for response timestamps. Default `Date.now`. */
  readonly now?: () => number;
}

export interface IntakeAddress {
  readonly host: string;
  readonly port: number;
}

export interface CloseResult {
  /** Requests still running at the drain deadline, whose connections were cut. */
  readonly abandonedRequests: number;
}

export interface IntakeServer {
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<IntakeAddress>;
  /** Drains and stops (see the file comment); idempotent. */
  close(): Promise<CloseResult>;
  /** The bound address, once listening. */
  address(): IntakeAddress | undefined;
  readonly isDraining: boolean;
  readonly metrics: LiveMetrics;
}

type Route = 'firehose' | 'cloudtrail' | 'healthz' | 'metrics' | 'other';

/** How one Firehose request ended. */
type FirehoseOutcome = { readonly kind: 'processed' | 'duplicate' } | { readonly kind: 'failed'; readonly status: 413 | 500; readonly message: string };

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Intake implements IntakeServer {
  readonly metrics: LiveMetrics;
  private readonly server: Server;
  private readonly now: () => number;
  private readonly isFirehoseKey: SecretCheck;
  private readonly isBearerToken: SecretCheck;
  private readonly firehoseAttempts = new Map<string, Promise<FirehoseOutcome>>();
  private draining = false;
  private closing: Promise<CloseResult> | undefined;
  private activeRequests = 0;
  private onIdle: (() => void) | undefined;
  private bound: IntakeAddress | undefined;

  constructor(
    private readonly options: ResolvedIntakeOptions,
    private readonly handlers: IntakeHandlers,
    dependencies: IntakeDependencies,
  ) {
    this.metrics = dependencies.metrics ?? createLiveMetrics();
    this.now = dependencies.now ?? Date.now;
    this.isFirehoseKey = createSecretCheck(options.firehoseAccessKeys);
    this.isBearerToken = createSecretCheck(options.bearerTokens);
    this.server = createServer({ requestTimeout: options.requestTimeoutMs, headersTimeout: Math.min(options.requestTimeoutMs, 60_000) }, (request, response) => {
      this.activeRequests++;
      response.once('close', () => {
        this.activeRequests--;
        if (this.activeRequests === 0) this.onIdle?.();
      });
      this.handle(request, response).catch((error: unknown) => this.fail(response, error));
    });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  address(): IntakeAddress | undefined {
    return this.bound;
  }

  listen(host: string, port: number): Promise<IntakeAddress> {
    if (this.closing !== undefined) return Promise.reject(new TrailhoundError('E_SERVER_CLOSED', 'the intake server is closed; create a new one'));
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(new TrailhoundError('E_SERVER_LISTEN', `cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const info = this.server.address() as AddressInfo;
        this.bound = { host: info.address, port: info.port };
        resolve(this.bound);
      });
    });
  }

  close(): Promise<CloseResult> {
    this.closing ??= this.drain();
    return this.closing;
  }

  /**
   * Draining keeps the listener open until the requests in flight are done, so that health checks
   * see 503 and senders are told to retry elsewhere (503, `Connection: close`) meanwhile.
   */
  private async drain(): Promise<CloseResult> {
    this.draining = true;
    if (!this.server.listening) return { abandonedRequests: 0 };
    this.server.closeIdleConnections();
    let abandonedRequests = 0;
    if (this.activeRequests > 0) {
      let timer: NodeJS.Timeout | undefined;
      const isIdle = await new Promise<boolean>((resolve) => {
        this.onIdle = () => resolve(true);
        timer = setTimeout(() => resolve(false), this.options.drainTimeoutMs);
      });
      clearTimeout(timer);
      this.onIdle = undefined;
      if (!isIdle) abandonedRequests = this.activeRequests;
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    return { abandonedRequests };
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = request.method ?? 'GET';
    const route: Route = path === FIREHOSE_PATH ? 'firehose' : path === CLOUDTRAIL_PATH ? 'cloudtrail' : path === HEALTH_PATH ? 'healthz' : path === METRICS_PATH ? 'metrics' : 'other';
    response.once('finish', () => this.metrics.httpRequests.inc({ route, status: String(response.statusCode) }));
    if (this.draining) response.setHeader('Connection', 'close');

    switch (route) {
      case 'healthz':
        if (method !== 'GET' && method !== 'HEAD') return this.methodNotAllowed(request, response, 'GET, HEAD');
        return this.health(request, response);
      case 'metrics':
        if (method !== 'GET' && method !== 'HEAD') return this.methodNotAllowed(request, response, 'GET, HEAD');
        return this.send(response, 200, PROMETHEUS_CONTENT_TYPE, method === 'HEAD' ? '' : this.metrics.registry.render());
      case 'firehose':
        if (method !== 'POST') return this.methodNotAllowed(request, response, 'POST');
        return this.firehose(request, response);
      case 'cloudtrail':
        if (method !== 'POST') return this.methodNotAllowed(request, response, 'POST');
        return this.cloudTrail(request, response);
      default:
        return this.refuse(request, response, 404, { errorMessage: `no such route: ${method} ${path.slice(0, 200)}` });
    }
  }

  private health(request: IncomingMessage, response: ServerResponse): void {
    const isReady = this.handlers.isReady?.() ?? true;
    const status = this.draining ? 503 : isReady ? 200 : 503;
    const text = this.draining ? 'draining\n' : isReady ? 'ok\n' : 'starting\n';
    this.send(response, status, 'text/plain; charset=utf-8', request.method === 'HEAD' ? '' : text, text.length);
  }

  private methodNotAllowed(request: IncomingMessage, response: ServerResponse, allow: string): void {
    response.setHeader('Allow', allow);
    this.refuse(request, response, 405, { errorMessage: `method ${request.method ?? ''} is not allowed here; use ${allow}` });
  }

  // -------------------------------------------------------------------------------------------
  // POST /intake/firehose

  private async firehose(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const headerRequestId = header(request, FIREHOSE_REQUEST_ID_HEADER);
    const answerId = headerRequestId ?? '';
    const error = (status: number, message: string): void => {
      this.refuse(request, response, status, firehoseErrorBody(answerId, this.now(), message));
    };
    if (this.options.firehoseAccessKeys.length === 0) return error(404, 'the Firehose intake is not enabled: configure a Firehose access key');
    if (!this.isFirehoseKey(header(request, FIREHOSE_ACCESS_KEY_HEADER))) return error(401, 'missing or wrong X-Amz-Firehose-Access-Key');
    if (this.draining) return error(503, 'the server is shutting down; retry later');

    const body = await readRequestBody(request, this.options.maxBodyBytes);
    if (!body.ok) return this.bodyFailure(request, response, body, (message) => firehoseErrorBody(answerId, this.now(), message));
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(body.bytes.toString('utf8'));
    } catch (cause) {
      return error(400, `the body is not valid JSON (${errorText(cause).slice(0, 200)})`);
    }
    const parsed = parseFirehoseRequest(parsedJson, headerRequestId);
    if (!parsed.ok) return error(400, parsed.message);
    const { requestId } = parsed.value;
    const payloads: Buffer[] = [];
    for (let i = 0; i < parsed.value.records.length; i++) {
      const bytes = decodeBase64Strict(parsed.value.records[i] ?? '');
      if (bytes === undefined) {
        this.send(response, 400, 'application/json', JSON.stringify(firehoseErrorBody(requestId, this.now(), `records[${i}].data is not valid base64; nothing in this request was processed`)));
        return;
      }
      payloads.push(bytes);
    }
    const sourceArn = header(request, FIREHOSE_SOURCE_ARN_HEADER);
    const context: IntakeRequestContext = sourceArn === undefined ? { source: 'firehose', requestId } : { source: 'firehose', requestId, sourceArn };

    let attempt = this.firehoseAttempts.get(requestId);
    const isJoining = attempt !== undefined;
    if (isJoining) this.metrics.duplicateRequests.inc({ source: 'firehose' });
    if (attempt === undefined) {
      attempt = this.firehoseAttempt(payloads, context);
      this.firehoseAttempts.set(requestId, attempt);
      void attempt.then(() => this.firehoseAttempts.delete(requestId));
    }
    const outcome = await attempt;
    if (outcome.kind === 'failed') {
      const message = isJoining ? `an earlier attempt of this request failed (${outcome.message}); retry` : outcome.message;
      this.send(response, outcome.status, 'application/json', JSON.stringify(firehoseErrorBody(requestId, this.now(), message)));
      return;
    }
    if (outcome.kind === 'duplicate' && !isJoining) this.metrics.duplicateRequests.inc({ source: 'firehose' });
    this.send(response, 200, 'application/json', JSON.stringify(firehoseSuccessBody(requestId, this.now())));
  }

  /** Processes one Firehose request once; never rejects. */
  private async firehoseAttempt(payloads: readonly Buffer[], context: IntakeRequestContext): Promise<FirehoseOutcome> {
    const { requestId } = context;
    try {
      if (await this.handlers.isDone(requestId)) return { kind: 'duplicate' };
    } catch (cause) {
      this.handlers.onError?.(cause, context);
      return { kind: 'failed', status: 500, message: 'the checkpoint store could not be read; retry' };
    }
    const collector = new RecordCollector(originFor('firehose', requestId), this.options.maxDecodedBytes);
    let decodedBytes = 0;
    for (let i = 0; i < payloads.length; i++) {
      let bytes: Buffer | undefined = payloads[i];
      if (bytes === undefined || bytes.length === 0) continue;
      if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
        const inflated = await gunzipWithin(bytes, this.options.maxDecodedBytes - decodedBytes);
        if (inflated === 'too-large') return { kind: 'failed', status: 413, message: `the records decompress to more than ${this.options.maxDecodedBytes} bytes (maxDecodedBytes)` };
        if (inflated === undefined) {
          collector.problem('E_READ_GZIP', `records[${i}]: the data starts like gzip but is not valid gzip`, i);
          continue;
        }
        bytes = inflated;
      }
      decodedBytes += bytes.length;
      if (decodedBytes > this.options.maxDecodedBytes) return { kind: 'failed', status: 413, message: `the records decode to more than ${this.options.maxDecodedBytes} bytes (maxDecodedBytes)` };
      await collector.add(bytes.toString('utf8'), `records[${i}]: `);
      if (collector.isOverBudget) return { kind: 'failed', status: 413, message: `the records decode to more than ${this.options.maxDecodedBytes} bytes (maxDecodedBytes)` };
    }
    this.reportProblems(collector, 'firehose');
    try {
      if (collector.records.length > 0) await this.handlers.onRecords(collector.records, context);
      await this.handlers.markDone(requestId);
    } catch (cause) {
      this.handlers.onError?.(cause, context);
      return { kind: 'failed', status: 500, message: `processing failed (${errorText(cause).slice(0, 300)}); retry` };
    }
    this.metrics.recordsIn.inc({ source: 'firehose' }, collector.records.length);
    this.metrics.objectsProcessed.inc({ source: 'firehose' });
    return { kind: 'processed' };
  }

  // -------------------------------------------------------------------------------------------
  // POST /intake/cloudtrail

  private async cloudTrail(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const error = (message: string): { requestId: string; timestamp: number; errorMessage: string } => ({ requestId, timestamp: Math.trunc(this.now()), errorMessage: message });
    if (this.options.bearerTokens.length === 0) return this.refuse(request, response, 404, error('the CloudTrail intake is not enabled: configure a bearer token'));
    if (!this.isBearerToken(bearerToken(header(request, 'authorization')))) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="trailhound"');
      return this.refuse(request, response, 401, error('missing or wrong bearer token (Authorization: Bearer <token>)'));
    }
    if (this.draining) return this.refuse(request, response, 503, error('the server is shutting down; retry later'));

    const body = await readRequestBody(request, this.options.maxBodyBytes);
    if (!body.ok) return this.bodyFailure(request, response, body, error);
    const collector = new RecordCollector(originFor('http', requestId), this.options.maxDecodedBytes);
    await collector.add(body.bytes.toString('utf8'));
    if (collector.isOverBudget) {
      this.send(response, 413, 'application/json', JSON.stringify(error(`the records decode to more than ${this.options.maxDecodedBytes} bytes (maxDecodedBytes)`)));
      return;
    }
    this.reportProblems(collector, 'http');
    if (collector.records.length === 0 && collector.problems.length > 0) {
      this.send(response, 400, 'application/json', JSON.stringify(error(`no CloudTrail record could be read: ${summariseProblems(collector.problems)}`)));
      return;
    }
    const context: IntakeRequestContext = { source: 'http', requestId };
    try {
      if (collector.records.length > 0) await this.handlers.onRecords(collector.records, context);
    } catch (cause) {
      this.handlers.onError?.(cause, context);
      this.send(response, 500, 'application/json', JSON.stringify(error(`processing failed (${errorText(cause).slice(0, 300)}); retry`)));
      return;
    }
    this.metrics.recordsIn.inc({ source: 'http' }, collector.records.length);
    this.metrics.objectsProcessed.inc({ source: 'http' });
    const problems = collector.problems.slice(0, MAX_PROBLEMS_IN_RESPONSE).map((p) => ({ code: p.code, message: p.message }));
    this.send(response, 200, 'application/json', JSON.stringify({ requestId, timestamp: Math.trunc(this.now()), records: collector.records.length, problems }));
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private reportProblems(collector: RecordCollector, source: 'firehose' | 'http'): void {
    if (collector.problems.length === 0) return;
    this.metrics.recordsBad.inc({ source }, collector.problems.length);
    if (this.handlers.onProblem === undefined) return;
    for (const problem of collector.problems) {
      try {
        this.handlers.onProblem(problem);
      } catch {
        // A reporting callback must not change the answer.
      }
    }
  }

  private bodyFailure(request: IncomingMessage, response: ServerResponse, failure: BodyFailure, body: (message: string) => object): void {
    if (failure.isBodyUnread) this.refuse(request, response, failure.status, body(failure.message));
    else this.send(response, failure.status, 'application/json', JSON.stringify(body(failure.message)));
  }

  /**
   * Answers without reading (the rest of) the body: the connection is closed after the answer, and
   * what the client still sends meanwhile is discarded, for at most LINGER_MS, so that it can read
   * the answer instead of seeing its upload cut.
   */
  private refuse(request: IncomingMessage, response: ServerResponse, status: number, body: object): void {
    if (!request.complete) {
      response.setHeader('Connection', 'close');
      request.resume();
      const timer = setTimeout(() => request.socket.destroy(), LINGER_MS);
      timer.unref();
      request.socket.once('close', () => clearTimeout(timer));
    }
    this.send(response, status, 'application/json', JSON.stringify(body));
  }

  private send(response: ServerResponse, status: number, contentType: string, text: string, contentLength?: number): void {
    if (response.headersSent) return;
    response.statusCode = status;
    response.setHeader('Content-Type', contentType);
    response.setHeader('Content-Length', contentLength ?? Buffer.byteLength(text));
    response.setHeader('Cache-Control', 'no-store');
    response.end(text);
  }

  private fail(response: ServerResponse, error: unknown): void {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    this.send(response, 500, 'application/json', JSON.stringify({ requestId: '', timestamp: Math.trunc(this.now()), errorMessage: `internal error: ${errorText(error).slice(0, 300)}` }));
  }
}

/**
 * Creates the intake server (not yet listening). Throws a TrailhoundError (E_CONFIG_SERVER) listing
 * every problem when `options` are invalid.
 */
export function createIntakeServer(options: IntakeServerOptions, handlers: IntakeHandlers, dependencies: IntakeDependencies = {}): IntakeServer {
  const parsed = parseIntakeOptions(options);
  if (!parsed.ok) throw new TrailhoundError('E_CONFIG_SERVER', `invalid intake server options:\n${parsed.diagnostics.map(formatDiagnostic).join('\n')}`);
  return new Intake(parsed.value, handlers, dependencies);
}
