/**
 * `scan --config FILE` and `scan --suppressions FILE`: read the files, check them (pure loaders in
 * src/pipeline/config.ts and src/rules/suppressions.ts) and put their diagnostics together. A file
 * that cannot be read is an error like any other, with the path in the diagnostic.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { UsageError } from '../core/errors.js';
import { formatDiagnostic } from '../core/types.js';
import type { Diagnostic, Signal } from '../core/types.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import type { CompiledRule } from '../rules/model.js';
import { loadSuppressions, planSuppressions } from '../rules/suppressions.js';
import type { SuppressionEntry, SuppressionPlan } from '../rules/suppressions.js';
import { loadConfig } from '../pipeline/config.js';
import type { SinkSpec } from '../sinks/spec.js';
import { BUILTIN_RULES_DIR, loadRuleFiles } from './rule-files.js';

export interface ScanSettings {
  /** From the config file; undefined when it names no environment. */
  readonly environments?: EnvironmentSettings;
  /** The config file's entries, then each --suppressions file's, in order. */
  readonly suppressions: readonly SuppressionEntry[];
  /** The config file's `sinks:` (watch and serve deliver to them with their --sink values). */
  readonly sinks?: readonly SinkSpec[];
  readonly diagnostics: readonly Diagnostic[];
}

async function readText(path: string, code: string, what: string, diagnostics: Diagnostic[]): Promise<{ path: string; text: string } | undefined> {
  const shown = relative(process.cwd(), path) || path;
  try {
    return { path: shown, text: await readFile(path, 'utf8') };
  } catch (error) {
    diagnostics.push({ code, severity: 'error', file: shown, message: `cannot read the ${what}: ${error instanceof Error ? error.message : String(error)}`, hint: `check the path given to --${what === 'config file' ? 'config' : 'suppressions'}` });
    return undefined;
  }
}

/** Read and check the config file and the suppression files. `now` decides which entries expired. */
export async function loadScanSettings(options: { readonly config?: string | undefined; readonly suppressions?: readonly string[] | undefined; readonly now: number }): Promise<ScanSettings> {
  const diagnostics: Diagnostic[] = [];
  const suppressions: SuppressionEntry[] = [];
  let environments: EnvironmentSettings | undefined;
  let sinks: readonly SinkSpec[] = [];
  if (options.config !== undefined) {
    const file = await readText(options.config, 'E_CONFIG_PATH', 'config file', diagnostics);
    if (file) {
      const loaded = loadConfig(file, options.now);
      diagnostics.push(...loaded.diagnostics);
      if (loaded.ok) {
        suppressions.push(...loaded.value.suppressions);
        sinks = loaded.value.sinks;
        const { environments: map, defaultEnvironment } = loaded.value.environments;
        if ((map !== undefined && Object.keys(map).length > 0) || defaultEnvironment !== undefined) environments = loaded.value.environments;
      }
    }
  }
  const files: { path: string; text: string }[] = [];
  for (const path of options.suppressions ?? []) {
    const file = await readText(path, 'E_SUPPRESSION_PATH', 'suppressions file', diagnostics);
    if (file) files.push(file);
  }
  const loaded = loadSuppressions(files, options.now);
  diagnostics.push(...loaded.diagnostics);
  suppressions.push(...loaded.entries);
  return { ...(environments !== undefined ? { environments } : {}), suppressions, ...(sinks.length > 0 ? { sinks } : {}), diagnostics };
}

/**
 * What `scan` prints: the reported signals, plus the suppressed ones with `--show-suppressed`, in
 * the engine's order (firstSeen, rule id, signal id).
 */
export function signalsToShow(result: { readonly signals: readonly Signal[]; readonly suppressedSignals: readonly Signal[] }, showSuppressed: boolean): readonly Signal[] {
  if (!showSuppressed || result.suppressedSignals.length === 0) return result.signals;
  const key = (s: Signal): [number, string, string] => [Date.parse(s.firstSeen), s.ruleId, s.id];
  return [...result.signals, ...result.suppressedSignals].sort((a, b) => {
    const [ta, ra, ia] = key(a);
    const [tb, rb, ib] = key(b);
    if (ta !== tb) return ta - tb;
    if (ra !== rb) return ra < rb ? -1 : 1;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  });
}

/** The flags that choose what a detecting command runs: rules, config and suppressions. */
export interface DetectionFlags {
  readonly rules?: string[] | undefined;
  readonly defaultRules: boolean;
  readonly config?: string | undefined;
  readonly suppressions?: string[] | undefined;
}

export interface DetectionSetup {
  readonly rules: CompiledRule[];
  readonly settings: ScanSettings;
  readonly plan: SuppressionPlan | undefined;
}

/**
 * Loads the rules (built-in unless --no-default-rules, plus every -r), the config file and the
 * suppressions, as `scan`, `watch` and `serve` all do. Errors are always written to stderr, warnings
 * through `note` (quiet mode drops them); any error gives undefined, after saying what to fix.
 */
export async function loadDetectionSetup(flags: DetectionFlags, stderr: NodeJS.WritableStream, note: (text: string) => void): Promise<DetectionSetup | undefined> {
  const rulePaths = [...(flags.defaultRules ? [BUILTIN_RULES_DIR] : []), ...(flags.rules ?? [])];
  if (rulePaths.length === 0) throw new UsageError('no rules to run: --no-default-rules needs at least one -r/--rules PATH');
  const show = (diagnostics: readonly Diagnostic[]): number => {
    for (const d of diagnostics) {
      if (d.severity === 'error') stderr.write(`${formatDiagnostic(d)}\n`);
      else note(`${formatDiagnostic(d)}\n`);
    }
    return diagnostics.filter((d) => d.severity === 'error').length;
  };

  const ruleSet = await loadRuleFiles(rulePaths);
  const ruleErrors = show(ruleSet.diagnostics);
  if (ruleErrors > 0) {
    stderr.write(`trailhound: ${ruleErrors} rule error(s); fix them or leave the file out (see docs/rule-format.md)\n`);
    return undefined;
  }
  // --config and --suppressions (docs/configuration.md, docs/suppressions.md): checked like rules.
  const settings = await loadScanSettings({ config: flags.config, suppressions: flags.suppressions, now: Date.now() });
  const plan = settings.suppressions.length > 0 ? planSuppressions(settings.suppressions, ruleSet.rules) : undefined;
  const settingErrors = show([...settings.diagnostics, ...(plan?.diagnostics ?? [])]);
  if (settingErrors > 0) {
    stderr.write(`trailhound: ${settingErrors} error(s) in the config or suppression files (see docs/configuration.md and docs/suppressions.md)\n`);
    return undefined;
  }
  return { rules: ruleSet.rules, settings, plan };
}
