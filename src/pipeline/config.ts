/**
 * The `trailhound scan --config FILE` file: YAML (or JSON), validated like rules — every problem at
 * once, each with a stable code, file:line:column and a hint; unknown keys are errors.
 *
 * ```yaml
 * environments:                 # account id → environment, for decreaseCriticalityBasedOnEnv
 *   "123456789012": production
 *   "210987654321": staging
 * defaultEnvironment: production # accounts not listed (optional)
 * suppressions:                 # as in a --suppressions file (docs/suppressions.md)
 *   - ruleId: bd9-8o0-553
 *     reason: …
 * ```
 *
 * docs/configuration.md is the user's version. Pure: the caller reads the file and gives the time.
 */
import { z } from 'zod';
import type { Diagnostic, Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import { DocumentReporter } from '../rules/document-reporter.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import { readRuleFile } from '../rules/read.js';
import { checkSuppressionList } from '../rules/suppressions.js';
import type { SuppressionEntry } from '../rules/suppressions.js';
import type { SinkSpec } from '../sinks/spec.js';
import { checkSinkConfig } from './sink-config.js';

/** Every diagnostic of the config file itself; its `suppressions:` give the suppression codes too. */
export const CONFIG_DIAGNOSTIC_CODES = {
  E_CONFIG_PATH: { severity: 'error', meaning: 'The --config file cannot be read.' },
  E_CONFIG_SYNTAX: { severity: 'error', meaning: 'The file is not valid YAML or JSON, or holds more than one document.' },
  E_CONFIG_SCHEMA: { severity: 'error', meaning: 'A field has the wrong type (the file must be a mapping; environment names are non-empty strings).' },
  E_CONFIG_UNKNOWN_FIELD: { severity: 'error', meaning: 'A field the config file does not have (usually a typo; the hint suggests the closest name).' },
  E_CONFIG_ACCOUNT: { severity: 'error', meaning: 'A key of environments is not a 12-digit AWS account id.' },
} as const satisfies Record<string, { severity: 'error' | 'warning'; meaning: string }>;

export const configSchema = z.object({
  environments: z.record(z.string(), z.string().trim().min(1, 'an environment name must not be empty')).optional(),
  defaultEnvironment: z.string().trim().min(1, 'must not be empty').optional(),
  suppressions: z.unknown().optional(),
  sinks: z.unknown().optional(),
});

/** What each field means (docs/configuration.md lists the same). */
export const CONFIG_FIELDS: Readonly<Record<keyof typeof configSchema.shape, string>> = {
  environments: 'Account id → environment name, for rules with decreaseCriticalityBasedOnEnv.',
  defaultEnvironment: 'The environment of accounts that environments does not list and whose events carry no env attribute.',
  suppressions: 'Suppression entries, as in a --suppressions file.',
  sinks: 'Where watch and serve send signals (webhook, slack, pagerduty, jsonl, stdout), with their options; secrets by environment variable name (docs/outputs.md).',
};

const ACCOUNT_ID = /^\d{12}$/;
const DOCS = 'docs/configuration.md';

export interface TrailhoundConfig {
  readonly environments: EnvironmentSettings;
  readonly suppressions: readonly SuppressionEntry[];
  /** The `sinks:` list (src/pipeline/sink-config.ts); empty when absent. */
  readonly sinks: readonly SinkSpec[];
}

export const EMPTY_CONFIG: TrailhoundConfig = { environments: {}, suppressions: [], sinks: [] };

/** Check and read a config file. Fails when any error was found; warnings come with the value. */
export function loadConfig(file: { readonly path: string; readonly text: string }, now: number): Result<TrailhoundConfig> {
  const diagnostics: Diagnostic[] = [];
  const read = readRuleFile(file);
  for (const d of read.diagnostics) diagnostics.push({ ...d, code: 'E_CONFIG_SYNTAX', hint: 'fix the syntax at this position; YAML indentation must be consistent' });
  const [doc, extra] = read.documents;
  if (extra !== undefined) {
    const position = extra.locator.valueAt([]);
    diagnostics.push({ code: 'E_CONFIG_SYNTAX', severity: 'error', message: 'the config file holds more than one document', file: file.path, ...(position ? { position } : {}), hint: 'remove the --- separator: a config file is one mapping' });
  }
  let config: TrailhoundConfig = EMPTY_CONFIG;
  if (doc !== undefined) {
    const reporter = new DocumentReporter(file.path, doc.locator, diagnostics);
    const value = doc.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      reporter.add('E_CONFIG_SCHEMA', 'error', `the config file must be a mapping of fields, found ${Array.isArray(value) ? 'a list' : typeof value}`, [], { hint: `see ${DOCS}` });
    } else {
      const raw = value as Record<string, unknown>;
      reporter.unknownKeys(raw, Object.keys(configSchema.shape), [], 'E_CONFIG_UNKNOWN_FIELD', 'the config file');
      const parsed = configSchema.safeParse(raw);
      if (!parsed.success) reporter.issues(parsed.error.issues, [], 'E_CONFIG_SCHEMA', DOCS);
      const environments = parsed.success ? (parsed.data.environments ?? {}) : {};
      for (const account of Object.keys(environments)) {
        if (ACCOUNT_ID.test(account)) continue;
        const isShortNumber = /^\d{1,11}$/.test(account);
        reporter.add('E_CONFIG_ACCOUNT', 'error', `'${account}' is not an AWS account id (12 digits)`, ['environments', account], {
          atKey: true,
          hint: isShortNumber ? "quote the account id ('012345678901'): unquoted, YAML reads it as a number and drops its leading zeros" : 'write the 12-digit account id as the key',
        });
      }
      const suppressions = checkSuppressionList(raw['suppressions'], ['suppressions'], reporter, now);
      const sinks = checkSinkConfig(raw['sinks'], reporter);
      if (parsed.success) {
        const settings: EnvironmentSettings = {
          ...(parsed.data.environments !== undefined ? { environments: Object.fromEntries(Object.entries(parsed.data.environments).map(([k, v]) => [k, v.trim()])) } : {}),
          ...(parsed.data.defaultEnvironment !== undefined ? { defaultEnvironment: parsed.data.defaultEnvironment.trim() } : {}),
        };
        config = { environments: settings, suppressions, sinks };
      }
    }
  }
  return diagnostics.some((d) => d.severity === 'error') ? fail(diagnostics) : ok(config, diagnostics);
}
