/**
 * Where signals go. A sink receives the signal changes of each engine step, in order, and says when
 * they are delivered: `deliver` resolves only once its changes are durable at the target (on disk,
 * flushed to the pipe…), so the pipeline can checkpoint its input after it and lose nothing on a
 * crash. Delivery is at least once: after a crash the same changes may be delivered again, with the
 * same signal ids (consumers keep the latest version of each id).
 *
 * Every sink passes the shared conformance suite in test/conformance/sink.ts.
 * Sinks depend on `core` only.
 */
import type { Signal } from '../core/types.js';

/**
 * A signal created or changed, in its latest version. The same shape as the engine's
 * `SignalChange` (src/engine/types.ts), restated here because sinks may not import the engine.
 */
export interface SignalChange {
  /** `closed`: an analyst resolved or suppressed the signal (`trailhound signals resolve …`). */
  readonly kind: 'created' | 'updated' | 'closed';
  readonly signal: Signal;
  /** The signal's triage state when the change was recorded, when the store knows it. */
  readonly triage?: { readonly status: string; readonly resolution: string | null; readonly assignee: string | null };
}

export interface SignalSink {
  /** What the sink writes to, for messages (`stdout`, `jsonl:/var/lib/…`). */
  readonly name: string;
  /**
   * Delivers the changes, in order, after those of every earlier call (calls may overlap; they are
   * delivered one after another). Resolves once they are durable; rejects when they may not be, after
   * which every later call rejects too (the pipeline stops and, on restart, delivers again).
   * An empty list resolves at once.
   */
  deliver(changes: readonly SignalChange[]): Promise<void>;
  /** Waits for deliveries under way, then releases the target. `deliver` rejects afterwards. Idempotent. */
  close(): Promise<void>;
}

/** The text a line-oriented sink writes for one change: the signal as JSON (what `scan --format jsonl` prints). */
export function signalLine(change: SignalChange): string {
  return `${JSON.stringify(change.signal)}\n`;
}

/** A queue that runs delivery steps one after another and remembers the first failure. */
export class DeliveryQueue {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;
  private hasFailed = false;

  /** Runs `step` after every earlier step; rejects (without running it) once a step has failed. */
  run(step: () => Promise<void>): Promise<void> {
    const next = this.tail.then(async () => {
      if (this.hasFailed) throw this.failure;
      try {
        await step();
      } catch (error) {
        this.hasFailed = true;
        this.failure = error;
        throw error;
      }
    });
    // The queue itself never rejects: each caller gets its own step's outcome.
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every step queued so far has finished (whatever its outcome). */
  idle(): Promise<void> {
    return this.tail;
  }
}
