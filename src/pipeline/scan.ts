import type { Signal, Severity } from '../core/types.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine } from '../engine/engine.js';
import { compileEnvironmentResolver } from '../rules/environment.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import { markSuppressed } from '../rules/suppressions.js';
import type { SuppressionPlan } from '../rules/suppressions.js';
import { readForScan } from './scan-read.js';
import type { NewValueHistoryStore } from '../store/new-value-history.js';
import type { ReadDiagnostic } from '../sources/source.js';

/** One problem with the input, reported once (file, record index or byte offset, what was wrong). */
export type InputProblem = ReadDiagnostic;

export interface ScanProgress {
  readonly files: number;
  readonly records: number;
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface ScanOptions {
  readonly paths: readonly string[];
  readonly rules: readonly CompiledRule[];
  /** Called once for every bad input (a bad file, a bad JSON record, a record that is not CloudTrail). */
  readonly onProblem: (problem: InputProblem) => void;
  /** Called about every `progressIntervalMs` while records flow (never per record). */
  readonly onProgress?: (progress: ScanProgress) => void;
  readonly progressIntervalMs?: number;
  readonly signal?: AbortSignal;
  readonly stdin?: NodeJS.ReadableStream;
  /** Injected for tests; defaults to Date.now. Used only for progress and duration, never for detection. */
  readonly now?: () => number;
  /**
   * Suppressions planned against `rules` (`planSuppressions`): their rules (data exclusions folded
   * in) replace `rules`, and signals they suppress go to `suppressedSignals` (docs/suppressions.md).
   */
  readonly suppressions?: SuppressionPlan;
  /** Account → environment, for rules with decreaseCriticalityBasedOnEnv (the config file's `environments`). */
  readonly environments?: EnvironmentSettings;
  /**
   * Read threads (`--threads`): 1 reads in this thread; more start worker threads that read files
   * side by side (src/pipeline/scan-read.ts). Results do not depend on it. Default 1.
   */
  readonly threads?: number;
  /**
   * Skip, without parsing them, the records that cannot match any rule (src/pipeline/prefilter.ts);
   * false parses every record (`--no-prefilter`). Results do not depend on it. Default true.
   */
  readonly isPrefilterEnabled?: boolean;
  /**
   * Where new_value rules' learned values are kept between scans (`--state DIR`): loaded before the
   * first event, saved after the last. Absent: every scan learns afresh (results depend only on input).
   */
  readonly newValueHistory?: NewValueHistoryStore;
}

export interface ScanSummary {
  readonly files: number;
  readonly skippedFiles: number;
  readonly records: number;
  /** Records that reached the engine (normalised successfully). */
  readonly events: number;
  /** Bad inputs of every kind: unreadable files, bad gzip or JSON, non-CloudTrail documents, bad records. */
  readonly badInputs: number;
  /** Matching records dropped because their eventID was already seen. */
  readonly duplicates: number;
  readonly bytes: number;
  readonly rules: number;
  readonly signalsByRule: Readonly<Record<string, number>>;
  readonly signalsBySeverity: Readonly<Partial<Record<Severity, number>>>;
  readonly unindexedRules: readonly string[];
  readonly durationMs: number;
  /** Signals a suppression entry matched (left out of the counts above and of `signals`). */
  readonly suppressedSignals?: number;
}

export interface ScanResult {
  /** The signals to report: every signal no suppression entry matched. */
  readonly signals: readonly Signal[];
  /** The signals a suppression entry matched, each with `status: suppressed` and the entry's reason. */
  readonly suppressedSignals: readonly Signal[];
  readonly summary: ScanSummary;
}

/**
 * The batch path: read every input, normalise each record, feed the engine, then finish it.
 * Reading streams record by record; only records that match a rule are kept by the engine.
 */
export async function runScan(options: ScanOptions): Promise<ScanResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const history = await options.newValueHistory?.load();
  const tracker = options.suppressions?.createTracker();
  // Only entries with a suppressionQuery need to see events: the others cost nothing per event.
  const watcher = tracker?.isWatching === true ? tracker : undefined;
  const engine = createEngine(options.suppressions?.rules ?? options.rules, {
    ...(history ? { newValueHistory: history } : {}),
    ...(options.environments ? { environmentOf: compileEnvironmentResolver(options.environments) } : {}),
  });
  const interval = options.progressIntervalMs ?? 1000;
  let nextProgress = started + interval;

  // Reading, prefilter and worker threads: scan-read.ts. Events arrive in input order.
  const stats = await readForScan(
    {
      paths: options.paths,
      rules: options.suppressions?.rules ?? options.rules,
      threads: options.threads ?? 1,
      ...(options.isPrefilterEnabled !== undefined ? { isPrefilterEnabled: options.isPrefilterEnabled } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stdin ? { stdin: options.stdin } : {}),
    },
    {
      event(event) {
        engine.ingest(event);
        watcher?.observe(event);
      },
      problem: options.onProblem,
      ...(options.onProgress
        ? {
            progress(read) {
              // Called per chunk or batch (never per record): the clock is cheap enough here.
              const t = now();
              if (t < nextProgress) return;
              nextProgress = t + interval;
              options.onProgress?.({ files: read.files, records: read.records, bytes: read.bytes, elapsedMs: t - started });
            },
          }
        : {}),
    },
  );
  engine.finish();
  await options.newValueHistory?.save(engine.newValueHistory());
  const signals: Signal[] = [];
  const suppressedSignals: Signal[] = [];
  for (const signal of engine.signals()) {
    const entry = tracker?.judge(signal);
    if (entry) suppressedSignals.push(markSuppressed(signal, entry));
    else signals.push(signal);
  }
  const signalsByRule: Record<string, number> = {};
  const signalsBySeverity: Partial<Record<Severity, number>> = {};
  for (const s of signals) {
    signalsByRule[s.ruleId] = (signalsByRule[s.ruleId] ?? 0) + 1;
    signalsBySeverity[s.severity] = (signalsBySeverity[s.severity] ?? 0) + 1;
  }
  return {
    signals,
    suppressedSignals,
    summary: {
      files: stats.files,
      skippedFiles: stats.skippedFiles,
      records: stats.records,
      events: stats.events,
      badInputs: stats.badInputs + stats.badRecords,
      duplicates: engine.stats.duplicates,
      bytes: stats.bytes,
      rules: options.rules.filter((r) => r.isEnabled).length,
      signalsByRule,
      signalsBySeverity,
      unindexedRules: engine.unindexedRules,
      durationMs: now() - started,
      ...(options.suppressions ? { suppressedSignals: suppressedSignals.length } : {}),
    },
  };
}
