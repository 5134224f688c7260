import type { Signal, Severity, TrailEvent } from '../core/types.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine } from '../engine/engine.js';
import { compileEnvironmentResolver } from '../rules/environment.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import { markSuppressed } from '../rules/suppressions.js';
import type { SuppressionPlan } from '../rules/suppressions.js';
import { readForScan } from './scan-read.js';
import type { ScanReadStats } from './scan-read.js';
import { EventSpill } from './event-spill.js';
import type { EventSpillOptions } from './event-spill.js';
import { ScanMatcher, scanRuleSpecs, scannedRules } from './scan-match.js';
import type { DetectionEngine } from '../engine/types.js';
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
  /** When aborted, reading stops and nothing read is evaluated: the result holds no signal. */
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
  /**
   * Called with every record read, in batches, in input order (`scan --state` indexes them for
   * `investigate`): the scan then reads in one thread and parses every record (no prefilter).
   * The scan waits for each call before reading on.
   */
  readonly onRecords?: (records: readonly { readonly value: unknown; readonly text: string | undefined }[]) => Promise<void>;
  /** The ordering buffer's limits (event-spill.ts); tests make it spill early. */
  readonly spill?: EventSpillOptions;
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
  const rules = options.suppressions?.rules ?? options.rules;
  // Suppression queries read fields no rule may read: with them, events keep every field on the
  // read side, and the engine trims them after the suppressions saw them; otherwise the read side
  // already kept only what the rules read, and the engine need not do it again.
  const isProjectedOnRead = watcher === undefined;
  // The engine deduplicates nothing itself: the merge below does, in evaluation order.
  const engine = createEngine(rules, {
    isDeduplicating: false,
    isProjectingFields: !isProjectedOnRead,
    ...(history ? { newValueHistory: history } : {}),
    ...(options.environments ? { environmentOf: compileEnvironmentResolver(options.environments) } : {}),
  });
  const ruleSpecs = scanRuleSpecs(rules, isProjectedOnRead);
  const matcher = new ScanMatcher(
    ruleSpecs,
    scannedRules(rules).map((rule) => rule.queries.map((q) => q.query)),
  );
  const spill = new EventSpill(options.spill);
  const interval = options.progressIntervalMs ?? 1000;
  let nextProgress = started + interval;
  let arrival = 0;
  let duplicates = 0;
  const onRecords = options.onRecords;
  let recordBatch: { readonly value: unknown; readonly text: string | undefined }[] = [];
  // Batches go out one after another; the reading loop yields between chunks, so they keep up.
  let recordsDone: Promise<void> = Promise.resolve();
  let recordsFailure: { readonly error: unknown } | undefined;
  const flushRecords = (): void => {
    if (onRecords === undefined || recordBatch.length === 0 || recordsFailure !== undefined) return;
    const batch = recordBatch;
    recordBatch = [];
    recordsDone = recordsDone
      .then(() => onRecords(batch))
      .catch((error: unknown) => {
        recordsFailure ??= { error };
      });
  };

  try {
    // Reading, prefilter and worker threads: scan-read.ts. Events arrive in input order; the
    // matched ones wait in the ordering buffer (event-spill.ts), with only the fields their rules read.
    const stats = await readForScan(
      {
        paths: options.paths,
        rules,
        ruleSpecs,
        threads: onRecords === undefined ? (options.threads ?? 1) : 1,
        ...(onRecords !== undefined ? { isPrefilterEnabled: false } : options.isPrefilterEnabled !== undefined ? { isPrefilterEnabled: options.isPrefilterEnabled } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.stdin ? { stdin: options.stdin } : {}),
      },
      {
        event(event, matchedByWorker) {
          watcher?.observe(event);
          const matched = matchedByWorker ?? matcher.match(event.fields);
          if (matched === undefined) return;
          const fields = matchedByWorker === undefined ? matcher.project(event.fields, matched) : event.fields;
          spill.add({ time: event.time, key: event.key, eventId: event.eventId ?? null, arrival: arrival++, rules: matched, fields });
        },
        ...(onRecords === undefined
          ? {}
          : {
              record(value: unknown, text: string | undefined) {
                recordBatch.push({ value, text });
                if (recordBatch.length >= RECORD_BATCH) flushRecords();
              },
            }),
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
    flushRecords();
    await recordsDone;
    if (recordsFailure !== undefined) throw recordsFailure.error;
    if (options.signal?.aborted !== true) duplicates = evaluateInOrder(spill, matcher, engine);
    engine.finish();
    return await finishScan(options, engine, tracker, stats, duplicates, started, now);
  } finally {
    spill.close();
  }
}

/** Records handed to `onRecords` at once. */
const RECORD_BATCH = 2000;

/**
 * When the merge advances the engine's watermark: once event time has moved on by ADVANCE_AFTER_MS
 * and at least ADVANCE_MIN_EVENTS events came in since the last time, or after ADVANCE_MAX_EVENTS
 * events whatever the time. Each advance sweeps every group of every rule, so advancing per event
 * would cost more than it frees; the results are the same whenever it happens.
 */
const ADVANCE_AFTER_MS = 60_000;
const ADVANCE_MIN_EVENTS = 512;
const ADVANCE_MAX_EVENTS = 65_536;

/**
 * Feeds the engine every buffered event in evaluation order, advancing its watermark as time moves
 * on (so that its windows and closed signals are released as in a live run), and drops repeated
 * records: an event whose eventID and event time are those of an event already fed (a record
 * delivered twice, in two files or through two routes, is the same record twice). In evaluation
 * order such repeats are next to each other, so only the eventIDs of the current event time are
 * remembered. Returns the number of repeats dropped.
 */
function evaluateInOrder(spill: EventSpill, matcher: ScanMatcher, engine: DetectionEngine): number {
  const seenAtLatest = new Set<string>();
  let duplicates = 0;
  let latest = -Infinity;
  let advancedTo = -Infinity;
  let sinceAdvance = 0;
  for (const e of spill.drain()) {
    if (e.time > latest) {
      if (sinceAdvance >= ADVANCE_MAX_EVENTS || (sinceAdvance >= ADVANCE_MIN_EVENTS && latest - advancedTo >= ADVANCE_AFTER_MS)) {
        // Every event at or before `latest` is in: nothing later can change what is before it.
        engine.advanceTo(latest);
        advancedTo = latest;
        sinceAdvance = 0;
      }
      latest = e.time;
      seenAtLatest.clear();
    }
    if (e.eventId !== null) {
      if (seenAtLatest.has(e.eventId)) {
        duplicates++;
        continue;
      }
      seenAtLatest.add(e.eventId);
    }
    const event: TrailEvent = { fields: e.fields, time: e.time, key: e.key, ...(e.eventId === null ? {} : { eventId: e.eventId }), origin: { source: '', index: e.arrival } };
    engine.ingest(event, matcher.idsOf(e.rules));
    sinceAdvance++;
  }
  return duplicates;
}

async function finishScan(
  options: ScanOptions,
  engine: DetectionEngine,
  tracker: ReturnType<SuppressionPlan['createTracker']> | undefined,
  stats: ScanReadStats,
  duplicates: number,
  started: number,
  now: () => number,
): Promise<ScanResult> {
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
      duplicates,
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
