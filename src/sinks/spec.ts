/**
 * Sink specs — `--sink` values and the config file's `sinks:` entries — and opening them.
 *
 * | spec | sink | delivered |
 * |---|---|---|
 * | `stdout` (or `-`) | JSON lines on standard output | directly, in the step |
 * | `jsonl:PATH` | JSON lines appended to a file (fsynced) | directly, in the step |
 * | `webhook:URL` | HTTP POST of the OCSF finding (or the flat form), HMAC-signed | through the outbox |
 * | `slack:URL` | a Slack incoming-webhook message (Block Kit) | through the outbox |
 * | `pagerduty:ROUTING_KEY` | PagerDuty Events API v2 trigger / resolve | through the outbox |
 * | `ocsf:PATH` | OCSF Detection Findings, one JSON document per line (fsynced, as jsonl) | directly, in the step |
 * | `securityhub[:REGION]` | AWS Security Hub BatchImportFindings (ASFF), 100 per call | through the outbox |
 *
 * A URL or routing key may be given as `env:NAME` (`slack:env:SLACK_WEBHOOK_URL`) so that the secret
 * stays out of the command line and the process list. Network sinks are delivered through the
 * state store's outbox with retries (src/pipeline/outbox-delivery.ts), so a failing one never stops
 * detection; local ones are delivered in the step and a failure stops the run.
 *
 * Every sink has a `key`, the name its outbox entries are kept under: stable across restarts, and
 * without secrets (a URL's path and query and a routing key are shown as a short hash).
 * `combineSinks` delivers to several sinks at once.
 */
import { createHash } from 'node:crypto';
import type { Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import { safeUrlLabel } from './http-post.js';
import type { HttpPostOptions } from './http-post.js';
import { openJsonlSink } from './jsonl.js';
import type { JsonlSinkOptions } from './jsonl.js';
import { openOcsfSink } from './ocsf.js';
import { createPagerDutySink, routingKeyLabel } from './pagerduty.js';
import { SECURITY_HUB_BATCH_LIMIT, createSecurityHubSink } from './securityhub.js';
import type { SecurityHubSinkOptions } from './securityhub.js';
import type { SignalChange, SignalSink } from './sink.js';
import { createSlackSink } from './slack.js';
import type { SlackChangeKind } from './slack.js';
import { createStdoutSink } from './stdout.js';
import type { StdoutSinkOptions } from './stdout.js';
import { createWebhookSink, parseHttpUrl } from './webhook.js';
import type { WebhookFormat } from './webhook.js';

/** A secret (a URL with a token, a routing key, an HMAC key): given as is, or the name of an environment variable holding it. */
export type SecretValue = { readonly value: string } | { readonly env: string };

/** Per-sink retry settings of the outbox delivery (defaults: 1 s base, 5 min cap, 10 attempts). */
export interface SinkRetrySettings {
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** What every network sink spec may add. */
interface NetworkSinkSettings {
  readonly retry?: SinkRetrySettings;
  /** One HTTP request's time limit (default 10 s). */
  readonly timeoutMs?: number;
}

export type SinkSpec =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'jsonl'; readonly path: string }
  | ({
      readonly kind: 'webhook';
      readonly url: SecretValue;
      readonly format?: WebhookFormat;
      /** The HMAC-SHA256 key: from the config (`secretEnv`), or $TRAILHOUND_WEBHOOK_SECRET for a --sink. */
      readonly secret?: SecretValue;
      readonly headers?: Readonly<Record<string, string>>;
    } & NetworkSinkSettings)
  | ({ readonly kind: 'slack'; readonly url: SecretValue; readonly notify?: readonly SlackChangeKind[] } & NetworkSinkSettings)
  | ({ readonly kind: 'pagerduty'; readonly routingKey: SecretValue; readonly endpoint?: string; readonly source?: string } & NetworkSinkSettings)
  | { readonly kind: 'ocsf'; readonly path: string }
  | ({
      readonly kind: 'securityhub';
      /** Default: the AWS SDK's region (AWS_REGION, the profile). */
      readonly region?: string;
      /** Default: the account of the region's hub (DescribeHub). */
      readonly accountId?: string;
      /** An endpoint override (a VPC endpoint). */
      readonly endpoint?: string;
    } & NetworkSinkSettings);

/** The environment variable a `--sink webhook:…` takes its HMAC key from. */
export const WEBHOOK_SECRET_ENV = 'TRAILHOUND_WEBHOOK_SECRET';

const SINK_HINT = 'use stdout, jsonl:PATH, ocsf:PATH, webhook:URL, slack:URL, pagerduty:ROUTING_KEY or securityhub[:REGION] (a URL or key may be env:NAME to read it from an environment variable)';

function specError(message: string): Result<SinkSpec> {
  return fail([{ code: 'E_SINK_SPEC', severity: 'error', message, hint: SINK_HINT }]);
}

function secretOf(text: string): SecretValue {
  return text.startsWith('env:') ? { env: text.slice('env:'.length) } : { value: text };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** Reads one `--sink` value. */
export function parseSinkSpec(text: string): Result<SinkSpec> {
  const value = text.trim();
  if (value === 'stdout' || value === '-') return ok({ kind: 'stdout' });
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : value;
  const rest = colon > 0 ? value.slice(colon + 1) : '';
  switch (kind) {
    case 'jsonl':
      return rest === '' ? specError('jsonl: needs a file path') : ok({ kind: 'jsonl', path: rest });
    case 'ocsf':
      return rest === '' ? specError('ocsf: needs a file path (e.g. ocsf:/var/lib/trailhound/findings.ocsf.jsonl)') : ok({ kind: 'ocsf', path: rest });
    case 'securityhub':
      if (colon < 0) return ok({ kind: 'securityhub' });
      return AWS_REGION.test(rest) ? ok({ kind: 'securityhub', region: rest }) : specError(`securityhub: ${JSON.stringify(rest.slice(0, 40))} is not an AWS region (e.g. securityhub:eu-west-1, or securityhub for the SDK's default region)`);
    case 'webhook':
    case 'slack': {
      if (rest === '') return specError(`${kind}: needs a URL (or env:NAME)`);
      const url = secretOf(rest);
      if ('env' in url && !ENV_NAME.test(url.env)) return specError(`${kind}:env: needs an environment variable name`);
      if ('value' in url) {
        try {
          parseHttpUrl(url.value, `the ${kind} URL`);
        } catch (error) {
          return specError(error instanceof Error ? error.message : String(error));
        }
      }
      return ok(kind === 'webhook' ? { kind, url, secret: { env: WEBHOOK_SECRET_ENV } } : { kind, url });
    }
    case 'pagerduty': {
      if (rest === '') return specError('pagerduty: needs the routing key of an Events API v2 integration (or env:NAME)');
      const routingKey = secretOf(rest);
      if ('env' in routingKey && !ENV_NAME.test(routingKey.env)) return specError('pagerduty:env: needs an environment variable name');
      return ok({ kind, routingKey });
    }
    default: {
      const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
      return specError(`unknown sink ${shown}`);
    }
  }
}

/** Whether the sink is delivered through the outbox (network sinks) rather than in the step. */
export function isOutboxSink(spec: SinkSpec): boolean {
  return spec.kind === 'webhook' || spec.kind === 'slack' || spec.kind === 'pagerduty' || spec.kind === 'securityhub';
}

/** The most changes the outbox runner should give one delivery of this sink (undefined: the runner's default). */
export function outboxBatchSizeOf(spec: SinkSpec): number | undefined {
  return spec.kind === 'securityhub' ? SECURITY_HUB_BATCH_LIMIT : undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The secret's value; throws a TypeError naming the missing variable. */
export function resolveSecret(secret: SecretValue, env: Env, what: string): string {
  if ('value' in secret) return secret.value;
  const value = env[secret.env];
  if (value === undefined || value.trim() === '') throw new TypeError(`${what}: the environment variable ${secret.env} is not set`);
  return value.trim();
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * The sink's outbox key: stable across restarts and free of secrets. `stdout`, `jsonl:PATH`,
 * `webhook:https://host/…#HASH`, `slack:https://hooks.slack.com/…#HASH`, `pagerduty:ABCD…HASH`.
 * Throws a TypeError when a secret it needs is missing from `env`.
 */
export function sinkKeyOf(spec: SinkSpec, env: Env = {}): string {
  switch (spec.kind) {
    case 'stdout':
      return 'stdout';
    case 'jsonl':
      return `jsonl:${spec.path}`;
    case 'webhook':
    case 'slack': {
      const url = resolveSecret(spec.url, env, `the ${spec.kind} URL`);
      return `${spec.kind}:${safeUrlLabel(parseHttpUrl(url, `the ${spec.kind} URL`))}#${shortHash(url)}`;
    }
    case 'pagerduty':
      return `pagerduty:${routingKeyLabel(resolveSecret(spec.routingKey, env, 'the PagerDuty routing key'))}`;
    case 'ocsf':
      return `ocsf:${spec.path}`;
    case 'securityhub':
      return spec.region === undefined ? 'securityhub' : `securityhub:${spec.region}`;
  }
}

export interface OpenSinkOptions {
  readonly stdout?: StdoutSinkOptions;
  readonly jsonl?: Omit<JsonlSinkOptions, 'path'>;
  /** Where `env:NAME` secrets are read (default: none set). */
  readonly env?: Env;
  /** trailhound's version (OCSF metadata). */
  readonly productVersion?: string;
  /** For the network sinks (tests inject fetch). */
  readonly http?: HttpPostOptions;
  /** For the Security Hub sink (tests inject a client, an endpoint or credentials). */
  readonly securityhub?: Partial<Omit<SecurityHubSinkOptions, 'productVersion'>>;
}

/** Opens the sink a spec names (rejects when a jsonl file cannot be opened or a secret is missing). */
export async function openSink(spec: SinkSpec, options: OpenSinkOptions = {}): Promise<SignalSink> {
  const env = options.env ?? {};
  const http = (settings: NetworkSinkSettings): HttpPostOptions => ({ ...options.http, ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}) });
  switch (spec.kind) {
    case 'stdout':
      return createStdoutSink(options.stdout);
    case 'jsonl':
      return openJsonlSink({ ...options.jsonl, path: spec.path });
    case 'webhook': {
      const secret = spec.secret !== undefined && ('value' in spec.secret || env[spec.secret.env] !== undefined) ? resolveSecret(spec.secret, env, 'the webhook secret') : undefined;
      return Promise.resolve(
        createWebhookSink({
          ...http(spec),
          url: resolveSecret(spec.url, env, 'the webhook URL'),
          productVersion: options.productVersion ?? '0.0.0',
          ...(spec.format !== undefined ? { format: spec.format } : {}),
          ...(secret !== undefined ? { secret } : {}),
          ...(spec.headers !== undefined ? { headers: spec.headers } : {}),
        }),
      );
    }
    case 'slack':
      return Promise.resolve(createSlackSink({ ...http(spec), url: resolveSecret(spec.url, env, 'the Slack URL'), ...(spec.notify !== undefined ? { notify: spec.notify } : {}) }));
    case 'pagerduty':
      return Promise.resolve(
        createPagerDutySink({
          ...http(spec),
          routingKey: resolveSecret(spec.routingKey, env, 'the PagerDuty routing key'),
          ...(spec.endpoint !== undefined ? { endpoint: spec.endpoint } : {}),
          ...(spec.source !== undefined ? { source: spec.source } : {}),
        }),
      );
    case 'ocsf':
      return openOcsfSink({
        path: spec.path,
        productVersion: options.productVersion ?? '0.0.0',
        ...(options.jsonl?.fileMode !== undefined ? { fileMode: options.jsonl.fileMode } : {}),
        ...(options.jsonl?.fileSystem !== undefined ? { fileSystem: options.jsonl.fileSystem } : {}),
      });
    case 'securityhub':
      return Promise.resolve(
        createSecurityHubSink({
          ...(spec.region !== undefined ? { region: spec.region } : {}),
          ...(spec.accountId !== undefined ? { accountId: spec.accountId } : {}),
          ...(spec.endpoint !== undefined ? { endpoint: spec.endpoint } : {}),
          ...(spec.timeoutMs !== undefined ? { requestTimeoutMs: spec.timeoutMs } : {}),
          ...options.securityhub,
          productVersion: options.productVersion ?? '0.0.0',
        }),
      );
  }
}

/**
 * One sink that delivers to all of `sinks` at once; a delivery resolves when all resolved and
 * rejects when any rejected. `close` closes them all.
 */
export function combineSinks(sinks: readonly SignalSink[]): SignalSink {
  if (sinks.length === 1 && sinks[0] !== undefined) return sinks[0];
  return {
    name: sinks.map((s) => s.name).join(', '),
    async deliver(changes: readonly SignalChange[]): Promise<void> {
      await Promise.all(sinks.map((s) => s.deliver(changes)));
    },
    async close(): Promise<void> {
      const results = await Promise.allSettled(sinks.map((s) => s.close()));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}
