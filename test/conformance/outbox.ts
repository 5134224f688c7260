/**
 * The conformance suite of the delivery outbox (`DeliveryOutboxStore`, the part of `StateStore` the
 * delivery runner of network sinks uses): due entries, failed attempts with a next attempt time,
 * dead letters and their requeue, and the registered sinks. Every StateStore implementation runs it:
 *
 * ```ts
 * describeOutboxStore('SQLite', () => ({ open: (options) => openSqliteStateStore({ ...options, dir }) }));
 * ```
 *
 * The signal changes are the real engine's over the Stratus Red Team detonation logs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TrailhoundError } from '../../src/core/errors.js';
import type { StateStore, StateStoreCommonOptions } from '../../src/store/state-store.js';
import { realSignalChanges } from './sink.js';

export interface OutboxStoreLocation {
  /** Opens a store on this location; a second open after `close()` sees the same data (a restart). */
  open(options?: StateStoreCommonOptions): Promise<StateStore>;
}

const T0 = Date.parse('2024-08-01T12:00:00Z');
const WEBHOOK = 'webhook:https://hooks.example.com/trailhound';
const PAGERDUTY = 'pagerduty:R0UT1NGKEY#3f2a';

export function describeOutboxStore(name: string, makeLocation: () => OutboxStoreLocation): void {
  describe(`outbox conformance: ${name}`, () => {
    const opened: StateStore[] = [];
    let clock = T0;
    const open = async (location: OutboxStoreLocation): Promise<StateStore> => {
      const store = await location.open({ now: () => clock, lockHeartbeatMs: 60_000 });
      opened.push(store);
      return store;
    };

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      clock = T0;
    });

    /** A store with the first `count` real changes committed for both sinks; returns their seqs. */
    async function seeded(count = 4): Promise<{ store: StateStore; location: OutboxStoreLocation; seqs: readonly number[] }> {
      const location = makeLocation();
      const store = await open(location);
      // The engine's own change type (the replay only creates and updates).
      const changes = realSignalChanges()
        .slice(0, count)
        .flatMap((c) => (c.kind === 'closed' ? [] : [{ kind: c.kind, signal: c.signal }]));
      const { changeSeqs } = await store.commitCheckpoint({ emittedSignals: changes, deliverTo: [WEBHOOK, PAGERDUTY] });
      return { store, location, seqs: changeSeqs };
    }

    it('a committed change is due at once for every sink, oldest first, never tried', async () => {
      const { store, seqs } = await seeded();
      const due = await store.dueDeliveries(WEBHOOK, clock);
      expect(due.map((d) => d.seq)).toEqual(seqs);
      expect(due.map((d) => d.signal.id)).toEqual(realSignalChanges().slice(0, 4).map((c) => c.signal.id));
      expect(due[0]).toMatchObject({ sink: WEBHOOK, attempts: 0, lastError: null, state: 'pending', kind: realSignalChanges()[0]?.kind });
      expect((await store.dueDeliveries(PAGERDUTY, clock)).map((d) => d.seq)).toEqual(seqs);
      expect((await store.dueDeliveries(WEBHOOK, clock, { limit: 2 })).map((d) => d.seq)).toEqual(seqs.slice(0, 2));
      expect(await store.dueDeliveries('slack:elsewhere', clock)).toEqual([]);
    });

    it('a failed attempt counts, keeps the error, and makes the entry due again only at its next attempt time', async () => {
      const { store, seqs } = await seeded();
      const [first, second] = seqs as [number, number];
      await store.recordDeliveryFailure(WEBHOOK, [first, second], { error: 'HTTP 503 Service Unavailable', nextAttemptMs: clock + 2_000 });
      expect((await store.dueDeliveries(WEBHOOK, clock)).map((d) => d.seq)).toEqual(seqs.slice(2));
      expect((await store.dueDeliveries(WEBHOOK, clock + 1_999)).map((d) => d.seq)).toEqual(seqs.slice(2));
      const later = await store.dueDeliveries(WEBHOOK, clock + 2_000);
      expect(later.map((d) => d.seq)).toEqual(seqs);
      expect(later[0]).toMatchObject({ attempts: 1, nextAttemptMs: clock + 2_000, lastError: 'HTTP 503 Service Unavailable', state: 'pending' });
      // Still pending for the basic protocol, and the other sink is not affected.
      expect((await store.pendingDeliveries(WEBHOOK)).map((d) => d.seq)).toEqual(seqs);
      expect((await store.dueDeliveries(PAGERDUTY, clock))[0]).toMatchObject({ seq: first, attempts: 0, lastError: null });
      await store.recordDeliveryFailure(WEBHOOK, [first], { error: 'connect ECONNREFUSED 127.0.0.1:9', nextAttemptMs: clock + 10_000 });
      const [again] = await store.dueDeliveries(WEBHOOK, clock + 10_000, { limit: 1 });
      expect(again).toMatchObject({ seq: first, attempts: 2, lastError: 'connect ECONNREFUSED 127.0.0.1:9' });
    });

    it('a dead entry is no longer due nor pending, is listed as a dead letter, and is requeued on demand', async () => {
      const { store, seqs } = await seeded();
      const [first, second, third] = seqs as [number, number, number];
      await store.recordDeliveryFailure(WEBHOOK, [first, third], { error: 'HTTP 400 Bad Request', isDead: true });
      expect((await store.dueDeliveries(WEBHOOK, clock + 3_600_000)).map((d) => d.seq)).toEqual([second, ...seqs.slice(3)]);
      expect((await store.pendingDeliveries(WEBHOOK)).map((d) => d.seq)).toEqual([second, ...seqs.slice(3)]);
      const dead = await store.deadLetters(WEBHOOK);
      expect(dead.map((d) => [d.seq, d.state, d.attempts, d.lastError])).toEqual([
        [first, 'dead', 1, 'HTTP 400 Bad Request'],
        [third, 'dead', 1, 'HTTP 400 Bad Request'],
      ]);
      expect(dead[0]?.signal).toEqual(realSignalChanges()[0]?.signal);
      expect(await store.deadLetters(PAGERDUTY)).toEqual([]);
      expect((await store.deadLetters()).map((d) => `${d.sink}#${d.seq}`)).toEqual([`${WEBHOOK}#${first}`, `${WEBHOOK}#${third}`]);
      // A failure recorded on a dead entry changes nothing.
      await store.recordDeliveryFailure(WEBHOOK, [first], { error: 'later', nextAttemptMs: clock });
      expect((await store.deadLetters(WEBHOOK))[0]).toMatchObject({ seq: first, attempts: 1, lastError: 'HTTP 400 Bad Request' });

      expect(await store.requeueDeadLetters(WEBHOOK, [third])).toBe(1);
      expect((await store.deadLetters()).map((d) => d.seq)).toEqual([first]);
      const requeued = (await store.dueDeliveries(WEBHOOK, clock)).find((d) => d.seq === third);
      expect(requeued).toMatchObject({ state: 'pending', attempts: 0, nextAttemptMs: 0 });
      expect(await store.requeueDeadLetters(PAGERDUTY)).toBe(0);
      expect(await store.requeueDeadLetters()).toBe(1);
      expect(await store.deadLetters()).toEqual([]);
      expect((await store.dueDeliveries(WEBHOOK, clock)).map((d) => d.seq)).toEqual(seqs);
    });

    it('markDelivered removes a dead entry too, and a change is never pruned while any entry of it remains', async () => {
      const { store, seqs } = await seeded(2);
      const [first, second] = seqs as [number, number];
      await store.recordDeliveryFailure(WEBHOOK, [first], { error: 'gave up', isDead: true });
      await store.markDelivered(PAGERDUTY, seqs);
      await store.markDelivered(WEBHOOK, [second]);
      clock += 100 * 86_400_000;
      const pruned = await store.prune({ signalChangesBeforeMs: clock });
      expect(pruned.signalChanges).toBe(1);
      expect((await store.deadLetters()).map((d) => d.seq)).toEqual([first]);
      await store.markDelivered(WEBHOOK, [first]);
      expect(await store.deadLetters()).toEqual([]);
      expect((await store.prune({ signalChangesBeforeMs: clock })).signalChanges).toBe(1);
    });

    it('attempts, next attempt times and dead letters survive a restart', async () => {
      const { store, location, seqs } = await seeded(3);
      const [first, second] = seqs as [number, number];
      await store.recordDeliveryFailure(WEBHOOK, [first], { error: 'HTTP 502', nextAttemptMs: clock + 5_000 });
      await store.recordDeliveryFailure(PAGERDUTY, [second], { error: 'HTTP 400', isDead: true });
      await store.close();
      const reopened = await open(location);
      expect((await reopened.dueDeliveries(WEBHOOK, clock)).map((d) => d.seq)).toEqual(seqs.slice(1));
      expect((await reopened.dueDeliveries(WEBHOOK, clock + 5_000))[0]).toMatchObject({ seq: first, attempts: 1, lastError: 'HTTP 502', nextAttemptMs: clock + 5_000 });
      expect((await reopened.deadLetters()).map((d) => [d.sink, d.seq])).toEqual([[PAGERDUTY, second]]);
    });

    it('registered sinks replace the previous list, without repeats, and survive a restart', async () => {
      const location = makeLocation();
      const store = await open(location);
      expect(await store.registeredSinks()).toEqual([]);
      await store.registerSinks([WEBHOOK, 'stdout', WEBHOOK]);
      expect(await store.registeredSinks()).toEqual([WEBHOOK, 'stdout']);
      await store.registerSinks([PAGERDUTY]);
      await store.close();
      const reopened = await open(location);
      expect(await reopened.registeredSinks()).toEqual([PAGERDUTY]);
    });

    it('rejects a malformed failure and changes nothing', async () => {
      const { store, seqs } = await seeded(1);
      await expect(store.recordDeliveryFailure(WEBHOOK, seqs, { error: 'x', nextAttemptMs: Number.NaN })).rejects.toBeInstanceOf(TrailhoundError);
      await expect(store.recordDeliveryFailure(WEBHOOK, [Number.NaN], { error: 'x', nextAttemptMs: clock })).rejects.toBeInstanceOf(TrailhoundError);
      expect((await store.dueDeliveries(WEBHOOK, clock))[0]).toMatchObject({ attempts: 0, lastError: null });
    });

    it('every outbox method rejects after close', async () => {
      const { store } = await seeded(1);
      await store.close();
      for (const call of [() => store.dueDeliveries(WEBHOOK, clock), () => store.recordDeliveryFailure(WEBHOOK, [1], { error: 'x', nextAttemptMs: 0 }), () => store.deadLetters(), () => store.requeueDeadLetters(), () => store.registerSinks([]), () => store.registeredSinks()]) {
        const error: unknown = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TrailhoundError);
        expect((error as TrailhoundError).code).toBe('E_STATE_CLOSED');
      }
    });
  });
}
