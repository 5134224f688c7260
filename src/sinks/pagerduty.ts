/**
 * `pagerduty:ROUTING_KEY`: PagerDuty Events API v2. A created or updated signal is a `trigger`
 * whose `dedup_key` is the signal id (so every update lands on the same incident, and a redelivery
 * changes nothing); a closed one (resolved or suppressed in `trailhound signals`) is a `resolve`.
 * The routing key is an integration secret: it never appears in names or messages.
 */
import { createHash } from 'node:crypto';
import type { Severity } from '../core/types.js';
import type { HttpPostOptions } from './http-post.js';
import { createPostingSink } from './post-sink.js';
import type { SignalChange, SignalSink } from './sink.js';
import { parseHttpUrl } from './webhook.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface PagerDutySinkOptions extends HttpPostOptions {
  readonly routingKey: string;
  /** Default the public Events API v2 endpoint (tests and EU accounts set another). */
  readonly endpoint?: string;
  /** `payload.source` (default `trailhound`); the instance or identity is in `component`. */
  readonly source?: string;
}

/** PagerDuty's four severities. */
export const PAGERDUTY_SEVERITY: Readonly<Record<Severity, 'critical' | 'error' | 'warning' | 'info'>> = { critical: 'critical', high: 'error', medium: 'warning', low: 'info', info: 'info' };

/** PagerDuty's limit on `payload.summary`. */
const SUMMARY_MAX = 1024;

/** A routing key shown without giving it away: its first 4 characters and a short hash. */
export function routingKeyLabel(routingKey: string): string {
  return `${routingKey.slice(0, 4)}…${createHash('sha256').update(routingKey).digest('hex').slice(0, 8)}`;
}

function identityOf(change: SignalChange): string | undefined {
  const actor = change.signal.actors?.find((a) => a.arn !== null);
  if (actor?.arn != null) return actor.arn;
  for (const [field, value] of Object.entries(change.signal.group)) if (/userIdentity/i.test(field)) return value;
  return undefined;
}

/** The Events API v2 body for one change. */
export function pagerDutyEvent(change: SignalChange, routingKey: string, source = 'trailhound'): Record<string, unknown> {
  const { signal } = change;
  if (change.kind === 'closed') return { routing_key: routingKey, event_action: 'resolve', dedup_key: signal.id };
  const identity = identityOf(change);
  // eslint-disable-next-line no-control-regex -- a summary is one line
  const summary = `${signal.title}${identity !== undefined ? ` by ${identity}` : ''}${signal.host !== null ? ` on ${signal.host}` : ''}`.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: signal.id,
    payload: {
      summary: summary.length > SUMMARY_MAX ? `${summary.slice(0, SUMMARY_MAX - 1)}…` : summary,
      source,
      severity: PAGERDUTY_SEVERITY[signal.severity],
      timestamp: signal.lastSeen,
      ...(signal.host !== null ? { component: signal.host } : {}),
      group: signal.ruleId,
      class: signal.tags.find((t) => t.startsWith('tactic:'))?.slice('tactic:'.length) ?? 'cloudtrail',
      custom_details: {
        change: change.kind,
        ...(change.triage !== undefined ? { triage: change.triage } : {}),
        signal,
      },
    },
  };
}

export function createPagerDutySink(options: PagerDutySinkOptions): SignalSink {
  if (options.routingKey.trim() === '') throw new TypeError('the PagerDuty routing key is empty');
  const endpoint = parseHttpUrl(options.endpoint ?? PAGERDUTY_EVENTS_URL, 'the PagerDuty endpoint');
  return createPostingSink(
    `pagerduty:${routingKeyLabel(options.routingKey)}`,
    (change) => [{ url: endpoint.href, body: JSON.stringify(pagerDutyEvent(change, options.routingKey, options.source)) }],
    options,
  );
}
