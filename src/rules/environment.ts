/**
 * Environments, for Datadog's `options.decreaseCriticalityBasedOnEnv`: "signals in non-production
 * environments have a lower severity than what is defined by the rule case … The decrement is
 * applied when the environment tag of the signal starts with `staging`, `test`, or `dev`."
 *
 * CloudTrail records carry no environment tag, so trailhound finds the environment of an event in
 * this order (the first that gives one wins):
 *
 * 1. the config file's `environments` map, by the account the event was recorded in
 *    (`recipientAccountId`; `userIdentity.accountId` only when the record has no recipient, as on
 *    very old records): the operator's word beats anything inside the record;
 * 2. the event's own `env` attribute (a tag added upstream, e.g. by a log shipper), when it is a
 *    non-empty string;
 * 3. the config file's `defaultEnvironment`.
 *
 * No environment means no decrement. Pure: no I/O.
 */
import type { JsonObject, Severity } from '../core/types.js';
import { SEVERITIES, severityRank } from '../core/types.js';

/** Environment names (case-insensitive prefixes) whose events get one step less severity. */
export const NON_PRODUCTION_PREFIXES = ['staging', 'test', 'dev'] as const;

export interface EnvironmentSettings {
  /** Account id (12 digits) → environment name. */
  readonly environments?: Readonly<Record<string, string>>;
  /** The environment of events that neither the map nor an `env` attribute places. */
  readonly defaultEnvironment?: string;
}

/** Finds the environment of a normalised event, or undefined when nothing says. */
export type EnvironmentResolver = (fields: JsonObject) => string | undefined;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The account an event was recorded in: `recipientAccountId`, else the caller's account. */
export function accountOf(fields: JsonObject): string | undefined {
  const recipient = Object.hasOwn(fields, 'recipientAccountId') ? text(fields.recipientAccountId) : undefined;
  if (recipient !== undefined) return recipient;
  const identity = Object.hasOwn(fields, 'userIdentity') ? fields.userIdentity : undefined;
  if (typeof identity !== 'object' || identity === null || Array.isArray(identity)) return undefined;
  return Object.hasOwn(identity, 'accountId') ? text(identity.accountId) : undefined;
}

/** Compile the resolution order above once; without settings only the `env` attribute counts. */
export function compileEnvironmentResolver(settings: EnvironmentSettings = {}): EnvironmentResolver {
  const byAccount = new Map(Object.entries(settings.environments ?? {}));
  const fallback = text(settings.defaultEnvironment);
  return (fields) => {
    if (byAccount.size > 0) {
      const account = accountOf(fields);
      const mapped = account === undefined ? undefined : byAccount.get(account);
      if (mapped !== undefined) return mapped;
    }
    const own = Object.hasOwn(fields, 'env') ? text(fields.env) : undefined;
    return own ?? fallback;
  };
}

/** True for `staging…`, `test…`, `dev…` (any case): Datadog's non-production environments. */
export function isNonProductionEnvironment(environment: string | undefined): boolean {
  if (environment === undefined) return false;
  const lower = environment.trim().toLowerCase();
  return NON_PRODUCTION_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** One step lower: critical → high → medium → low → info; info stays info. */
export function lowerSeverity(severity: Severity): Severity {
  return SEVERITIES[Math.max(0, severityRank(severity) - 1)] ?? severity;
}
