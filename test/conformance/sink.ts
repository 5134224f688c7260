/**
 * The conformance suite every signal sink runs (one interface, one shared suite, Hono-style):
 *
 * ```ts
 * runSinkConformance('jsonl', async () => harnessFor(tmpFile));
 * ```
 *
 * A harness opens sinks on one target, reads back what is durably there, can hold the durability
 * step (fsync, the write callback) and opens sinks on an unwritable target. The signal changes come
 * from the real engine run over real CloudTrail records (Stratus Red Team detonation logs), fed in
 * event-time order so that signals are created and then updated, as in a live run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../../src/core/types.js';
import { createEngine } from '../../src/engine/engine.js';
import { normaliseRecord } from '../../src/normalise/normalise.js';
import type { SignalChange, SignalSink } from '../../src/sinks/sink.js';
import { builtinRules, FIXTURES } from '../support/detect.js';

export interface SinkHarness {
  /** Opens a sink on the harness's target; after `close()`, a new call reopens the same target. */
  open(): Promise<SignalSink>;
  /** The signals durably at the target, in the order they were written. */
  written(): Promise<Signal[]>;
  /** Opens a sink on a target that cannot be written: `open` itself or the first delivery must reject. */
  openUnwritable(): Promise<SignalSink>;
  /** Holds the step that makes data durable until the returned function is called. */
  holdDurability(): () => void;
  /** Removes what the harness created. */
  cleanup(): Promise<void>;
  /**
   * What of a signal the target keeps, when it is not the whole signal (a chat message shows a
   * few fields): `written()` is compared with the delivered signals through it. Default: all of it.
   */
  readonly keeps?: (signal: Signal) => unknown;
}

/** Detonation logs whose replay creates signals and then updates them. */
const SOURCES = ['aws.execution.ec2-user-data.json', 'aws.credential-access.ec2-get-password-data.json', 'aws.execution.ssm-start-session.json'];

let cachedChanges: SignalChange[] | undefined;

/**
 * The changes the real engine emits when the detonation logs are replayed one event at a time in
 * event-time order (advancing the watermark after each): a mix of `created` and `updated`.
 */
export function realSignalChanges(): SignalChange[] {
  if (cachedChanges !== undefined) return cachedChanges;
  const records = SOURCES.flatMap((file) => JSON.parse(readFileSync(join(FIXTURES, 'stratus-detonation-logs', file), 'utf8')) as unknown[]);
  const events = records.flatMap((value, index) => {
    const n = normaliseRecord(value, { source: 'conformance', index });
    return n.ok ? [n.event] : [];
  });
  events.sort((a, b) => a.time - b.time || a.key.localeCompare(b.key));
  const engine = createEngine(builtinRules(), { retainClosedSignals: false });
  const changes: SignalChange[] = [];
  for (const event of events) {
    engine.ingest(event);
    changes.push(...engine.advanceTo(event.time));
  }
  changes.push(...engine.finish());
  cachedChanges = changes;
  return changes;
}

/** Lets pending callbacks and I/O run a few times. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

function ids(signals: readonly Signal[]): string[] {
  return signals.map((s) => `${s.id}#${s.updates}`);
}

function expected(changes: readonly SignalChange[]): string[] {
  return ids(changes.map((c) => c.signal));
}

/** A real signal with attacker-controlled text in every free-text field. */
function hostile(signal: Signal): Signal {
  const text = 'line\nbreak\r"quote"\\ \u2028\u2029 \u0000 \ud800 lone surrogate 🙂 </script>';
  return { ...signal, title: text, message: text, group: { ...signal.group, [text]: text }, tags: [...signal.tags, text] };
}

export function runSinkConformance(name: string, makeHarness: () => Promise<SinkHarness>): void {
  describe(`sink conformance: ${name}`, () => {
    const harnesses: SinkHarness[] = [];
    const opened: SignalSink[] = [];
    const harness = async (): Promise<SinkHarness> => {
      const h = await makeHarness();
      harnesses.push(h);
      return h;
    };
    const open = async (h: SinkHarness): Promise<SignalSink> => {
      const sink = await h.open();
      opened.push(sink);
      return sink;
    };

    afterEach(async () => {
      for (const sink of opened.splice(0)) await sink.close().catch(() => undefined);
      for (const h of harnesses.splice(0)) await h.cleanup();
    });

    it('the replayed detonation logs create signals and update them (the suite has both kinds to deliver)', () => {
      const changes = realSignalChanges();
      expect(changes.some((c) => c.kind === 'created')).toBe(true);
      expect(changes.some((c) => c.kind === 'updated')).toBe(true);
    });

    it('delivers every change as one signal, in order, an update keeping the id of its signal', async () => {
      const h = await harness();
      const sink = await open(h);
      const changes = realSignalChanges();
      await sink.deliver(changes);
      const written = await h.written();
      expect(ids(written)).toEqual(expected(changes));
      const keeps = h.keeps ?? ((signal: Signal) => signal);
      expect(written.map(keeps)).toEqual(changes.map((c) => keeps(c.signal)));
      const updated = changes.find((c) => c.kind === 'updated');
      expect(written.filter((s) => s.id === updated?.signal.id).length).toBeGreaterThan(1);
    });

    it('overlapping deliveries are written in call order', async () => {
      const h = await harness();
      const sink = await open(h);
      const changes = realSignalChanges();
      const batches = [changes.slice(0, 3), changes.slice(3, 4), changes.slice(4)];
      await Promise.all(batches.map((batch) => sink.deliver(batch)));
      expect(ids(await h.written())).toEqual(expected(changes));
    });

    it('how changes are split into deliveries does not change what is written', async () => {
      const changes = realSignalChanges();
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(changes.length), { maxLength: 6 }), fc.boolean(), async (cuts, isAwaitedOneByOne) => {
          const bounds = [0, ...[...cuts].sort((a, b) => a - b), changes.length];
          const batches = bounds.slice(1).map((end, i) => changes.slice(bounds[i], end));
          const h = await harness();
          const sink = await open(h);
          if (isAwaitedOneByOne) for (const batch of batches) await sink.deliver(batch);
          else await Promise.all(batches.map((batch) => sink.deliver(batch)));
          expect(ids(await h.written())).toEqual(expected(changes));
          await sink.close();
          await h.cleanup();
        }),
        { numRuns: 15 },
      );
    });

    it('an empty delivery resolves and writes nothing', async () => {
      const h = await harness();
      const sink = await open(h);
      await sink.deliver([]);
      expect(await h.written()).toEqual([]);
    });

    it('a delivery resolves only once its changes are durable', async () => {
      const h = await harness();
      const sink = await open(h);
      const changes = realSignalChanges().slice(0, 2);
      const release = h.holdDurability();
      let isResolved = false;
      const delivery = sink.deliver(changes).then(() => {
        isResolved = true;
      });
      await settle();
      expect(isResolved).toBe(false);
      release();
      await delivery;
      expect(isResolved).toBe(true);
      expect(ids(await h.written())).toEqual(expected(changes));
    });

    it('survives close and reopen: later deliveries come after the earlier ones', async () => {
      const h = await harness();
      const changes = realSignalChanges();
      const first = await open(h);
      await first.deliver(changes.slice(0, 2));
      await first.close();
      const second = await open(h);
      await second.deliver(changes.slice(2, 5));
      await second.close();
      const third = await open(h);
      await third.deliver(changes.slice(5));
      expect(ids(await h.written())).toEqual(expected(changes));
    });

    it('close waits for deliveries under way, and deliveries after close reject', async () => {
      const h = await harness();
      const sink = await open(h);
      const changes = realSignalChanges().slice(0, 3);
      const delivery = sink.deliver(changes);
      await sink.close();
      await delivery;
      expect(ids(await h.written())).toEqual(expected(changes));
      await expect(sink.deliver(changes)).rejects.toThrow(/closed/);
      await sink.close();
    });

    it('rejects when the target cannot be written', async () => {
      const h = await harness();
      const outcome = await h.openUnwritable().then(
        async (sink) => {
          opened.push(sink);
          return sink.deliver(realSignalChanges().slice(0, 1)).then(
            () => 'delivered',
            (error: unknown) => (error instanceof Error ? error.message : String(error)),
          );
        },
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      expect(outcome).not.toBe('delivered');
      expect(outcome).toMatch(/cannot/);
    });

    it('attacker-controlled text in a signal stays inside its own line and round-trips', async () => {
      const h = await harness();
      const sink = await open(h);
      const signals = realSignalChanges()
        .slice(0, 2)
        .map((c) => hostile(c.signal));
      await sink.deliver(signals.map((signal) => ({ kind: 'created', signal })));
      const written = await h.written();
      expect(written).toHaveLength(2);
      // JSON.stringify writes a lone surrogate as an escape, which parses back to the same string.
      const keeps = h.keeps ?? ((signal: Signal) => signal);
      expect(written.map(keeps)).toEqual(signals.map(keeps));
    });
  });
}
