/**
 * The config file's `sinks:` list, through `loadConfig` (positions, codes and hints as for the rest
 * of the file), and the `--sink` values with their outbox keys.
 */
import { describe, expect, it } from 'vitest';
import { isOutboxSink, parseSinkSpec, sinkKeyOf } from '../sinks/spec.js';
import type { SinkSpec } from '../sinks/spec.js';
import { loadConfig } from './config.js';

function load(text: string): ReturnType<typeof loadConfig> {
  return loadConfig({ path: 'trailhound.yaml', text }, Date.UTC(2026, 0, 1));
}

function sinksOf(text: string): readonly SinkSpec[] {
  const result = load(text);
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.message).join('; '));
  return result.value.sinks;
}

function errorsOf(text: string): string[] {
  const result = load(text);
  return result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.position ? `${String(d.position.line)}:${String(d.position.column)} ` : ''}${d.message}`);
}

describe('the sinks: section', () => {
  it('reads each sink type with its options; secrets stay environment variable names', () => {
    const specs = sinksOf(`sinks:
  - type: webhook
    url: https://siem.example.com/intake
    format: flat
    secretEnv: SIEM_HMAC_KEY
    headers: { X-Team: secops }
    retry: { maxAttempts: 20, maxDelayMs: 600000 }
  - type: slack
    urlEnv: SLACK_WEBHOOK_URL
    notify: [created, closed, created]
  - type: pagerduty
    routingKeyEnv: PD_KEY
    endpoint: https://events.eu.pagerduty.com/v2/enqueue
    timeoutMs: 5000
  - type: jsonl
    path: signals.jsonl
  - type: stdout
  - type: ocsf
    path: findings.ocsf.jsonl
  - type: securityhub
    region: eu-west-1
`);
    expect(specs).toEqual([
      { kind: 'webhook', url: { value: 'https://siem.example.com/intake' }, format: 'flat', secret: { env: 'SIEM_HMAC_KEY' }, headers: { 'X-Team': 'secops' }, retry: { maxAttempts: 20, maxDelayMs: 600000 } },
      { kind: 'slack', url: { env: 'SLACK_WEBHOOK_URL' }, notify: ['created', 'closed'] },
      { kind: 'pagerduty', routingKey: { env: 'PD_KEY' }, endpoint: 'https://events.eu.pagerduty.com/v2/enqueue', timeoutMs: 5000 },
      { kind: 'jsonl', path: 'signals.jsonl' },
      { kind: 'stdout' },
      { kind: 'ocsf', path: 'findings.ocsf.jsonl' },
      { kind: 'securityhub', region: 'eu-west-1' },
    ]);
    expect(specs.map(isOutboxSink)).toEqual([true, true, true, false, false, false, true]);
  });

  it.each([
    ['an unknown type', 'sinks:\n  - type: email\n    to: soc@example.com\n', ['E_CONFIG_SCHEMA 2:11 sinks[0].type must be one of stdout, jsonl, webhook, slack, pagerduty, ocsf, securityhub']],
    ['an unknown field, with the closest name', 'sinks:\n  - type: slack\n    urlEnv: SLACK\n    notfy: [created]\n', ["E_CONFIG_UNKNOWN_FIELD 4:5 unknown field 'notfy' in a slack sink"]],
    ['no URL', 'sinks:\n  - type: webhook\n    format: ocsf\n', ['E_CONFIG_SCHEMA 2:5 a webhook sink needs urlEnv (or url)']],
    ['both url and urlEnv', 'sinks:\n  - type: slack\n    url: https://hooks.slack.com/x\n    urlEnv: SLACK\n', ['E_CONFIG_SCHEMA 2:5 a slack sink takes url or urlEnv, not both']],
    ['a bad format', 'sinks:\n  - type: webhook\n    urlEnv: HOOK\n    format: xml\n', ["E_CONFIG_SCHEMA 4:13 'sinks[0].format': Invalid option: expected one of \"ocsf\"|\"flat\""]],
    ['a secret env that is not a name', 'sinks:\n  - type: webhook\n    urlEnv: HOOK\n    secretEnv: $SECRET\n', ["E_CONFIG_SCHEMA 4:16 'sinks[0].secretEnv': must be an environment variable name (letters, digits, _)"]],
    ['a non-http URL', 'sinks:\n  - type: webhook\n    url: ftp://x\n', ["E_CONFIG_SCHEMA 3:10 'sinks[0].url': must be an http:// or https:// URL"]],
    ['not a list', 'sinks: webhook\n', ["E_CONFIG_SCHEMA 1:8 'sinks' must be a list of sinks"]],
  ])('refuses %s', (_name, text, expected) => {
    const errors = errorsOf(text);
    expect(errors).toEqual(expected);
  });
});

describe('--sink values', () => {
  it.each([
    ['stdout', { kind: 'stdout' }],
    ['jsonl:/var/log/s.jsonl', { kind: 'jsonl', path: '/var/log/s.jsonl' }],
    ['webhook:https://siem.example.com/in?token=x', { kind: 'webhook', url: { value: 'https://siem.example.com/in?token=x' }, secret: { env: 'TRAILHOUND_WEBHOOK_SECRET' } }],
    ['slack:env:SLACK_URL', { kind: 'slack', url: { env: 'SLACK_URL' } }],
    ['pagerduty:R0UTINGKEY', { kind: 'pagerduty', routingKey: { value: 'R0UTINGKEY' } }],
  ])('%s', (text, expected) => {
    const parsed = parseSinkSpec(text);
    expect(parsed.ok && parsed.value).toEqual(expected);
  });

  it.each([
    ['slack:', /needs a URL/],
    ['webhook:ftp://x', /http/],
    ['pagerduty:env:not-a-name', /environment variable name/],
    ['email:soc@example.com', /unknown sink/],
  ])('refuses %s', (text, message) => {
    const parsed = parseSinkSpec(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics[0]?.message).toMatch(message);
  });

  it('gives outbox keys that are stable and hide the secrets', () => {
    const env = { SLACK_URL: 'https://hooks.slack.com/services/T000/B000/SECRETTOKEN' };
    const slack = parseSinkSpec('slack:env:SLACK_URL');
    const webhook = parseSinkSpec('webhook:https://siem.example.com/in?token=hunter2');
    const pd = parseSinkSpec('pagerduty:R0UTINGKEYSECRET');
    if (!slack.ok || !webhook.ok || !pd.ok) throw new Error('specs');
    const keys = [sinkKeyOf(slack.value, env), sinkKeyOf(webhook.value), sinkKeyOf(pd.value)];
    expect(keys[0]).toMatch(/^slack:https:\/\/hooks\.slack\.com\/…#[0-9a-f]{8}$/);
    expect(keys[1]).toMatch(/^webhook:https:\/\/siem\.example\.com\/…#[0-9a-f]{8}$/);
    expect(keys[2]).toMatch(/^pagerduty:R0UT…[0-9a-f]{8}$/);
    for (const key of keys) expect(key).not.toMatch(/SECRET|hunter2/);
    expect(sinkKeyOf(slack.value, env)).toBe(keys[0]);
    // Another URL is another sink.
    expect(sinkKeyOf(slack.value, { SLACK_URL: 'https://hooks.slack.com/services/T000/B000/OTHER' })).not.toBe(keys[0]);
    expect(() => sinkKeyOf(slack.value, {})).toThrow(/SLACK_URL is not set/);
  });
});
