/**
 * The delivery runner of network sinks (webhook, Slack, PagerDuty, Security Hub): each sink has its
 * own loop over its outbox entries in the state store, so a slow or failing sink never delays
 * another one, nor detection (the live step only commits the entries and wakes the runner).
 *
 * One loop, per sink:
 *   take the oldest pending entries (`dueDeliveries`) → wait until the first one is due → deliver
 *   the due ones, in order → `markDelivered` on success; on failure, the entries confirmed before the
 *   failure are marked delivered and the rest get `recordDeliveryFailure`: retried after an
 *   exponential backoff with full jitter (random between 0 and min(cap, base × 2^(attempts−1))), or
 *   dead after the attempt limit (or at once when the target refused the content itself: HTTP 400,
 *   413, 422). Dead letters stay in the store, shown by `trailhound signals`, until requeued.
 *
 * Entries are delivered in order per sink: a batch in backoff holds back the later ones (a
 * PagerDuty resolve must not overtake its trigger). Everything is in the store, so a restart loses
 * nothing: entries in backoff keep their next attempt time and attempt count. Delivery is at least
 * once: a crash between a target's answer and `markDelivered` sends that batch again.
 *
 * The loop wakes on `wake()` (a commit with new entries), on its timer (`pollIntervalMs`, which also
 * picks up dead letters requeued by another process), and when a backoff ends.
 */
import { TrailhoundError } from '../core/errors.js';
import { SinkDeliveryError } from '../sinks/http-post.js';
import type { SignalChange, SignalSink } from '../sinks/sink.js';
import type { DeliveryFailure, DeliveryOutboxStore, OutboxEntry, StateStore } from '../store/state-store.js';
import { STATE_ERRORS } from '../store/state-store.js';

export interface RetryPolicy {
  /** The first backoff's upper bound (default 1 s). */
  readonly baseDelayMs: number;
  /** The largest backoff (default 5 min). */
  readonly maxDelayMs: number;
  /** Attempts before an entry is dead (default 10). */
  readonly maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000, maxAttempts: 10 };

/** A sink delivered through the outbox: its key in the store, and how to open it (again, after a failure). */
export interface OutboxSinkBinding {
  /** The outbox key: stable across restarts, safe to print (no secret). */
  readonly key: string;
  readonly open: () => Promise<SignalSink> | SignalSink;
  /** Most changes given to one `deliver` call (default 20; Security Hub takes 100). */
  readonly batchSize?: number;
  /** This sink's retry policy (default `DEFAULT_RETRY_POLICY`, or the runner's). */
  readonly retry?: Partial<RetryPolicy>;
}

/** What happened to one attempt, for logs and metrics. */
export type OutboxEvent =
  | { readonly type: 'delivered'; readonly sink: string; readonly count: number }
  | { readonly type: 'retry'; readonly sink: string; readonly count: number; readonly attempts: number; readonly nextAttemptMs: number; readonly error: string }
  | { readonly type: 'dead'; readonly sink: string; readonly count: number; readonly attempts: number; readonly error: string }
  | { readonly type: 'problem'; readonly sink: string; readonly error: string };

export interface OutboxDeliveryOptions {
  readonly store: DeliveryOutboxStore & Pick<StateStore, 'markDelivered' | 'location'>;
  readonly sinks: readonly OutboxSinkBinding[];
  readonly retry?: Partial<RetryPolicy>;
  /** How often each loop looks at the store without being woken (default 5 s). */
  readonly pollIntervalMs?: number;
  /** Wall clock (default Date.now). */
  readonly now?: () => number;
  /** [0, 1) (default Math.random): the jitter. */
  readonly random?: () => number;
  readonly onEvent?: (event: OutboxEvent) => void;
}

export interface OutboxDeliveryStats {
  delivered: number;
  failedAttempts: number;
  dead: number;
}

export interface OutboxDelivery {
  /** New entries were committed: look now. */
  wake(): void;
  /**
   * Resolves once no sink has an entry due before `untilMs` (default: now) left to try — delivered,
   * in backoff past it, or dead. `settled(Infinity)`: until every entry is delivered or dead. For
   * `scan` and tests.
   */
  settled(untilMs?: number): Promise<void>;
  /** Stops the loops: waits for the attempts under way (at most `timeoutMs`, default 10 s), then closes the sinks. Idempotent. */
  close(options?: { readonly timeoutMs?: number }): Promise<{ readonly isDrained: boolean }>;
  readonly stats: Readonly<OutboxDeliveryStats>;
}

/** The backoff after `attempts` failed attempts (1 after the first): full jitter. */
export function backoffDelayMs(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.floor(random() * ceiling);
}

function messageOf(error: unknown): string {
  if (error instanceof TrailhoundError && !(error instanceof SinkDeliveryError)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function isFatalStoreError(error: unknown): boolean {
  return error instanceof TrailhoundError && (error.code === STATE_ERRORS.lockLost || error.code === STATE_ERRORS.closed);
}

/** A wait that `wake` or `stop` cuts short. */
class Alarm {
  private wakeUp: (() => void) | undefined;
  private isRung = false;

  ring(): void {
    this.isRung = true;
    this.wakeUp?.();
  }

  wait(ms: number): Promise<void> {
    if (this.isRung) {
      this.isRung = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.isRung = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 0x7fffffff)));
      this.wakeUp = done;
    });
  }
}

class SinkLoop {
  readonly alarm = new Alarm();
  private sink: SignalSink | undefined;
  /** The loop has looked at the store and found nothing due before this time. */
  idleUntilMs = -Infinity;
  private readonly waiters = new Set<() => void>();
  readonly done: Promise<void>;
  isStopping = false;

  constructor(
    readonly binding: OutboxSinkBinding,
    private readonly runner: Runner,
  ) {
    this.done = this.run();
  }

  private get policy(): RetryPolicy {
    return { ...DEFAULT_RETRY_POLICY, ...this.runner.options.retry, ...this.binding.retry };
  }

  onIdle(resolve: () => void): void {
    this.waiters.add(resolve);
  }

  private notifyIdle(untilMs: number): void {
    this.idleUntilMs = untilMs;
    // Taken out first: a waiter may register again while it runs.
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiting) resolve();
  }

  private async run(): Promise<void> {
    const { store } = this.runner.options;
    const key = this.binding.key;
    const limit = this.binding.batchSize ?? 20;
    const pollMs = this.runner.options.pollIntervalMs ?? 5000;
    while (!this.isStopping) {
      let entries: OutboxEntry[];
      try {
        // The oldest pending entries, due or not: a batch in backoff holds back the later ones.
        entries = await store.dueDeliveries(key, Number.MAX_SAFE_INTEGER, { limit });
      } catch (error) {
        this.runner.emit({ type: 'problem', sink: key, error: `cannot read the outbox: ${messageOf(error)}` });
        if (isFatalStoreError(error)) break;
        await this.alarm.wait(pollMs);
        continue;
      }
      const now = this.runner.now();
      const first = entries[0];
      if (first === undefined) {
        this.notifyIdle(Infinity);
        await this.alarm.wait(pollMs);
        continue;
      }
      if (first.nextAttemptMs > now) {
        this.notifyIdle(first.nextAttemptMs);
        await this.alarm.wait(Math.min(first.nextAttemptMs - now, pollMs));
        continue;
      }
      // The due prefix, in order.
      const firstNotDue = entries.findIndex((e) => e.nextAttemptMs > now);
      const batch = firstNotDue < 0 ? entries : entries.slice(0, firstNotDue);
      this.idleUntilMs = -Infinity;
      await this.attempt(batch);
    }
    this.notifyIdle(Infinity);
    await this.closeSink();
  }

  private async closeSink(): Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined) await Promise.resolve(sink.close()).catch(() => undefined);
  }

  private async attempt(batch: readonly OutboxEntry[]): Promise<void> {
    const { store } = this.runner.options;
    const key = this.binding.key;
    const changes: SignalChange[] = batch.map((e) => ({ kind: e.kind, signal: e.signal, ...(e.triage !== undefined ? { triage: e.triage } : {}) }));
    let delivered = batch.length;
    let failure: unknown;
    try {
      this.sink ??= await this.binding.open();
      await this.sink.deliver(changes);
    } catch (error) {
      failure = error;
      delivered = error instanceof SinkDeliveryError ? Math.min(Math.max(0, error.delivered), batch.length) : 0;
      // A sink that failed rejects every later call: the next attempt opens it again.
      await this.closeSink();
    }
    try {
      if (delivered > 0) {
        await store.markDelivered(
          key,
          batch.slice(0, delivered).map((e) => e.seq),
        );
        this.runner.stats.delivered += delivered;
        this.runner.emit({ type: 'delivered', sink: key, count: delivered });
      }
      if (failure !== undefined) await this.recordFailure(batch.slice(delivered), failure);
    } catch (error) {
      this.runner.emit({ type: 'problem', sink: key, error: `cannot update the outbox: ${messageOf(error)}` });
      if (isFatalStoreError(error)) this.isStopping = true;
      else await this.alarm.wait(this.runner.options.pollIntervalMs ?? 5000);
    }
  }

  private async recordFailure(rest: readonly OutboxEntry[], error: unknown): Promise<void> {
    const [head] = rest;
    if (head === undefined) return;
    const { store } = this.runner.options;
    const key = this.binding.key;
    const policy = this.policy;
    const text = messageOf(error);
    const isPermanent = error instanceof SinkDeliveryError && error.isPermanent;
    // A refused content kills only the change that was refused; the others are tried next.
    const failed = isPermanent ? [head] : rest;
    // Each entry counts its own attempts: one that reached the limit is dead, the others wait together.
    const dead = failed.filter((e) => isPermanent || e.attempts + 1 >= policy.maxAttempts);
    const retried = failed.filter((e) => !dead.includes(e));
    this.runner.stats.failedAttempts++;
    if (dead.length > 0) {
      const outcome: DeliveryFailure = { error: text, isDead: true };
      await store.recordDeliveryFailure(
        key,
        dead.map((e) => e.seq),
        outcome,
      );
      this.runner.stats.dead += dead.length;
      this.runner.emit({ type: 'dead', sink: key, count: dead.length, attempts: Math.max(...dead.map((e) => e.attempts + 1)), error: text });
    }
    if (retried.length > 0) {
      const attempts = Math.max(...retried.map((e) => e.attempts + 1));
      const retryAfterMs = error instanceof SinkDeliveryError ? (error.retryAfterMs ?? 0) : 0;
      const delay = Math.max(backoffDelayMs(attempts, policy, this.runner.random), Math.min(retryAfterMs, 3_600_000));
      const nextAttemptMs = this.runner.now() + delay;
      await store.recordDeliveryFailure(
        key,
        retried.map((e) => e.seq),
        { error: text, nextAttemptMs },
      );
      this.runner.emit({ type: 'retry', sink: key, count: retried.length, attempts, nextAttemptMs, error: text });
    }
  }
}

class Runner implements OutboxDelivery {
  readonly stats: OutboxDeliveryStats = { delivered: 0, failedAttempts: 0, dead: 0 };
  readonly now: () => number;
  readonly random: () => number;
  private readonly loops: SinkLoop[];
  private closing: Promise<{ readonly isDrained: boolean }> | undefined;

  constructor(readonly options: OutboxDeliveryOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const keys = options.sinks.map((s) => s.key);
    const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
    if (repeated !== undefined) throw new TrailhoundError('E_SINK_SPEC', `the sink ${repeated} is configured twice; give each sink once`);
    this.loops = options.sinks.map((binding) => new SinkLoop(binding, this));
  }

  emit(event: OutboxEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // Reporting must not change the outcome.
    }
  }

  wake(): void {
    for (const loop of this.loops) {
      loop.idleUntilMs = -Infinity;
      loop.alarm.ring();
    }
  }

  async settled(untilMs?: number): Promise<void> {
    const until = untilMs ?? this.now();
    this.wake();
    await Promise.all(
      this.loops.map(
        (loop) =>
          new Promise<void>((resolve) => {
            const check = (): void => {
              if (loop.isStopping || loop.idleUntilMs >= until) resolve();
              else loop.onIdle(check);
            };
            loop.onIdle(check);
          }),
      ),
    );
  }

  close(options: { readonly timeoutMs?: number } = {}): Promise<{ readonly isDrained: boolean }> {
    this.closing ??= (async () => {
      for (const loop of this.loops) {
        loop.isStopping = true;
        loop.alarm.ring();
      }
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), options.timeoutMs ?? 10_000);
      });
      const isDrained = await Promise.race([Promise.all(this.loops.map((l) => l.done)).then(() => true as const), deadline]);
      clearTimeout(timer);
      return { isDrained };
    })();
    return this.closing;
  }
}

/** Starts one delivery loop per sink; `close()` stops them. Throws E_SINK_SPEC when a key is given twice. */
export function startOutboxDelivery(options: OutboxDeliveryOptions): OutboxDelivery {
  return new Runner(options);
}
