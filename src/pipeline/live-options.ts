/**
 * Parsing the values `trailhound watch` and `trailhound serve` take on the command line and from
 * the environment: durations (`90s`, `15m`, `2h`, `7d`), what to watch (`s3://…`, `sqs://…`, a
 * folder), `HOST:PORT`, account and region lists, and secrets lists. Pure; each parser throws a
 * `UsageError` that names the flag and shows a valid example.
 */
import { UsageError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `90s`, `15m`, `2h`, `7d`, `500ms`, or combinations written largest first (`1h30m`) → milliseconds.
 * A bare number is refused (seconds or minutes? say which).
 */
export function parseDuration(text: string, flag: string, maxMs = 366 * 86_400_000): number {
  const value = text.trim();
  const parts = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$/.test(value) ? [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)] : [];
  if (parts.length === 0) {
    throw new UsageError(`${flag} takes a duration such as 90s, 15m, 2h or 7d (got ${quoteForMessage(text, 40)})`);
  }
  let total = 0;
  for (const part of parts) total += Number(part[1]) * (UNIT_MS[part[2] ?? ''] ?? Number.NaN);
  if (!Number.isFinite(total) || total > maxMs) throw new UsageError(`${flag}: ${quoteForMessage(text, 40)} is too long (at most ${Math.floor(maxMs / 86_400_000)}d)`);
  return Math.round(total);
}

/**
 * `--since`: a duration back from `nowMs` (`2h`, `3d`, at most 10 years) or an ISO 8601 time
 * (`2024-08-01T00:00:00Z`) → epoch ms.
 */
export function parseSince(text: string, nowMs: number): number {
  const value = text.trim();
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  let back: number;
  try {
    back = parseDuration(value, '--since', 3653 * 86_400_000);
  } catch {
    throw new UsageError(`--since takes a duration back from now (90m, 2h, 7d) or a UTC time (2024-08-01T00:00:00Z) (got ${quoteForMessage(text, 40)})`);
  }
  return Math.max(0, nowMs - back);
}

/** What `trailhound watch` reads. */
export type WatchTarget =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'sqs'; readonly queueUrl: string }
  | { readonly kind: 'folder'; readonly path: string };

/**
 * `s3://bucket/prefix`, `sqs://QUEUE-URL` (`sqs://https://sqs.us-east-1.amazonaws.com/123456789012/q`,
 * or without the scheme: `sqs://sqs.us-east-1.amazonaws.com/123456789012/q` means https), or a path.
 */
export function parseWatchTarget(text: string): WatchTarget {
  if (text.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(text);
    if (!m?.[1]) throw new UsageError(`not an S3 URL: ${quoteForMessage(text, 100)} (expected s3://bucket/prefix)`);
    return { kind: 's3', bucket: m[1], prefix: m[2] ?? '' };
  }
  if (text.startsWith('sqs://')) {
    const rest = text.slice('sqs://'.length);
    const url = /^https?:\/\//.test(rest) ? rest : `https://${rest}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`not an SQS queue URL: ${quoteForMessage(text, 100)} (expected sqs://https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)`);
    }
    if (parsed.pathname.split('/').filter((p) => p !== '').length < 2) {
      throw new UsageError(`not an SQS queue URL: ${quoteForMessage(text, 100)} (expected sqs://https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)`);
    }
    return { kind: 'sqs', queueUrl: url };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new UsageError(`cannot watch ${quoteForMessage(text, 100)}: use s3://bucket/prefix, sqs://QUEUE-URL or a local folder`);
  if (text.trim() === '') throw new UsageError('watch needs what to watch: s3://bucket/prefix, sqs://QUEUE-URL or a local folder');
  return { kind: 'folder', path: text };
}

/** `HOST:PORT`, `[::1]:PORT` or `:PORT` (all interfaces) → its parts. Port 0 picks a free port. */
export function parseListen(text: string, flag: string): { readonly host: string; readonly port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new UsageError(`${flag} takes HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (got ${quoteForMessage(text, 60)})`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

/** Comma-separated values of a repeatable flag, trimmed, empty ones dropped, each checked by `pattern`. */
export function parseList(values: readonly string[] | undefined, flag: string, pattern: RegExp, what: string): string[] | undefined {
  if (values === undefined) return undefined;
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  for (const item of items) if (!pattern.test(item)) throw new UsageError(`${flag}: ${quoteForMessage(item, 60)} is not ${what}`);
  return items.length > 0 ? [...new Set(items)] : undefined;
}

/** Secrets from an environment variable or a file: separated by commas or line breaks; blanks and `#` lines dropped. */
export function splitSecrets(text: string): string[] {
  return text
    .split(/[\r\n,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'));
}
