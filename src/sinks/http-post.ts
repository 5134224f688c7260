/**
 * One HTTP POST for the network sinks (webhook, Slack, PagerDuty), with a timeout, no redirects
 * followed, and a failure that says whether a retry may help. The delivery runner
 * (src/pipeline/outbox-delivery.ts) does the retrying; a sink only posts and reports.
 *
 * Messages never show a whole target URL: a Slack or webhook URL often carries its secret in the
 * path or the query, so callers give a `target` text that is safe to print.
 */
import { TrailhoundError } from '../core/errors.js';

/** Default time an HTTP request may take, connection included. */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

/** Most of a response body kept for an error message. */
const MAX_ERROR_BODY_CHARS = 300;

/** Statuses whose retry with the same body cannot succeed: the entry goes to the dead letters at once. */
const PERMANENT_STATUSES = new Set([400, 413, 422]);

/**
 * A delivery that failed. `delivered` changes of the call were confirmed before the failure (the
 * runner marks them delivered); `isPermanent`: the target refused the content itself (retrying the
 * same body cannot help); `retryAfterMs`: the target asked to wait that long (429, 503).
 */
export class SinkDeliveryError extends TrailhoundError {
  readonly delivered: number;
  readonly isPermanent: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: { readonly delivered?: number; readonly isPermanent?: boolean; readonly retryAfterMs?: number | undefined; readonly cause?: unknown } = {}) {
    super('E_SINK_DELIVERY', message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'SinkDeliveryError';
    this.delivered = details.delivered ?? 0;
    this.isPermanent = details.isPermanent ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** The same failure, counting `delivered` changes confirmed before it in the caller's batch. */
  after(delivered: number): SinkDeliveryError {
    return new SinkDeliveryError(this.message, { delivered, isPermanent: this.isPermanent, retryAfterMs: this.retryAfterMs, cause: this.cause });
  }
}

export interface HttpPostOptions {
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Injectable for tests (default the global fetch). */
  readonly fetch?: typeof fetch;
}

export interface HttpPostResponse {
  readonly status: number;
  /** The start of the response body (at most a few hundred characters). */
  readonly text: string;
}

/** `Retry-After` in seconds or as an HTTP date → milliseconds from `nowMs` (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- strips control characters from a remote answer before it reaches a log line
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_ERROR_BODY_CHARS ? `${flat.slice(0, MAX_ERROR_BODY_CHARS)}…` : flat;
}

/**
 * POSTs `body` to `url`; resolves on a 2xx answer, rejects with a `SinkDeliveryError` otherwise
 * (network error, timeout, redirect, other status). `target` names the destination in messages.
 */
export async function postJson(url: string, body: string, headers: Readonly<Record<string, string>>, target: string, options: HttpPostOptions = {}): Promise<HttpPostResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'trailhound', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError') ? `no answer within ${String(timeoutMs)} ms` : describeNetworkError(error);
    throw new SinkDeliveryError(`cannot deliver to ${target}: ${reason}`, { cause: error });
  }
  let text = '';
  try {
    text = oneLine(await response.text());
  } catch {
    // The status decides; the body is only for messages.
  }
  if (response.status >= 200 && response.status < 300) return { status: response.status, text };
  const retryAfterMs = response.status === 429 || response.status === 503 ? parseRetryAfter(response.headers.get('retry-after'), Date.now()) : undefined;
  const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed: give the final URL)' : '';
  throw new SinkDeliveryError(`cannot deliver to ${target}: HTTP ${String(response.status)}${redirect}${text !== '' ? `: ${text}` : ''}`, {
    isPermanent: PERMANENT_STATUSES.has(response.status),
    retryAfterMs,
  });
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
    return `${code}${cause.message}`;
  }
  return error.message;
}

/** A URL safe to print: scheme, host and port only, then `/…` when there is more (paths and queries often hold secrets). */
export function safeUrlLabel(url: URL): string {
  const more = url.pathname !== '/' || url.search !== '' ? '/…' : '';
  return `${url.protocol}//${url.host}${more}`;
}
