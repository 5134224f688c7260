/**
 * `slack:URL`: a message per signal change to a Slack incoming webhook, in Block Kit: severity and
 * title, the identity and the instance, account and region, the rule's triage steps, and the signal
 * id with the command that shows it.
 *
 * Everything taken from CloudTrail is attacker-controlled (a session name is whatever the caller of
 * AssumeRole chose). In Slack's mrkdwn, `<!channel>`, `<@U123>` and `<https://x|text>` are control
 * sequences, so `&`, `<` and `>` are escaped everywhere (Slack's own rule); values are shown in code
 * spans (no auto-links, no formatting), `@channel`-style words are broken with a zero-width space,
 * and every text is cut to Block Kit's limits.
 */
import type { Severity, Signal } from '../core/types.js';
import { safeUrlLabel } from './http-post.js';
import type { HttpPostOptions } from './http-post.js';
import { createPostingSink } from './post-sink.js';
import type { SignalChange, SignalSink } from './sink.js';
import { parseHttpUrl } from './webhook.js';

export const SLACK_CHANGE_KINDS = ['created', 'updated', 'closed'] as const;
export type SlackChangeKind = (typeof SLACK_CHANGE_KINDS)[number];

export interface SlackSinkOptions extends HttpPostOptions {
  /** The incoming-webhook URL (https://hooks.slack.com/services/…): a secret. */
  readonly url: string;
  /** Which changes are posted (default all three). */
  readonly notify?: readonly SlackChangeKind[];
}

/** Block Kit limits (characters). */
const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const FIELD_MAX = 2000;
const FALLBACK_MAX = 300;
const VALUE_MAX = 300;

const SEVERITY_MARK: Readonly<Record<Severity, string>> = { critical: ':red_circle:', high: ':large_orange_circle:', medium: ':large_yellow_circle:', low: ':large_blue_circle:', info: ':white_circle:' };

/** Slack's escaping for text it parses: `&`, `<`, `>` (so `<!channel>` and `<@U…>` are shown, not acted on). */
export function escapeSlack(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)\b/gi, '@\u200b$1');
}

/** Cuts already escaped text to `max` characters without splitting an entity or a surrogate pair. */
export function cutSlack(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  cut = cut.replace(/&[a-z]{0,4}$/, '');
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** One attacker-controlled value on one line, in a code span. */
export function slackCode(value: string): string {
  // eslint-disable-next-line no-control-regex -- line breaks and control characters would break the layout
  const flat = value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/`/g, 'ˋ');
  const short = flat.length > VALUE_MAX ? `${flat.slice(0, VALUE_MAX - 1)}…` : flat;
  return `\`${escapeSlack(short)}\``;
}

function plain(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- a header is one line
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The rule message's "Triage and response" section (the whole message when it has none), as Slack mrkdwn. */
export function triageSteps(message: string): string {
  const match = /^#{1,6}\s*triage( and response)?\s*$/im.exec(message);
  let section = message;
  if (match) {
    const rest = message.slice(match.index + match[0].length);
    const next = /^#{1,6}\s/m.exec(rest);
    section = next ? rest.slice(0, next.index) : rest;
  }
  const lines = escapeSlack(section.trim())
    .split(/\r?\n/)
    .map((line) => line.replace(/^(\s*)[*-]\s+/, '$1• ').replace(/\*\*([^*\n]+)\*\*/g, '*$1*'));
  return lines.join('\n');
}

function identitiesOf(signal: Signal): string[] {
  const found = new Set<string>();
  for (const actor of signal.actors ?? []) {
    const arn = actor.arn ?? actor.sessionName;
    if (arn !== null) found.add(actor.sessionName !== null && actor.arn !== null ? `${actor.sessionName} (${actor.arn})` : arn);
  }
  for (const [field, value] of Object.entries(signal.group)) if (/userIdentity|accessKeyId|principal/i.test(field)) found.add(value);
  return [...found];
}

function groupValue(signal: Signal, pattern: RegExp): string | undefined {
  for (const [field, value] of Object.entries(signal.group)) if (pattern.test(field)) return value;
  return undefined;
}

function changeLabel(change: SignalChange): string {
  if (change.kind === 'closed') {
    const t = change.triage;
    return t !== undefined ? `Closed (${t.status}${t.resolution !== null ? `: ${t.resolution}` : ''})` : 'Closed';
  }
  return change.kind === 'updated' ? `Updated (update ${String(change.signal.updates)})` : 'New signal';
}

/** The Slack message (Block Kit) for one change. */
export function slackMessage(change: SignalChange): Record<string, unknown> {
  const { signal } = change;
  const label = changeLabel(change);
  const severity = signal.severity.toUpperCase();
  const identities = identitiesOf(signal);
  const instance = signal.host ?? groupValue(signal, /instance/i);
  const account = groupValue(signal, /recipientAccountId|account/i);
  const region = groupValue(signal, /awsRegion|region/i);
  const fields: { type: 'mrkdwn'; text: string }[] = [
    { type: 'mrkdwn', text: `*Severity*\n${SEVERITY_MARK[signal.severity]} ${severity}` },
    { type: 'mrkdwn', text: `*Rule*\n${slackCode(signal.ruleId)}` },
    { type: 'mrkdwn', text: cutSlack(`*Identity*\n${identities.length > 0 ? identities.slice(0, 5).map(slackCode).join('\n') : '—'}`, FIELD_MAX) },
    { type: 'mrkdwn', text: `*Instance*\n${instance !== undefined ? slackCode(instance) : '—'}` },
    { type: 'mrkdwn', text: `*Account / region*\n${account !== undefined ? slackCode(account) : '—'} ${region !== undefined ? slackCode(region) : ''}`.trimEnd() },
    { type: 'mrkdwn', text: `*Seen*\n${slackCode(signal.firstSeen)} → ${slackCode(signal.lastSeen)} (${String(signal.eventCount)} events)` },
  ];
  const fallback = `[${severity}] ${label}: ${plain(signal.title, FALLBACK_MAX)}${identities[0] !== undefined ? ` — ${plain(identities[0], 120)}` : ''}${instance !== undefined ? ` on ${plain(instance, 60)}` : ''}`;
  return {
    text: escapeSlack(cutSlack(fallback, FALLBACK_MAX)),
    blocks: [
      // Slack decodes &amp; &lt; &gt; in plain_text too, so it is escaped like the rest.
      { type: 'header', text: { type: 'plain_text', text: cutSlack(escapeSlack(plain(`${label}: ${signal.title}`, HEADER_MAX * 5)), HEADER_MAX), emoji: false } },
      { type: 'section', fields },
      { type: 'section', text: { type: 'mrkdwn', text: cutSlack(`*Triage and response*\n${triageSteps(signal.message)}`, SECTION_MAX) } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: cutSlack(`Signal ${slackCode(signal.id)} · update ${String(signal.updates)} · \`trailhound signals show ${escapeSlack(signal.id.replace(/[^\w.-]/g, ''))}\``, SECTION_MAX) }],
      },
    ],
  };
}

export function createSlackSink(options: SlackSinkOptions): SignalSink {
  const url = parseHttpUrl(options.url, 'the Slack webhook URL');
  const notify = new Set<string>(options.notify ?? SLACK_CHANGE_KINDS);
  return createPostingSink(`slack:${safeUrlLabel(url)}`, (change) => (notify.has(change.kind) ? [{ url: url.href, body: JSON.stringify(slackMessage(change)) }] : []), options);
}
