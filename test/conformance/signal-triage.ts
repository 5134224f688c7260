/**
 * The conformance suite of signal triage (`SignalTriageStore`, part of `StateStore`): how emitted
 * signals are filed, the status changes allowed, the triage log, the `closed` changes queued for the
 * registered sinks, the list filters, and shared access beside a runner. Every StateStore
 * implementation runs it:
 *
 * ```ts
 * describeSignalTriage('SQLite', () => ({ open: (options) => openSqliteStateStore({ ...options, dir }) }));
 * ```
 *
 * The signals are the real ones the built-in rules raise on the Stratus Red Team ec2-user-data run,
 * varied in id, severity, rule, host, identity and time where a test needs several.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TrailhoundError } from '../../src/core/errors.js';
import type { Severity, Signal } from '../../src/core/types.js';
import type { SignalChange } from '../../src/engine/types.js';
import { TRIAGE_STATUSES, TRIAGE_TRANSITIONS } from '../../src/store/signal-triage.js';
import type { SignalFilter, TriageChange, TriageStatus } from '../../src/store/signal-triage.js';
import type { StateStore, StateStoreCommonOptions } from '../../src/store/state-store.js';
import { detect, stratusAttack } from '../support/detect.js';

export interface SignalTriageLocation {
  /** Opens a store on this location; a second open after `close()` sees the same data (a restart). */
  open(options?: StateStoreCommonOptions): Promise<StateStore>;
}

const T0 = Date.parse('2024-08-01T12:00:00Z');
const MINUTE = 60_000;
const WEBHOOK = 'webhook:https://hooks.example.com/trailhound';
const PAGERDUTY = 'pagerduty:R0UT1NGKEY';

async function rejectionOf(promise: Promise<unknown>): Promise<TrailhoundError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TrailhoundError)) throw new Error(`expected a TrailhoundError, got ${String(error)}`);
  return error;
}

/** The changes that bring a fresh open signal to `status`. */
const PATH_TO: Readonly<Record<TriageStatus, readonly Omit<TriageChange, 'actor'>[]>> = {
  open: [],
  acknowledged: [{ status: 'acknowledged' }],
  resolved: [{ status: 'resolved', resolution: 'benign' }],
  suppressed: [{ status: 'suppressed' }],
};

export function describeSignalTriage(name: string, makeLocation: () => SignalTriageLocation | Promise<SignalTriageLocation>): void {
  describe(`signal triage conformance: ${name}`, () => {
    const opened: StateStore[] = [];
    let clock = T0;
    let flagship: Signal; // bd9-8o0-553, grouped by the identity
    let companion: Signal; // the sequence rule, grouped by instance, with actors

    beforeAll(() => {
      const signals = detect(stratusAttack().all);
      const byRule = (id: string): Signal => {
        const found = signals.find((s) => s.ruleId === id);
        if (!found) throw new Error(`the Stratus user-data run raised no ${id} signal`);
        return found;
      };
      flagship = byRule('bd9-8o0-553');
      companion = byRule('aws-ec2-user-data-modified-then-started');
    });

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      clock = T0;
    });

    async function openOn(location: SignalTriageLocation, options: StateStoreCommonOptions = {}): Promise<StateStore> {
      const store = await location.open({ now: () => clock, lockHeartbeatMs: 60_000, ...options });
      opened.push(store);
      return store;
    }

    async function fresh(): Promise<{ store: StateStore; location: SignalTriageLocation }> {
      const location = await makeLocation();
      return { store: await openOn(location), location };
    }

    function created(signal: Signal): SignalChange {
      return { kind: 'created', signal };
    }

    /** A later version of `signal`: one more event, seen `minutes` later. */
    function updated(signal: Signal, minutes: number, updates = 1): SignalChange {
      const lastSeen = new Date(Date.parse(signal.lastSeen) + minutes * MINUTE).toISOString();
      return { kind: 'updated', signal: { ...signal, lastSeen, eventCount: signal.eventCount + updates, updates } };
    }

    /** A flagship signal with its own id, filed once. */
    async function seeded(id = 'a1b2c3d4e5f60001'): Promise<{ store: StateStore; location: SignalTriageLocation; signal: Signal }> {
      const { store, location } = await fresh();
      const signal = { ...flagship, id };
      await store.commitCheckpoint({ emittedSignals: [created(signal)] });
      return { store, location, signal };
    }

    describe('filing emitted signals', () => {
      it('a new signal is stored open, unassigned, with a "detected" entry by trailhound', async () => {
        const { store } = await fresh();
        await store.commitCheckpoint({ emittedSignals: [created(flagship)] });
        const detail = await store.getSignal(flagship.id);
        expect(detail).toMatchObject({ signal: flagship, status: 'open', resolution: null, assignee: null, firstRecordedMs: T0, lastRecordedMs: T0, changeCount: 1 });
        expect(detail?.triage).toEqual([{ atMs: T0, actor: 'trailhound', action: 'detected', status: 'open' }]);
        expect(detail?.history.map((h) => [h.kind, h.signal.id, h.triage])).toEqual([['created', flagship.id, { status: 'open', resolution: null, assignee: null }]]);
      });

      it('a signal a suppression entry matched is stored suppressed', async () => {
        const { store } = await fresh();
        const suppressed: Signal = { ...flagship, status: 'suppressed', suppression: { reason: 'the red team exercise of August', source: 'suppressions.yaml:3:3' } };
        await store.commitCheckpoint({ emittedSignals: [created(suppressed)] });
        expect((await store.getSignal(flagship.id))?.status).toBe('suppressed');
        expect((await store.listSignals({ status: ['open'] })).map((s) => s.signal.id)).toEqual([]);
      });

      it('a later version replaces the stored signal and keeps its triage', async () => {
        const { store, signal } = await seeded();
        clock += MINUTE;
        await store.updateTriage(signal.id, { actor: 'alice', status: 'acknowledged', assignee: 'alice' });
        clock += MINUTE;
        const later = updated(signal, 5);
        await store.commitCheckpoint({ emittedSignals: [later] });
        const detail = await store.getSignal(signal.id);
        expect(detail).toMatchObject({ signal: later.signal, status: 'acknowledged', assignee: 'alice', firstRecordedMs: T0, lastRecordedMs: T0 + 2 * MINUTE, changeCount: 2 });
        expect(detail?.history.map((h) => [h.kind, h.signal.updates, h.triage?.status])).toEqual([
          ['created', 0, 'open'],
          ['updated', 1, 'acknowledged'],
        ]);
        expect(detail?.triage.map((e) => [e.action, e.actor])).toEqual([
          ['detected', 'trailhound'],
          ['status', 'alice'],
          ['assign', 'alice'],
          ['updated', 'trailhound'],
        ]);
      });

      it('an update of a signal the store never saw files it as new', async () => {
        const { store } = await fresh();
        await store.commitCheckpoint({ emittedSignals: [updated(flagship, 1)] });
        expect(await store.getSignal(flagship.id)).toMatchObject({ status: 'open', changeCount: 1 });
      });

      it('a checkpoint that fails leaves no stored signal behind', async () => {
        const { store } = await fresh();
        await expect(store.commitCheckpoint({ emittedSignals: [created(flagship)], deliverTo: [WEBHOOK, WEBHOOK] })).rejects.toThrow(/twice/);
        expect(await store.getSignal(flagship.id)).toBeUndefined();
        expect(await store.listSignals()).toEqual([]);
      });

      it('survives a restart with its triage', async () => {
        const { store, location, signal } = await seeded();
        await store.updateTriage(signal.id, { actor: 'alice', status: 'resolved', resolution: 'false-positive', note: 'the red team' });
        await store.close();
        const again = await openOn(location);
        expect(await again.getSignal(signal.id)).toMatchObject({ status: 'resolved', resolution: 'false-positive' });
      });
    });

    describe('status changes', () => {
      const pairs = TRIAGE_STATUSES.flatMap((from) => TRIAGE_STATUSES.map((to) => [from, to, TRIAGE_TRANSITIONS[from].includes(to)] as const));

      it('the allowed changes are the documented ones', () => {
        expect(pairs.filter(([, , isAllowed]) => isAllowed).map(([from, to]) => `${from}→${to}`)).toEqual([
          'open→acknowledged',
          'open→resolved',
          'open→suppressed',
          'acknowledged→open',
          'acknowledged→resolved',
          'acknowledged→suppressed',
          'resolved→open',
          'resolved→suppressed',
          'suppressed→open',
        ]);
      });

      it.each(pairs)('%s → %s is allowed: %s', async (from, to, isAllowed) => {
        const { store, signal } = await seeded();
        for (const step of PATH_TO[from]) await store.updateTriage(signal.id, { actor: 'alice', ...step });
        const change: TriageChange = { actor: 'bob', status: to, ...(to === 'resolved' ? { resolution: 'true-positive' as const } : {}) };
        if (isAllowed) {
          const after = await store.updateTriage(signal.id, change);
          expect(after).toMatchObject({ status: to, resolution: to === 'resolved' ? 'true-positive' : null });
          expect((await store.getSignal(signal.id))?.status).toBe(to);
        } else {
          const error = await rejectionOf(store.updateTriage(signal.id, change));
          expect(error.code).toBe('E_TRIAGE_INVALID');
          expect(error.message).toContain(`from ${from} to ${to}`);
          expect(error.message).toMatch(from === to ? /already/ : from === 'resolved' || from === 'suppressed' ? /reopen it first/ : /allowed from/);
          expect((await store.getSignal(signal.id))?.status).toBe(from);
        }
      });

      it.each<[string, Omit<TriageChange, 'actor'> & { actor?: string }, RegExp]>([
        ['resolving without a resolution', { status: 'resolved' }, /needs a resolution: true-positive, benign, false-positive/],
        ['a resolution without resolving', { status: 'acknowledged', resolution: 'benign' }, /only when resolving/],
        ['an unknown status', { status: 'closed' as TriageStatus }, /unknown status "closed"/],
        ['an unknown resolution', { status: 'resolved', resolution: 'duplicate' as 'benign' }, /unknown resolution "duplicate"/],
        ['no actor', { actor: '', status: 'acknowledged' }, /actor cannot be empty/],
        ['nothing to change', {}, /names no status, assignee or note/],
        ['an empty note', { note: '  ' }, /note cannot be empty/],
        ['an empty assignee', { assignee: '' }, /assignee cannot be empty/],
      ])('refuses %s (E_TRIAGE_INVALID) and changes nothing', async (_name, change, message) => {
        const { store, signal } = await seeded();
        const error = await rejectionOf(store.updateTriage(signal.id, { actor: 'alice', ...change }));
        expect(error.code).toBe('E_TRIAGE_INVALID');
        expect(error.message).toMatch(message);
        const detail = await store.getSignal(signal.id);
        expect(detail).toMatchObject({ status: 'open', resolution: null, assignee: null });
        expect(detail?.triage).toHaveLength(1);
      });

      it('an unknown signal is E_SIGNAL_NOT_FOUND, for a change and for a note', async () => {
        const { store } = await seeded();
        for (const call of [store.updateTriage('ffffffffffffffff', { actor: 'alice', status: 'acknowledged' }), store.addNote('ffffffffffffffff', 'alice', 'hello')]) {
          const error = await rejectionOf(call);
          expect(error.code).toBe('E_SIGNAL_NOT_FOUND');
          expect(error.message).toContain('"ffffffffffffffff"');
        }
      });

      it('reopening clears the resolution', async () => {
        const { store, signal } = await seeded();
        await store.updateTriage(signal.id, { actor: 'alice', status: 'resolved', resolution: 'benign' });
        expect(await store.updateTriage(signal.id, { actor: 'bob', status: 'open' })).toMatchObject({ status: 'open', resolution: null });
      });
    });

    describe('the triage log', () => {
      it('records every change with who and when, in order', async () => {
        const { store, signal } = await seeded();
        clock = T0 + MINUTE;
        await store.updateTriage(signal.id, { actor: 'alice', status: 'acknowledged', assignee: 'alice', note: 'looking' });
        clock = T0 + 2 * MINUTE;
        await store.addNote(signal.id, 'alice', 'christophe says he did not do it');
        clock = T0 + 3 * MINUTE;
        await store.updateTriage(signal.id, { actor: 'alice', assignee: 'bob' });
        await store.updateTriage(signal.id, { actor: 'bob', assignee: 'bob' }); // the same assignee: nothing to log
        clock = T0 + 4 * MINUTE;
        const after = await store.updateTriage(signal.id, { actor: 'bob', status: 'resolved', resolution: 'true-positive', note: 'keys rotated' });
        expect(after).toMatchObject({ status: 'resolved', resolution: 'true-positive', assignee: 'bob' });
        clock = T0 + 5 * MINUTE;
        await store.updateTriage(signal.id, { actor: 'carol', assignee: null, note: 'closed, unassigning' });
        expect((await store.getSignal(signal.id))?.triage).toEqual([
          { atMs: T0, actor: 'trailhound', action: 'detected', status: 'open' },
          { atMs: T0 + MINUTE, actor: 'alice', action: 'status', status: 'acknowledged', note: 'looking' },
          { atMs: T0 + MINUTE, actor: 'alice', action: 'assign', assignee: 'alice' },
          { atMs: T0 + 2 * MINUTE, actor: 'alice', action: 'note', note: 'christophe says he did not do it' },
          { atMs: T0 + 3 * MINUTE, actor: 'alice', action: 'assign', assignee: 'bob' },
          { atMs: T0 + 4 * MINUTE, actor: 'bob', action: 'status', status: 'resolved', resolution: 'true-positive', note: 'keys rotated' },
          { atMs: T0 + 5 * MINUTE, actor: 'carol', action: 'assign', assignee: null, note: 'closed, unassigning' },
        ]);
      });

      it('keeps attacker-looking text as it was given', async () => {
        const { store, signal } = await seeded();
        const note = "<!channel> '; DROP TABLE signals; -- \u001b[31mred\u001b[0m";
        await store.addNote(signal.id, 'mallory\u202e', note);
        expect((await store.getSignal(signal.id))?.triage.at(-1)).toMatchObject({ actor: 'mallory\u202e', note });
        expect(await store.listSignals()).toHaveLength(1);
      });
    });

    describe('closing a signal', () => {
      it('logs a "closed" change with the triage state, queued for every registered sink', async () => {
        const { store, signal } = await seeded();
        await store.registerSinks([WEBHOOK, PAGERDUTY]);
        clock += MINUTE;
        await store.updateTriage(signal.id, { actor: 'alice', status: 'acknowledged' });
        expect(await store.pendingDeliveries(WEBHOOK)).toEqual([]);
        await store.updateTriage(signal.id, { actor: 'alice', status: 'resolved', resolution: 'false-positive', assignee: 'alice' });
        for (const sink of [WEBHOOK, PAGERDUTY]) {
          const pending = await store.pendingDeliveries(sink);
          expect(pending.map((p) => [p.kind, p.signal, p.recordedMs, p.triage])).toEqual([['closed', signal, T0 + MINUTE, { status: 'resolved', resolution: 'false-positive', assignee: 'alice' }]]);
        }
        const detail = await store.getSignal(signal.id);
        expect(detail?.history.map((h) => h.kind)).toEqual(['created', 'closed']);
        expect(detail?.deliveries.map((d) => [d.sink, d.state, d.attempts])).toEqual([
          [PAGERDUTY, 'pending', 0],
          [WEBHOOK, 'pending', 0],
        ]);
      });

      it('suppressing closes too; closing a closed signal again logs nothing more; reopening logs an update', async () => {
        const { store, signal } = await seeded();
        await store.registerSinks([WEBHOOK]);
        await store.updateTriage(signal.id, { actor: 'alice', status: 'resolved', resolution: 'benign' });
        await store.updateTriage(signal.id, { actor: 'alice', status: 'suppressed', note: 'the nightly deploy job' });
        await store.updateTriage(signal.id, { actor: 'bob', status: 'open' });
        await store.updateTriage(signal.id, { actor: 'bob', status: 'suppressed' });
        expect((await store.pendingDeliveries(WEBHOOK)).map((p) => [p.kind, p.triage?.status])).toEqual([
          ['closed', 'resolved'],
          ['updated', 'open'],
          ['closed', 'suppressed'],
        ]);
      });

      it('with no registered sink, the change is logged and queued for none', async () => {
        const { store, signal } = await seeded();
        await store.commitCheckpoint({ emittedSignals: [], deliverTo: [WEBHOOK] });
        await store.updateTriage(signal.id, { actor: 'alice', status: 'suppressed' });
        expect((await store.signalHistory(signal.id)).map((h) => h.kind)).toEqual(['created', 'closed']);
        expect(await store.pendingDeliveries(WEBHOOK)).toEqual([]);
      });
    });

    describe('deliveries of a signal', () => {
      it('lists its outbox entries, pending and dead; delivered ones are gone', async () => {
        const { store } = await fresh();
        const other = { ...flagship, id: 'ffff000000000001' };
        const { changeSeqs } = await store.commitCheckpoint({ emittedSignals: [created(flagship), created(other), updated(flagship, 1)], deliverTo: [WEBHOOK, 'stdout'] });
        const [first, , third] = changeSeqs;
        if (first === undefined || third === undefined) throw new Error('three changes expected');
        await store.markDelivered('stdout', changeSeqs);
        await store.recordDeliveryFailure(WEBHOOK, [first], { error: 'HTTP 500 from hooks.example.com', isDead: true });
        await store.recordDeliveryFailure(WEBHOOK, [third], { error: 'connection refused', nextAttemptMs: T0 + MINUTE });
        expect((await store.getSignal(flagship.id))?.deliveries).toEqual([
          { sink: WEBHOOK, seq: first, state: 'dead', attempts: 1, lastError: 'HTTP 500 from hooks.example.com' },
          { sink: WEBHOOK, seq: third, state: 'pending', attempts: 1, lastError: 'connection refused' },
        ]);
      });
    });

    describe('listing', () => {
      interface Variant {
        readonly id: string;
        readonly base: 'flagship' | 'companion';
        readonly severity: Severity;
        readonly host: string;
        readonly arn: string;
        readonly minutes: number;
      }
      const ALICE = 'arn:aws:iam::309303190113:user/alice';
      const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
      const variants: readonly Variant[] = [
        { id: 's1', base: 'flagship', severity: 'low', host: 'i-0aaa', arn: CHRISTOPHE, minutes: 0 },
        { id: 's2', base: 'companion', severity: 'high', host: 'i-0aaa', arn: CHRISTOPHE, minutes: 10 },
        { id: 's3', base: 'flagship', severity: 'critical', host: 'i-0bbb', arn: ALICE, minutes: 20 },
        { id: 's4', base: 'companion', severity: 'high', host: 'i-0bbb', arn: ALICE, minutes: 30 },
        { id: 's5', base: 'flagship', severity: 'medium', host: 'i-0ccc', arn: CHRISTOPHE, minutes: 30 },
      ];
      function signalOf(v: Variant): Signal {
        const lastSeen = new Date(Date.parse(flagship.lastSeen) + v.minutes * MINUTE).toISOString();
        if (v.base === 'flagship') return { ...flagship, id: v.id, severity: v.severity, host: v.host, group: { '@userIdentity.arn': v.arn }, lastSeen };
        return { ...companion, id: v.id, severity: v.severity, host: v.host, group: { ...companion.group, '@target.instance_ids': v.host }, actors: [{ arn: v.arn, sessionName: v.arn.split('/')[1] ?? null }], lastSeen };
      }
      async function listed(): Promise<StateStore> {
        const { store } = await fresh();
        await store.commitCheckpoint({ emittedSignals: variants.map((v) => created(signalOf(v))) });
        await store.updateTriage('s1', { actor: 'alice', status: 'acknowledged' });
        await store.updateTriage('s3', { actor: 'alice', status: 'resolved', resolution: 'benign' });
        await store.updateTriage('s4', { actor: 'alice', status: 'suppressed' });
        return store;
      }

      it.each<[string, SignalFilter, readonly string[]]>([
        ['no filter: most recent lastSeen first, then by id', {}, ['s4', 's5', 's3', 's2', 's1']],
        ['status open', { status: ['open'] }, ['s5', 's2']],
        ['status open or acknowledged', { status: ['open', 'acknowledged'] }, ['s5', 's2', 's1']],
        ['severity high or critical', { severity: ['high', 'critical'] }, ['s4', 's3', 's2']],
        ['a rule', { ruleId: 'aws-ec2-user-data-modified-then-started' }, ['s4', 's2']],
        ['a host', { host: 'i-0aaa' }, ['s2', 's1']],
        ['an identity in the group', { identity: ALICE }, ['s4', 's3']],
        ['an identity among the actors', { identity: CHRISTOPHE, ruleId: 'aws-ec2-user-data-modified-then-started' }, ['s2']],
        ['an identity nobody has', { identity: 'arn:aws:iam::309303190113:user/nobody' }, []],
        ['several filters at once', { status: ['open', 'acknowledged'], severity: ['low', 'high'], host: 'i-0aaa' }, ['s2', 's1']],
        ['a limit', { limit: 2 }, ['s4', 's5']],
        ['empty lists filter nothing', { status: [], severity: [] }, ['s4', 's5', 's3', 's2', 's1']],
      ])('%s', async (_name, filter, ids) => {
        const store = await listed();
        expect((await store.listSignals(filter)).map((s) => s.signal.id)).toEqual(ids);
      });

      it('gives each signal its latest version and triage', async () => {
        const store = await listed();
        const [s3] = await store.listSignals({ status: ['resolved'] });
        expect(s3).toMatchObject({ signal: signalOf(variants[2] as Variant), status: 'resolved', resolution: 'benign', assignee: null, changeCount: 1 });
      });

      it.each<[string, SignalFilter]>([
        ['an unknown status', { status: ['closed' as TriageStatus] }],
        ['an unknown severity', { severity: ['urgent' as Severity] }],
        ['a negative limit', { limit: -1 }],
      ])('refuses %s (E_TRIAGE_INVALID)', async (_name, filter) => {
        const { store } = await fresh();
        expect((await rejectionOf(store.listSignals(filter))).code).toBe('E_TRIAGE_INVALID');
      });

      it('finds ids by prefix, sorted, at most the limit', async () => {
        const { store } = await fresh();
        const ids = ['2031dab62c1e3f43', '2031dab6ffffffff', '2031ffffffffffff', 'cd5392e1df05a9c6', '2031dab6%_000000'];
        await store.commitCheckpoint({ emittedSignals: ids.map((id) => created({ ...flagship, id })) });
        expect(await store.findSignalIds('2031dab6')).toEqual(['2031dab6%_000000', '2031dab62c1e3f43', '2031dab6ffffffff']);
        expect(await store.findSignalIds('2031', { limit: 2 })).toEqual(['2031dab6%_000000', '2031dab62c1e3f43']);
        expect(await store.findSignalIds('2031dab6%')).toEqual(['2031dab6%_000000']);
        expect(await store.findSignalIds('cd5392e1df05a9c6')).toEqual(['cd5392e1df05a9c6']);
        expect(await store.findSignalIds('ffff')).toEqual([]);
      });
    });

    describe('shared access beside a runner', () => {
      it('opens while the runner holds the lock, changes triage, and the runner keeps it', async () => {
        const { store: runner, location, signal } = await seeded();
        await runner.registerSinks([WEBHOOK]);
        const shared = await openOn(location, { access: 'shared' });
        expect((await shared.listSignals()).map((s) => s.signal.id)).toEqual([signal.id]);
        await shared.updateTriage(signal.id, { actor: 'alice', status: 'acknowledged', assignee: 'alice' });
        await shared.addNote(signal.id, 'alice', 'on it');
        // The runner sees the triage, and its next version of the signal keeps it.
        await runner.commitCheckpoint({ emittedSignals: [updated(signal, 3)], deliverTo: [WEBHOOK] });
        expect(await runner.getSignal(signal.id)).toMatchObject({ status: 'acknowledged', assignee: 'alice', changeCount: 2 });
        await shared.updateTriage(signal.id, { actor: 'alice', status: 'resolved', resolution: 'true-positive' });
        expect((await runner.pendingDeliveries(WEBHOOK)).map((p) => [p.kind, p.triage?.status])).toEqual([
          ['updated', 'acknowledged'],
          ['closed', 'resolved'],
        ]);
      });

      it.each<[string, (s: StateStore) => Promise<unknown>]>([
        ['commitCheckpoint', (s) => s.commitCheckpoint({ engineState: '{}' })],
        ['saveEngineState', (s) => s.saveEngineState('{}')],
        ['markObjectsDone', (s) => s.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }])],
      ])('refuses a runner write (%s) with E_STATE_SHARED', async (_name, call) => {
        const { location } = await seeded();
        const shared = await openOn(location, { access: 'shared' });
        const error = await rejectionOf(call(shared));
        expect(error.code).toBe('E_STATE_SHARED');
        expect(error.message).toMatch(/opened for shared access/);
      });

      it('closing a shared store leaves the runner its lock', async () => {
        const { location } = await seeded();
        const shared = await openOn(location, { access: 'shared' });
        await shared.close();
        expect((await rejectionOf(location.open({ now: () => clock }))).code).toBe('E_STATE_LOCKED');
      });
    });

    describe('whatever the interleaving (property)', () => {
      type Op =
        | { readonly op: 'emit'; readonly versions: readonly (readonly [number, number])[] } // [signal index, version]
        | { readonly op: 'triage'; readonly signal: number; readonly change: Omit<TriageChange, 'actor'> };
      const ids = ['p0', 'p1', 'p2'] as const;
      const changeArb: fc.Arbitrary<Omit<TriageChange, 'actor'>> = fc.oneof(
        fc.constantFrom<Omit<TriageChange, 'actor'>>({ status: 'acknowledged' }, { status: 'resolved', resolution: 'benign' }, { status: 'suppressed' }, { status: 'open' }),
        fc.constantFrom<Omit<TriageChange, 'actor'>>({ assignee: 'alice' }, { assignee: null }, { note: 'n' }),
      );
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ op: fc.constant('emit' as const), versions: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 4 }) }),
        fc.record({ op: fc.constant('triage' as const), signal: fc.integer({ min: 0, max: 2 }), change: changeArb }),
      );

      it('the stored version is the last emitted one, the triage is what the allowed changes made it, and nothing else moves', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { maxLength: 14 }), async (ops) => {
            const { store } = await fresh();
            const lastEmitted = new Map<string, Signal>();
            const versions = new Map<string, number>();
            const model = new Map<string, { status: TriageStatus; assignee: string | null }>();
            for (const op of ops) {
              if (op.op === 'emit') {
                const emitted = op.versions.map(([i, v]) => {
                  const id = ids[i] ?? 'p0';
                  const signal: Signal = { ...flagship, id, updates: v, eventCount: 3 + v, lastSeen: new Date(Date.parse(flagship.lastSeen) + v * MINUTE).toISOString() };
                  lastEmitted.set(id, signal);
                  versions.set(id, (versions.get(id) ?? 0) + 1);
                  if (!model.has(id)) model.set(id, { status: 'open', assignee: null });
                  return { kind: v === 0 ? ('created' as const) : ('updated' as const), signal };
                });
                await store.commitCheckpoint({ emittedSignals: emitted });
              } else {
                const id = ids[op.signal] ?? 'p0';
                const state = model.get(id);
                const call = store.updateTriage(id, { actor: 'prop', ...op.change });
                if (state === undefined) {
                  expect((await rejectionOf(call)).code).toBe('E_SIGNAL_NOT_FOUND');
                } else if (op.change.status !== undefined && !TRIAGE_TRANSITIONS[state.status].includes(op.change.status)) {
                  expect((await rejectionOf(call)).code).toBe('E_TRIAGE_INVALID');
                } else {
                  await call;
                  model.set(id, { status: op.change.status ?? state.status, assignee: op.change.assignee !== undefined ? op.change.assignee : state.assignee });
                }
              }
              clock += 1000;
            }
            const listed = await store.listSignals();
            expect(listed.map((s) => s.signal.id).sort()).toEqual([...lastEmitted.keys()].sort());
            for (const [id, signal] of lastEmitted) {
              const detail = await store.getSignal(id);
              expect(detail?.signal).toEqual(signal);
              expect(detail?.changeCount).toBe(versions.get(id));
              expect({ status: detail?.status, assignee: detail?.assignee }).toEqual(model.get(id));
              expect(detail?.history.filter((h) => h.kind !== 'closed').at(-1)?.signal ?? signal).toEqual(signal);
            }
            await store.close();
          }),
          { numRuns: 40 },
        );
      });
    });
  });
}
