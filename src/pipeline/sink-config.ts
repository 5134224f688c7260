/**
 * The config file's `sinks:` list (docs/outputs.md): each entry a sink spec with its options,
 * checked like the rest of the file (unknown keys are errors, every problem at once). Secrets are
 * named by environment variable (`urlEnv`, `routingKeyEnv`, `secretEnv`), so the file can be
 * committed; a literal `url` / `routingKey` is accepted too.
 *
 * ```yaml
 * sinks:
 *   - type: webhook
 *     url: https://siem.example.com/intake/trailhound
 *     format: ocsf                 # or flat
 *     secretEnv: SIEM_HMAC_KEY     # X-Trailhound-Signature: sha256=…
 *   - type: slack
 *     urlEnv: SLACK_WEBHOOK_URL
 *     notify: [created, closed]
 *   - type: pagerduty
 *     routingKeyEnv: PAGERDUTY_ROUTING_KEY
 *     retry: { maxAttempts: 20, maxDelayMs: 600000 }
 * ```
 */
import { z } from 'zod';
import type { DocumentReporter } from '../rules/document-reporter.js';
import type { SecretValue, SinkSpec } from '../sinks/spec.js';
import { SLACK_CHANGE_KINDS } from '../sinks/slack.js';
import { WEBHOOK_FORMATS } from '../sinks/webhook.js';

const DOCS = 'docs/outputs.md';
const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, _)');
const HTTP_URL = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL');

const retrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  baseDelayMs: z.number().int().min(1).max(3_600_000).optional(),
  maxDelayMs: z.number().int().min(1).max(86_400_000).optional(),
});

const network = {
  retry: retrySchema.optional(),
  timeoutMs: z.number().int().min(100).max(300_000).optional(),
};

const SINK_FIELDS = {
  stdout: [] as string[],
  jsonl: ['path'],
  webhook: ['url', 'urlEnv', 'format', 'secretEnv', 'headers', 'retry', 'timeoutMs'],
  slack: ['url', 'urlEnv', 'notify', 'retry', 'timeoutMs'],
  pagerduty: ['routingKey', 'routingKeyEnv', 'endpoint', 'source', 'retry', 'timeoutMs'],
  ocsf: ['path'],
  securityhub: ['region', 'accountId', 'endpoint', 'retry'],
} as const;

export const SINK_TYPES = Object.keys(SINK_FIELDS) as (keyof typeof SINK_FIELDS)[];

const schemas = {
  stdout: z.object({}),
  jsonl: z.object({ path: z.string().trim().min(1, 'needs a file path') }),
  webhook: z.object({ url: HTTP_URL.optional(), urlEnv: ENV_NAME.optional(), format: z.enum(WEBHOOK_FORMATS).optional(), secretEnv: ENV_NAME.optional(), headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name is letters, digits and -'), z.string()).optional(), ...network }),
  slack: z.object({ url: HTTP_URL.optional(), urlEnv: ENV_NAME.optional(), notify: z.array(z.enum(SLACK_CHANGE_KINDS)).min(1).optional(), ...network }),
  securityhub: z.object({
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1').optional(),
    accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    endpoint: HTTP_URL.optional(),
    retry: retrySchema.optional(),
  }),
  pagerduty: z.object({ routingKey: z.string().trim().min(1).optional(), routingKeyEnv: ENV_NAME.optional(), endpoint: HTTP_URL.optional(), source: z.string().trim().min(1).max(255).optional(), ...network }),
};

function secretOf(value: string | undefined, env: string | undefined): SecretValue | undefined {
  if (value !== undefined) return { value };
  return env !== undefined ? { env } : undefined;
}

/** Checks the `sinks:` value (absent: none), reporting at `sinks[i].field`; returns the valid entries. */
export function checkSinkConfig(raw: unknown, reporter: DocumentReporter): SinkSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    reporter.add('E_CONFIG_SCHEMA', 'error', "'sinks' must be a list of sinks", ['sinks'], { hint: `see ${DOCS}` });
    return [];
  }
  const specs: SinkSpec[] = [];
  raw.forEach((entry: unknown, index) => {
    const path = ['sinks', index];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      reporter.add('E_CONFIG_SCHEMA', 'error', `sinks[${String(index)}] must be a mapping with a type`, path, { hint: `see ${DOCS}` });
      return;
    }
    const fields = entry as Record<string, unknown>;
    const type = fields['type'];
    if (typeof type !== 'string' || !(SINK_TYPES as string[]).includes(type)) {
      reporter.add('E_CONFIG_SCHEMA', 'error', `sinks[${String(index)}].type must be one of ${SINK_TYPES.join(', ')}`, [...path, 'type'], { hint: `see ${DOCS}` });
      return;
    }
    const kind = type as keyof typeof SINK_FIELDS;
    const { type: _type, ...options } = fields;
    reporter.unknownKeys(options, SINK_FIELDS[kind], path, 'E_CONFIG_UNKNOWN_FIELD', `a ${kind} sink`);
    const known = Object.fromEntries(Object.entries(options).filter(([key]) => (SINK_FIELDS[kind] as readonly string[]).includes(key)));
    const spec = toSpec(kind, known, path, reporter);
    if (spec !== undefined) specs.push(spec);
  });
  return specs;
}

function toSpec(kind: keyof typeof SINK_FIELDS, options: Record<string, unknown>, path: (string | number)[], reporter: DocumentReporter): SinkSpec | undefined {
  const exactlyOne = (a: string, b: string, present: boolean, both: boolean): boolean => {
    if (both) reporter.add('E_CONFIG_SCHEMA', 'error', `a ${kind} sink takes ${a} or ${b}, not both`, path, { hint: `prefer ${b}: the secret stays out of the file` });
    else if (!present) reporter.add('E_CONFIG_SCHEMA', 'error', `a ${kind} sink needs ${b} (or ${a})`, path, { hint: `name the environment variable holding it (see ${DOCS})` });
    return present && !both;
  };
  switch (kind) {
    case 'stdout':
      return { kind };
    case 'jsonl':
    case 'ocsf': {
      const parsed = schemas.jsonl.safeParse(options);
      if (!parsed.success) return void reporter.issues(parsed.error.issues, path, 'E_CONFIG_SCHEMA', DOCS);
      return { kind, path: parsed.data.path };
    }
    case 'securityhub': {
      const parsed = schemas.securityhub.safeParse(options);
      if (!parsed.success) return void reporter.issues(parsed.error.issues, path, 'E_CONFIG_SCHEMA', DOCS);
      const d = parsed.data;
      return { kind, ...(d.region !== undefined ? { region: d.region } : {}), ...(d.accountId !== undefined ? { accountId: d.accountId } : {}), ...(d.endpoint !== undefined ? { endpoint: d.endpoint } : {}), ...networkOf(d) };
    }
    case 'webhook': {
      const parsed = schemas.webhook.safeParse(options);
      if (!parsed.success) return void reporter.issues(parsed.error.issues, path, 'E_CONFIG_SCHEMA', DOCS);
      const d = parsed.data;
      const url = secretOf(d.url, d.urlEnv);
      if (!exactlyOne('url', 'urlEnv', url !== undefined, d.url !== undefined && d.urlEnv !== undefined) || url === undefined) return undefined;
      return { kind, url, ...(d.format !== undefined ? { format: d.format } : {}), ...(d.secretEnv !== undefined ? { secret: { env: d.secretEnv } } : {}), ...(d.headers !== undefined ? { headers: d.headers } : {}), ...networkOf(d) };
    }
    case 'slack': {
      const parsed = schemas.slack.safeParse(options);
      if (!parsed.success) return void reporter.issues(parsed.error.issues, path, 'E_CONFIG_SCHEMA', DOCS);
      const d = parsed.data;
      const url = secretOf(d.url, d.urlEnv);
      if (!exactlyOne('url', 'urlEnv', url !== undefined, d.url !== undefined && d.urlEnv !== undefined) || url === undefined) return undefined;
      return { kind, url, ...(d.notify !== undefined ? { notify: [...new Set(d.notify)] } : {}), ...networkOf(d) };
    }
    case 'pagerduty': {
      const parsed = schemas.pagerduty.safeParse(options);
      if (!parsed.success) return void reporter.issues(parsed.error.issues, path, 'E_CONFIG_SCHEMA', DOCS);
      const d = parsed.data;
      const routingKey = secretOf(d.routingKey, d.routingKeyEnv);
      if (!exactlyOne('routingKey', 'routingKeyEnv', routingKey !== undefined, d.routingKey !== undefined && d.routingKeyEnv !== undefined) || routingKey === undefined) return undefined;
      return { kind, routingKey, ...(d.endpoint !== undefined ? { endpoint: d.endpoint } : {}), ...(d.source !== undefined ? { source: d.source } : {}), ...networkOf(d) };
    }
  }
}

function networkOf(d: { readonly retry?: { maxAttempts?: number | undefined; baseDelayMs?: number | undefined; maxDelayMs?: number | undefined } | undefined; readonly timeoutMs?: number | undefined }): {
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  timeoutMs?: number;
} {
  const retry = d.retry;
  return {
    ...(retry !== undefined
      ? {
          retry: {
            ...(retry.maxAttempts !== undefined ? { maxAttempts: retry.maxAttempts } : {}),
            ...(retry.baseDelayMs !== undefined ? { baseDelayMs: retry.baseDelayMs } : {}),
            ...(retry.maxDelayMs !== undefined ? { maxDelayMs: retry.maxDelayMs } : {}),
          },
        }
      : {}),
    ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
  };
}
