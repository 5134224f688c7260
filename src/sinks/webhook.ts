/**
 * `webhook:URL`: one HTTP POST per signal change, its body the OCSF Detection Finding of the change
 * (src/sinks/ocsf-finding.ts) or, with `format: flat`, trailhound's own `{ kind, signal, triage }`.
 *
 * Signed when a secret is configured (from the config file or an environment variable, never the
 * command line): `X-Trailhound-Timestamp` is the Unix time in seconds and
 * `X-Trailhound-Signature: sha256=HEX` the HMAC-SHA256, keyed with the secret, of
 * `TIMESTAMP + "." + BODY` (the raw bytes). A receiver recomputes it, compares in constant time and
 * refuses a timestamp too far from its clock (replays); `verifyWebhookSignature` does all three.
 * `X-Trailhound-Delivery` (`SIGNAL_ID:UPDATES:KIND`) is the same on every redelivery of a change:
 * delivery is at least once, so receivers may use it to drop repeats.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { JsonObject } from '../core/types.js';
import { safeUrlLabel } from './http-post.js';
import type { HttpPostOptions } from './http-post.js';
import { ocsfDetectionFinding } from './ocsf-finding.js';
import { createPostingSink } from './post-sink.js';
import type { SignalChange, SignalSink } from './sink.js';

export const WEBHOOK_FORMATS = ['ocsf', 'flat'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export const SIGNATURE_HEADER = 'x-trailhound-signature';
export const TIMESTAMP_HEADER = 'x-trailhound-timestamp';
export const DELIVERY_HEADER = 'x-trailhound-delivery';

/** How far a signed timestamp may be from the receiver's clock (default of `verifyWebhookSignature`). */
export const DEFAULT_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export interface WebhookSinkOptions extends HttpPostOptions {
  readonly url: string;
  /** Default `ocsf`. */
  readonly format?: WebhookFormat;
  /** The HMAC-SHA256 key; unsigned without one. */
  readonly secret?: string;
  /** trailhound's version, in the OCSF metadata. */
  readonly productVersion: string;
  /** Extra headers (e.g. an Authorization the receiver wants). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Wall clock for the signature timestamp (default Date.now). */
  readonly now?: () => number;
}

/** The flat body: trailhound's own shape, the signal exactly as `scan --format jsonl` prints it. */
export function flatWebhookBody(change: SignalChange): JsonObject {
  return {
    kind: change.kind,
    signal: JSON.parse(JSON.stringify(change.signal)) as JsonObject,
    ...(change.triage !== undefined ? { triage: { status: change.triage.status, resolution: change.triage.resolution, assignee: change.triage.assignee } } : {}),
  };
}

/** `sha256=HEX` for a body sent at `timestampSeconds`. */
export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${String(timestampSeconds)}.`).update(body).digest('hex')}`;
}

/**
 * Checks a received webhook: the signature matches the body and timestamp (constant-time), and the
 * timestamp is within `toleranceMs` of `nowMs`. Header names are lower case (as Node gives them).
 */
export function verifyWebhookSignature(secret: string, headers: Readonly<Record<string, string | string[] | undefined>>, body: string, options: { readonly nowMs?: number; readonly toleranceMs?: number } = {}): boolean {
  const signature = headers[SIGNATURE_HEADER];
  const timestamp = headers[TIMESTAMP_HEADER];
  if (typeof signature !== 'string' || typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
  const seconds = Number(timestamp);
  if (Math.abs((options.nowMs ?? Date.now()) - seconds * 1000) > (options.toleranceMs ?? DEFAULT_SIGNATURE_TOLERANCE_MS)) return false;
  const expected = Buffer.from(webhookSignature(secret, seconds, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The key of a change that stays the same on every redelivery. */
export function deliveryIdOf(change: SignalChange): string {
  return `${change.signal.id}:${String(change.signal.updates)}:${change.kind}`;
}

/** Throws a TypeError naming the problem when the URL is not http(s). */
export function parseHttpUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`${what} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`${what} must be an http:// or https:// URL`);
  return url;
}

export function createWebhookSink(options: WebhookSinkOptions): SignalSink {
  const url = parseHttpUrl(options.url, 'the webhook URL');
  const format = options.format ?? 'ocsf';
  const now = options.now ?? Date.now;
  const name = `webhook:${safeUrlLabel(url)}`;
  return createPostingSink(
    name,
    (change) => {
      const document = format === 'flat' ? flatWebhookBody(change) : ocsfDetectionFinding(change, { productVersion: options.productVersion, nowMs: now() });
      const body = JSON.stringify(document);
      const headers: Record<string, string> = { ...options.headers, [DELIVERY_HEADER]: deliveryIdOf(change) };
      if (options.secret !== undefined) {
        const timestamp = Math.floor(now() / 1000);
        headers[TIMESTAMP_HEADER] = String(timestamp);
        headers[SIGNATURE_HEADER] = webhookSignature(options.secret, timestamp, body);
      }
      return [{ url: url.href, body, headers }];
    },
    options,
  );
}
