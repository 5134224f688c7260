/**
 * The live runtime behind `trailhound watch` and `trailhound serve`: one live engine, one state
 * store, the sinks, and THE checkpoint protocol of docs/state.md, run the same way for every unit
 * of work (an S3 object or a folder file, the objects of one SQS message, one Firehose request or
 * HTTP body):
 *
 *   skip what is done → read records → normalise (bad records reported and counted) → drop
 *   eventIDs already seen (store, and repeats inside the step) → engine.ingest → engine.process()
 *   → commitCheckpoint (inputs done, eventIDs, engine state, signal changes, one outbox entry per
 *   sink) → deliver to each sink → markDelivered → resolve (the caller then acknowledges upstream:
 *   deletes the SQS message, answers the HTTP request).
 *
 * Steps run one after another (one engine); callers may call concurrently. On `openLiveRuntime` the
 * engine is restored from the store and every change still in a sink's outbox is delivered again,
 * before any new input is read.
 *
 * Failures:
 * - a step that fails before its commit changes nothing: the in-memory engine is rolled back to the
 *   last committed state, so the input can come back (SQS visibility, Firehose retry, restart) and
 *   is processed again from the same state, giving the same signal ids;
 * - a sink that fails, or a lost store lock, is fatal: every later step rejects, `fatal` resolves
 *   with the error, and the caller stops (on restart the outbox delivers what is missing);
 * - a poison object (see live-read.ts) is reported (`onProblem`, metrics) and never half-processed.
 *
 * Delivery is at least once with stable ids: a crash after a commit and before `markDelivered`
 * delivers that step's changes again on restart (see docs/live.md).
 */
import { TrailhoundError } from '../core/errors.js';
import type { TrailEvent } from '../core/types.js';
import { createLiveEngine, restoreLiveEngine } from '../engine/live.js';
import { parseLiveEngineState } from '../engine/live-state.js';
import type { LiveDetectionEngine, LiveEngineOptions } from '../engine/live-types.js';
import { DEFAULT_ALLOWED_LATENESS_MS } from '../engine/live-types.js';
import type { SignalChange } from '../engine/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { indexedEventsOf } from '../investigate/indexed-event.js';
import { compileEnvironmentResolver } from '../rules/environment.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import type { CompiledRule } from '../rules/model.js';
import type { SuppressionPlan, SuppressionTracker } from '../rules/suppressions.js';
import type { SignalSink } from '../sinks/sink.js';
import type { InputRecord, ReadDiagnostic } from '../sources/source.js';
import type { DoneObject, SeenEventId, StateStore } from '../store/state-store.js';
import { STATE_ERRORS } from '../store/state-store.js';
import { DEFAULT_EVENT_RETENTION_MS } from '../store/event-index.js';
import { readObjectRecords } from './live-read.js';
import { startOutboxDelivery } from './outbox-delivery.js';
import type { OutboxDelivery, OutboxEvent, OutboxSinkBinding, RetryPolicy } from './outbox-delivery.js';
import type { ObjectRead } from './live-read.js';
import type { LiveMetrics, RecordSourceLabel } from './metrics.js';

const DAY_MS = 86_400_000;

/** A sink with the name its outbox entries are kept under (stable across restarts: `stdout`, `jsonl:/abs/path`). */
export interface LiveSinkBinding {
  readonly key: string;
  readonly sink: SignalSink;
}

/** Something worth a line on stderr; the runtime goes on after it. */
export interface LiveProblem {
  /** A read code (E_READ_*, E_S3_GET), a record code (E_RECORD_*), or E_LIVE_POISON, E_LIVE_STEP, E_LIVE_PENDING. */
  readonly code: string;
  /** Where (an object, a request): attacker-influenced, escape it before printing. */
  readonly source: string;
  readonly message: string;
}

/** Test hooks: awaited at the named points of each step (to stall, or to crash a child process there). */
export interface LiveRuntimeHooks {
  /** The step is committed; nothing is delivered yet. */
  readonly afterCommit?: (info: StepInfo) => Promise<void> | void;
  /** Every sink has the step's changes; they are not yet marked delivered. */
  readonly afterSinkDelivery?: (info: StepInfo) => Promise<void> | void;
  /** The changes are marked delivered; the caller has not acknowledged the input yet. */
  readonly afterDeliver?: (info: StepInfo) => Promise<void> | void;
}

export interface StepInfo {
  /** Steps committed by this runtime so far, this one included. */
  readonly step: number;
  readonly changes: number;
}

export interface LiveRuntimeOptions {
  /** The rules (already with suppressions' data exclusions folded in, when there is a plan). */
  readonly rules: readonly CompiledRule[];
  /** Open, locked; the caller closes it after `close()`. */
  readonly store: StateStore;
  /** Local sinks (stdout, files), delivered in each step; a failure is fatal. */
  readonly sinks: readonly LiveSinkBinding[];
  /**
   * Network sinks (webhook, Slack, PagerDuty…), delivered through the store's outbox by their own
   * loops (src/pipeline/outbox-delivery.ts) with retries: never in the step, never fatal.
   */
  readonly outboxSinks?: readonly OutboxSinkBinding[];
  /** The outbox retry policy (per-sink settings override it). */
  readonly outboxRetry?: Partial<RetryPolicy>;
  /** How often the outbox loops look at the store unwoken (default 5 s). */
  readonly outboxPollIntervalMs?: number;
  /** Each outbox attempt's outcome (retries and dead letters are also reported through `onProblem`). */
  readonly onOutboxEvent?: (event: OutboxEvent) => void;
  readonly metrics: LiveMetrics;
  /** Default 60 minutes. */
  readonly allowedLatenessMs?: number;
  readonly environments?: EnvironmentSettings;
  /** Signals a suppression entry matches are not delivered (counted in `stats.suppressedChanges`). */
  readonly suppressions?: SuppressionPlan;
  /** Wall clock, epoch ms (default Date.now): future-skew check, pruning. Never event time. */
  readonly now?: () => number;
  readonly onProblem?: (problem: LiveProblem) => void;
  /** How often the store is pruned (checked after each step). Default 5 minutes. */
  readonly pruneIntervalMs?: number;
  /** Objects marked done longer ago than this are forgotten. Default 14 days (keep it above how far a listing looks back + 7 days). */
  readonly objectRetentionMs?: number;
  /** Logged signal changes older than this are forgotten (never while pending). Default 90 days. */
  readonly signalRetentionMs?: number;
  /** Indexed events (`trailhound investigate`) older than this before the newest event time are forgotten (`--retain`). Default 30 days. */
  readonly eventRetentionMs?: number;
  /** Cap on one JSON value, as `scan`'s. */
  readonly maxValueChars?: number;
  readonly hooks?: LiveRuntimeHooks;
}

/** One object of a step: what marks it done, where it is, and how to get its bytes. */
export interface LiveObject {
  readonly done: DoneObject;
  /** `s3://bucket/key` or the file path. */
  readonly location: string;
  readonly open: () => Promise<AsyncIterable<Uint8Array>>;
}

/**
 * What to do with a poison object: `reject` the whole step (SQS: the message stays for the
 * redrive policy), or `skip` it — marked done unless it could not be fetched at all, so that a
 * restart retries a transient failure but never re-reads a damaged object.
 */
export type PoisonPolicy = 'reject' | 'skip';

export interface ObjectsOutcome {
  /** Objects whose records went through the engine in this step. */
  readonly processed: number;
  /** Objects already done (not read). */
  readonly skipped: number;
  /** Poison objects (with `skip`: reported, and done unless they could not be fetched). */
  readonly poisoned: readonly { readonly location: string; readonly reason: string }[];
}

/** A step refused because one of its objects is poison (policy `reject`). */
export class PoisonObjectError extends TrailhoundError {
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super('E_LIVE_POISON', `cannot use ${location}: ${reason}`);
    this.name = 'PoisonObjectError';
  }
}

export interface LiveRuntimeStats {
  steps: number;
  /** Records normalised into events. */
  events: number;
  /** Records refused by the normaliser. */
  badRecords: number;
  /** Records dropped because their eventID was seen before (store or same step). */
  duplicateRecords: number;
  changesDelivered: number;
  /** Changes redelivered from the outbox at start. */
  changesRedelivered: number;
  suppressedChanges: number;
  poisonObjects: number;
  failedSteps: number;
}

export interface LiveRuntime {
  /** Processes the objects of one unit of work (see `PoisonPolicy`). Rejects when nothing of it was committed. */
  processObjects(source: RecordSourceLabel, objects: readonly LiveObject[], policy: PoisonPolicy): Promise<ObjectsOutcome>;
  /**
   * Processes records pushed over HTTP (one request). With `requestId` (Firehose), the request is
   * recorded as done in the same checkpoint, and a request already done is skipped.
   */
  processRecords(records: readonly InputRecord[], context: { readonly source: 'firehose' | 'http'; readonly requestId?: string }): Promise<void>;
  isObjectDone(object: DoneObject): Promise<boolean>;
  isRequestDone(requestId: string): Promise<boolean>;
  /** Records a request with no records as done (one with records was recorded by its checkpoint). */
  markRequestDone(requestId: string): Promise<void>;
  /** Resolves (never rejects) with the error once the runtime cannot go on (a sink failed, the lock was lost). */
  readonly fatal: Promise<Error>;
  readonly fatalError: Error | undefined;
  /** Waits for the step under way (at most `drainTimeoutMs`, default 10 s), then closes the sinks. The store stays open. */
  close(options?: { readonly drainTimeoutMs?: number; readonly deliversBackoff?: boolean }): Promise<{ readonly isDrained: boolean }>;
  readonly engine: LiveDetectionEngine;
  readonly stats: Readonly<LiveRuntimeStats>;
  /** The delivery runner of the network sinks (undefined without any). */
  readonly outbox: OutboxDelivery | undefined;
}

function describe(error: unknown): string {
  if (error instanceof TrailhoundError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Codes of fetch failures: the object may be fine later, so it is not marked done. */
const TRANSIENT_CODES = ['E_S3_GET', 'E_READ_IO'];

function isTransient(read: ObjectRead): boolean {
  return read.problems.some((p) => TRANSIENT_CODES.includes(p.code));
}

function isFatalStoreError(error: unknown): boolean {
  return error instanceof TrailhoundError && (error.code === STATE_ERRORS.lockLost || error.code === STATE_ERRORS.closed);
}

/** A step's input once read: records, and what to mark done with it. */
interface StepInput {
  readonly source: RecordSourceLabel;
  readonly records: readonly InputRecord[];
  readonly objectsDone: readonly DoneObject[];
  readonly requestsDone: readonly string[];
  /** The intake server counts records and requests itself. */
  readonly isCountedHere: boolean;
  readonly objectCount: number;
}

class Runtime implements LiveRuntime {
  engine: LiveDetectionEngine;
  readonly stats: LiveRuntimeStats = { steps: 0, events: 0, badRecords: 0, duplicateRecords: 0, changesDelivered: 0, changesRedelivered: 0, suppressedChanges: 0, poisonObjects: 0, failedSteps: 0 };
  readonly fatal: Promise<Error>;
  fatalError: Error | undefined;
  private resolveFatal: (error: Error) => void = () => undefined;
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private isClosed = false;
  private lastCommitted: string;
  private lastPruneMs: number;
  /** Firehose requests committed by this process (so `markRequestDone` need not write again). */
  private readonly committedRequests = new Set<string>();
  private readonly now: () => number;
  private readonly tracker: SuppressionTracker | undefined;
  private readonly engineOptions: LiveEngineOptions;
  outbox: OutboxDelivery | undefined;

  constructor(
    private readonly options: LiveRuntimeOptions,
    engine: LiveDetectionEngine,
    engineOptions: LiveEngineOptions,
  ) {
    this.engine = engine;
    this.engineOptions = engineOptions;
    this.now = options.now ?? Date.now;
    this.lastCommitted = JSON.stringify(engine.snapshot());
    this.lastPruneMs = this.now();
    this.tracker = options.suppressions?.createTracker();
    this.fatal = new Promise((resolve) => {
      this.resolveFatal = resolve;
    });
  }

  private get rules(): readonly CompiledRule[] {
    return this.options.suppressions?.rules ?? this.options.rules;
  }

  private problem(problem: LiveProblem): void {
    try {
      this.options.onProblem?.(problem);
    } catch {
      // Reporting must not change the outcome.
    }
  }

  private die(error: Error): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = error;
    this.resolveFatal(error);
  }

  /** Runs `work` after every earlier step; one at a time. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    if (this.fatalError !== undefined) return Promise.reject(this.fatalError);
    if (this.isClosed) return Promise.reject(new TrailhoundError('E_LIVE_CLOSED', 'the live runtime is shutting down; the input is left for a retry'));
    this.inFlight++;
    const run = this.tail.then(async () => {
      if (this.fatalError !== undefined) throw this.fatalError;
      return work();
    });
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled.then(() => {
      this.inFlight--;
    });
    return run;
  }

  isObjectDone(object: DoneObject): Promise<boolean> {
    return this.options.store.isObjectDone(object.source, object.key, object.etag);
  }

  isRequestDone(requestId: string): Promise<boolean> {
    return this.options.store.isRequestDone(requestId);
  }

  async markRequestDone(requestId: string): Promise<void> {
    if (this.committedRequests.delete(requestId)) return;
    await this.options.store.markRequestDone(requestId);
  }

  processObjects(source: RecordSourceLabel, objects: readonly LiveObject[], policy: PoisonPolicy): Promise<ObjectsOutcome> {
    return this.serial(async () => {
      const todo: LiveObject[] = [];
      for (const object of objects) if (!(await this.isObjectDone(object.done))) todo.push(object);
      const skipped = objects.length - todo.length;
      if (todo.length === 0) return { processed: 0, skipped, poisoned: [] };
      const reads: { object: LiveObject; read: ObjectRead }[] = [];
      for (const object of todo) {
        const read = await readObjectRecords(object.location, object.open, this.options.maxValueChars !== undefined ? { maxValueChars: this.options.maxValueChars } : {});
        reads.push({ object, read });
      }
      const poisoned = reads.filter((r) => r.read.poison !== undefined);
      for (const { read } of reads) this.reportRead(source, read);
      for (const { read } of poisoned) {
        this.stats.poisonObjects++;
        this.options.metrics.objectsFailed.inc({ source });
        this.problem({ code: 'E_LIVE_POISON', source: read.location, message: `the object cannot be used (${read.poison ?? ''}); ${policy === 'reject' ? "it is left for the queue's redrive policy" : isTransient(read) ? 'it is retried after a restart' : 'it is skipped and marked done'}` });
      }
      const first = poisoned[0];
      if (policy === 'reject' && first !== undefined) throw new PoisonObjectError(first.read.location, first.read.poison ?? '');
      const good = reads.filter((r) => r.read.poison === undefined);
      const records = good.flatMap((r) => r.read.records);
      const objectsDone = [...good.map((r) => r.object.done), ...poisoned.filter((r) => !isTransient(r.read)).map((r) => r.object.done)];
      if (objectsDone.length > 0) await this.step({ source, records, objectsDone, requestsDone: [], isCountedHere: true, objectCount: good.length });
      return { processed: good.length, skipped, poisoned: poisoned.map((p) => ({ location: p.read.location, reason: p.read.poison ?? '' })) };
    });
  }

  processRecords(records: readonly InputRecord[], context: { readonly source: 'firehose' | 'http'; readonly requestId?: string }): Promise<void> {
    return this.serial(async () => {
      const { requestId } = context;
      if (requestId !== undefined && (await this.options.store.isRequestDone(requestId))) return;
      await this.step({ source: context.source, records, objectsDone: [], requestsDone: requestId !== undefined ? [requestId] : [], isCountedHere: false, objectCount: 1 });
      if (requestId !== undefined) {
        this.committedRequests.add(requestId);
        // Bounded: only the requests whose markDone has not come yet.
        if (this.committedRequests.size > 10_000) this.committedRequests.clear();
      }
    });
  }

  private reportRead(source: RecordSourceLabel, read: ObjectRead): void {
    if (read.problems.length === 0) return;
    this.options.metrics.recordsBad.inc({ source }, read.problems.length);
    for (const p of read.problems) this.reportDiagnostic(p);
  }

  private reportDiagnostic(p: ReadDiagnostic): void {
    const where = p.index !== undefined ? ` record ${p.index}` : p.byteOffset !== undefined ? ` byte ${p.byteOffset}` : '';
    this.problem({ code: p.code, source: `${p.source}${where}`, message: p.message });
  }

  /** The checkpoint protocol for one unit of work whose records are in hand (inside `serial`). */
  private async step(input: StepInput): Promise<void> {
    const { store, metrics } = this.options;
    // Normalise.
    const events: TrailEvent[] = [];
    /** Each event's record, for the event index. */
    const recordOf = new Map<TrailEvent, InputRecord>();
    let bad = 0;
    for (const record of input.records) {
      const result = normaliseRecord(record.value, record.origin);
      if (result.ok) {
        events.push(result.event);
        recordOf.set(result.event, record);
      } else {
        bad++;
        this.problem({ code: result.code, source: `${record.origin.source} record ${record.origin.index}`, message: result.message });
      }
    }
    // Deduplicate eventIDs against the store and inside the step.
    const ids = [...new Set(events.flatMap((e) => (e.eventId !== undefined ? [e.eventId] : [])))];
    const seen = ids.length > 0 ? await store.seenEventIds(ids) : new Set<string>();
    const fresh: TrailEvent[] = [];
    const inStep = new Set<string>();
    for (const event of events) {
      if (event.eventId !== undefined) {
        if (seen.has(event.eventId) || inStep.has(event.eventId)) continue;
        inStep.add(event.eventId);
      }
      fresh.push(event);
    }
    const duplicates = events.length - fresh.length;

    // Detect. From here until the commit returns, a failure rolls the engine back.
    const engine = this.engine;
    const lateBefore = engine.stats.lateEvents;
    let changes: SignalChange[];
    let delivered: SignalChange[];
    let seqs: readonly number[];
    const eventIds: SeenEventId[] = [];
    let newest: number | undefined;
    try {
      for (const event of fresh) {
        engine.ingest(event);
        this.tracker?.observe(event);
        if (event.eventId !== undefined) eventIds.push({ id: event.eventId, eventTimeMs: event.time });
        if (newest === undefined || event.time > newest) newest = event.time;
      }
      changes = engine.process();
      delivered = this.tracker === undefined ? changes : changes.filter((c) => this.tracker?.judge(c.signal) === undefined);
      const engineState = JSON.stringify(engine.snapshot());
      const receipt = await store.commitCheckpoint({
        objectsDone: input.objectsDone,
        requestsDone: input.requestsDone,
        eventIds,
        engineState,
        emittedSignals: delivered,
        deliverTo: this.sinkKeys(),
        indexedEvents: indexedEventsOf(fresh.map((e) => recordOf.get(e))),
      });
      seqs = receipt.changeSeqs;
      this.lastCommitted = engineState;
    } catch (error) {
      this.stats.failedSteps++;
      this.rollBack();
      if (isFatalStoreError(error)) this.die(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }

    // Committed: count, then deliver.
    this.stats.steps++;
    this.stats.events += fresh.length;
    this.stats.badRecords += bad;
    this.stats.duplicateRecords += duplicates;
    this.stats.suppressedChanges += changes.length - delivered.length;
    if (input.isCountedHere) {
      metrics.recordsIn.inc({ source: input.source }, input.records.length);
      if (input.objectCount > 0) metrics.objectsProcessed.inc({ source: input.source }, input.objectCount);
    }
    if (bad > 0) metrics.recordsBad.inc({ source: input.source }, bad);
    const late = engine.stats.lateEvents - lateBefore;
    if (late > 0) metrics.recordsLate.inc(undefined, late);
    if (newest !== undefined) metrics.observeEventTime(newest);
    const created = delivered.filter((c) => c.kind === 'created').length;
    if (created > 0) metrics.signalsCreated.inc(undefined, created);
    if (delivered.length > created) metrics.signalsUpdated.inc(undefined, delivered.length - created);
    const info: StepInfo = { step: this.stats.steps, changes: delivered.length };
    await this.options.hooks?.afterCommit?.(info);

    if (delivered.length > 0) {
      this.outbox?.wake();
      await this.deliver(delivered, seqs, info);
    }
    await this.options.hooks?.afterDeliver?.(info);
    await this.maybePrune();
  }

  /** Every sink's outbox key: the local ones, then the network ones. */
  sinkKeys(): string[] {
    return [...this.options.sinks.map((s) => s.key), ...(this.options.outboxSinks ?? []).map((s) => s.key)];
  }

  /** Starts the network sinks' delivery loops (after the local redelivery, before any new step). */
  startOutbox(): void {
    const outboxSinks = this.options.outboxSinks ?? [];
    if (outboxSinks.length === 0) return;
    this.outbox = startOutboxDelivery({
      store: this.options.store,
      sinks: outboxSinks,
      ...(this.options.outboxRetry !== undefined ? { retry: this.options.outboxRetry } : {}),
      ...(this.options.outboxPollIntervalMs !== undefined ? { pollIntervalMs: this.options.outboxPollIntervalMs } : {}),
      ...(this.options.now !== undefined ? { now: this.options.now } : {}),
      onEvent: (event) => {
        this.options.onOutboxEvent?.(event);
        if (event.type === 'retry') {
          this.problem({ code: 'E_SINK_RETRY', source: event.sink, message: `${event.count} signal change(s) not delivered (attempt ${event.attempts}): ${event.error}; retried at ${new Date(event.nextAttemptMs).toISOString()}` });
        } else if (event.type === 'dead') {
          this.problem({ code: 'E_SINK_DEAD', source: event.sink, message: `${event.count} signal change(s) given up after ${event.attempts} attempt(s): ${event.error}; see trailhound signals, and requeue them once the sink works` });
        } else if (event.type === 'problem') {
          this.problem({ code: 'E_SINK_OUTBOX', source: event.sink, message: event.error });
        }
      },
    });
  }

  /** Delivers to every local sink and marks each delivered; a failure is fatal (network sinks are the outbox runner's). */
  private async deliver(changes: readonly SignalChange[], seqs: readonly number[], info: StepInfo): Promise<void> {
    try {
      await Promise.all(this.options.sinks.map(({ sink }) => sink.deliver(changes)));
      await this.options.hooks?.afterSinkDelivery?.(info);
      for (const { key } of this.options.sinks) await this.options.store.markDelivered(key, seqs);
      this.stats.changesDelivered += changes.length;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.die(failure);
      throw failure;
    }
  }

  private rollBack(): void {
    try {
      const parsed = parseLiveEngineState(JSON.parse(this.lastCommitted));
      if (!parsed.ok) throw new TrailhoundError('E_LIVE_STATE', 'the last committed engine state does not parse');
      this.engine = restoreLiveEngine(this.rules, parsed.value, this.engineOptions);
    } catch (error) {
      this.die(new TrailhoundError('E_LIVE_STATE', `cannot roll the engine back after a failed step: ${describe(error)}`, { cause: error }));
    }
  }

  private async maybePrune(): Promise<void> {
    const now = this.now();
    if (now - this.lastPruneMs < (this.options.pruneIntervalMs ?? 5 * 60_000)) return;
    this.lastPruneMs = now;
    const newest = this.engine.stats.newestEventMs;
    const dedupHorizon = Math.max(this.engine.allowedLatenessMs, DAY_MS);
    try {
      await this.options.store.prune({
        ...(newest !== null ? { eventTimeBeforeMs: newest - dedupHorizon } : {}),
        requestsExpiredAtMs: now,
        objectsDoneBeforeMs: now - (this.options.objectRetentionMs ?? 14 * DAY_MS),
        signalChangesBeforeMs: now - (this.options.signalRetentionMs ?? 90 * DAY_MS),
        ...(newest !== null ? { indexedEventsBeforeMs: Math.min(newest, now) - (this.options.eventRetentionMs ?? DEFAULT_EVENT_RETENTION_MS) } : {}),
      });
    } catch (error) {
      if (isFatalStoreError(error)) this.die(error instanceof Error ? error : new Error(String(error)));
      this.problem({ code: 'E_LIVE_PRUNE', source: this.options.store.location, message: `pruning the state store failed (retried later): ${describe(error)}` });
    }
  }

  /** On start: every change still in a sink's outbox, oldest first. */
  async redeliver(): Promise<void> {
    for (const { key, sink } of this.options.sinks) {
      const pending = await this.options.store.pendingDeliveries(key);
      if (pending.length === 0) continue;
      await sink.deliver(pending.map((p) => ({ kind: p.kind, signal: p.signal, ...(p.triage !== undefined ? { triage: p.triage } : {}) })));
      await this.options.store.markDelivered(
        key,
        pending.map((p) => p.seq),
      );
      this.stats.changesRedelivered += pending.length;
    }
  }

  /**
   * `deliversBackoff` (`watch --once`): also wait, within the drain timeout, for network-sink
   * entries whose retry comes due before it (a run that only empties the outbox would otherwise end
   * before the first retry). Otherwise only what is due now is tried.
   */
  async close(options: { readonly drainTimeoutMs?: number; readonly deliversBackoff?: boolean } = {}): Promise<{ readonly isDrained: boolean }> {
    this.isClosed = true;
    let isDrained = true;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), options.drainTimeoutMs ?? 10_000);
      });
      isDrained = await Promise.race([this.tail.then(() => true as const), deadline]);
      clearTimeout(timer);
    }
    if (this.outbox !== undefined) {
      // What is due is delivered first (now, or with `deliversBackoff` before the drain deadline:
      // `watch --once` retries what it found in backoff if its time comes before the deadline);
      // attempts under way finish; what is left stays in the outbox.
      const drainMs = options.drainTimeoutMs ?? 10_000;
      const startedMs = Date.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.outbox.settled(options.deliversBackoff === true ? startedMs + drainMs : undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
      const outboxClosed = await this.outbox.close({ timeoutMs: Math.max(1000, drainMs - (Date.now() - startedMs)) });
      if (!outboxClosed.isDrained) this.problem({ code: 'E_SINK_CLOSE', source: 'outbox', message: 'a network sink was still delivering at the drain deadline; its changes stay in the outbox for the next start' });
    }
    const results = await Promise.allSettled(this.options.sinks.map((s) => s.sink.close()));
    for (const r of results) if (r.status === 'rejected') this.problem({ code: 'E_LIVE_SINK_CLOSE', source: 'sinks', message: describe(r.reason) });
    return { isDrained };
  }
}

/**
 * Opens the live runtime on an open store: restores the engine (`loadEngineState`, checked with
 * `parseLiveEngineState`; a fresh engine starts from what `scan --state` taught new_value rules),
 * then delivers every sink's pending outbox entries. Throws `E_STATE_READ` when the saved state is
 * damaged, and whatever a sink throws while redelivering.
 */
export async function openLiveRuntime(options: LiveRuntimeOptions): Promise<LiveRuntime> {
  const rules = options.suppressions?.rules ?? options.rules;
  const engineOptions: LiveEngineOptions = {
    allowedLatenessMs: options.allowedLatenessMs ?? DEFAULT_ALLOWED_LATENESS_MS,
    now: options.now ?? Date.now,
    ...(options.environments !== undefined ? { environmentOf: compileEnvironmentResolver(options.environments) } : {}),
  };
  const saved = await options.store.loadEngineState();
  let engine: LiveDetectionEngine;
  if (saved !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(saved);
    } catch (error) {
      throw new TrailhoundError(STATE_ERRORS.read, `the saved engine state in ${options.store.location} is not JSON (${describe(error)}); move the state folder away to start afresh`, { cause: error });
    }
    const parsed = parseLiveEngineState(value);
    if (!parsed.ok) {
      const first = parsed.diagnostics[0];
      throw new TrailhoundError(STATE_ERRORS.read, `the saved engine state in ${options.store.location} is not a live engine state (${first ? `${first.path ?? ''}: ${first.message}` : 'invalid'}); it was written by another version or damaged: move the state folder away to start afresh`);
    }
    engine = restoreLiveEngine(rules, parsed.value, engineOptions);
  } else {
    const history = await options.store.loadNewValueHistory();
    engine = createLiveEngine(rules, { ...engineOptions, ...(history !== undefined ? { newValueHistory: history } : {}) });
  }
  const runtime = new Runtime(options, engine, engineOptions);
  await runtime.redeliver();
  // Closed signals (trailhound signals resolve …) are queued for the sinks of the live runner.
  await options.store.registerSinks(runtime.sinkKeys());
  runtime.startOutbox();
  return runtime;
}
