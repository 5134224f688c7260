/**
 * The conformance suite of the event index (EventIndexStore, part of StateStore): every store
 * implementation runs `describeEventIndex(name, createLocation)` in a test file (SQLite, in-memory,
 * later PostgreSQL). Real records throughout: the Stratus Red Team runs in test/fixtures/cloudtrail,
 * with variants built in the test where a case needs one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../../src/core/errors.js';
import type { JsonObject } from '../../src/core/types.js';
import { indexedEventOf } from '../../src/investigate/indexed-event.js';
import { summarizeStoredEvents } from '../../src/store/event-index-support.js';
import type { EventQuery, IndexedEvent, StoredEvent } from '../../src/store/event-index.js';
import type { StateStore, StateStoreCommonOptions } from '../../src/store/state-store.js';
import { fixtureRecords } from '../support/detect.js';
import { indexFixtures, indexedFixtureEvents } from '../support/indexed-fixtures.js';

export interface EventIndexLocation {
  /** Open a store on this location (the first open creates it); reopening sees what was written. */
  open(options?: StateStoreCommonOptions): Promise<StateStore>;
}

const USER_DATA = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
const PASSWORD_DATA = 'stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json';
const SSM_SESSION = 'stratus-detonation-logs/aws.execution.ssm-start-session.json';
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const CHRISTOPHE_KEY = 'AKIAZI86ACIZ2J9CV86Z';
const CHRISTOPHE_PRINCIPAL = 'AIDAV0KQ3LIBUIGZ52WB';
const INSTANCE = 'i-DDd6c7B0e18F0E35f';
const ROLE = 'arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role';
const SESSION = 'arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000';
const ALL_TIME = { fromMs: 0, toMs: Date.parse('2100-01-01T00:00:00Z') };
const T = (iso: string): number => Date.parse(iso);

/** A copy of a real record with another session of the same role (new session name, key and eventID). */
function otherSession(event: IndexedEvent, session: string, index: number): IndexedEvent {
  const record = JSON.parse(event.raw) as JsonObject & { userIdentity: JsonObject };
  const arn = SESSION.replace(/[^/]+$/, session);
  record.userIdentity = { ...record.userIdentity, arn, accessKeyId: `ASIAOTHERSESSION${String(index).padStart(4, '0')}`, principalId: `AROAEXAMPLE:${session}` };
  record.eventID = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
  const indexed = indexedEventOf(record);
  if (indexed === undefined) throw new Error('variant has no time');
  return indexed;
}

async function rejectionOf(promise: Promise<unknown>): Promise<TrailhoundError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TrailhoundError)) throw new Error(`expected a TrailhoundError, got ${String(error)}`);
  return error;
}

function names(events: readonly StoredEvent[]): string[] {
  return events.map((e) => e.eventName ?? '');
}

export function describeEventIndex(name: string, createLocation: () => EventIndexLocation, features: { readonly isDurable: boolean }): void {
  describe(`event index conformance: ${name}`, () => {
    async function withStore<T>(fn: (store: StateStore, location: EventIndexLocation) => Promise<T>): Promise<T> {
      const location = createLocation();
      const store = await location.open();
      try {
        return await fn(store, location);
      } finally {
        await store.close();
      }
    }

    it('indexes a real run and returns every field of each event as read, oldest first', async () => {
      await withStore(async (store) => {
        expect(await indexFixtures(store, [USER_DATA])).toBe(35);
        const events = await store.queryEvents({ identityArns: [CHRISTOPHE], ...ALL_TIME, includeRaw: true });
        expect(events).toHaveLength(35);
        expect(events.map((e) => e.eventTimeMs)).toEqual([...events.map((e) => e.eventTimeMs)].sort((a, b) => a - b));
        // The file is newest first; a DescribeInstances poll shares StopInstances' second.
        const stop = events.find((e) => e.eventName === 'StopInstances');
        expect(stop?.eventTimeMs).toBe(events[0]?.eventTimeMs);
        expect(stop).toMatchObject({
          eventName: 'StopInstances',
          eventSource: 'ec2.amazonaws.com',
          eventTimeMs: T('2024-08-01T12:03:30Z'),
          accountId: '309303190113',
          region: 'ca-northsouth-2r',
          identityArn: CHRISTOPHE,
          identityType: 'IAMUser',
          principalId: CHRISTOPHE_PRINCIPAL,
          accessKeyId: CHRISTOPHE_KEY,
          sessionName: 'christophe',
          roleArn: null,
          sourceIp: '251.228.255.218',
          errorCode: null,
          instanceIds: [INSTANCE],
          isReadOnly: false,
        });
        const original = fixtureRecords(USER_DATA).find((r) => r.eventName === 'StopInstances');
        expect(stop?.eventId).toBe(original?.eventID);
        expect(JSON.parse(stop?.raw ?? 'null')).toEqual(original);
        expect(events.at(-1)?.eventName).toBe('DescribeInstances');
        // Without includeRaw the record is not read.
        expect((await store.queryEvents({ identityArns: [CHRISTOPHE], ...ALL_TIME, limit: 1 }))[0]?.raw).toBeNull();
      });
    });

    it('is idempotent on eventID: indexing a file again adds nothing', async () => {
      await withStore(async (store) => {
        const events = await indexedFixtureEvents(USER_DATA);
        expect(await store.indexEvents(events)).toBe(35);
        expect(await store.indexEvents([...events].reverse())).toBe(0);
        expect(await store.indexEvents([events[0] as IndexedEvent, events[0] as IndexedEvent])).toBe(0);
        expect(await store.queryEvents({ ...ALL_TIME })).toHaveLength(35);
      });
    });

    it('deduplicates records without an eventID on their whole text', async () => {
      await withStore(async (store) => {
        const [first] = await indexedFixtureEvents(USER_DATA);
        if (first === undefined) throw new Error('no event');
        const record = JSON.parse(first.raw) as JsonObject;
        delete record.eventID;
        const withoutId = indexedEventOf(record);
        if (withoutId === undefined) throw new Error('no time');
        expect(withoutId.eventId).toBeNull();
        const other = indexedEventOf({ ...record, sourceIPAddress: '198.51.100.7' });
        expect(await store.indexEvents([withoutId, withoutId])).toBe(1);
        expect(await store.indexEvents([withoutId, other as IndexedEvent])).toBe(1);
        const found = await store.queryEvents({ ...ALL_TIME, includeRaw: true });
        expect(found.map((e) => [e.eventId, e.sourceIp])).toEqual([
          [null, '251.228.255.218'],
          [null, '198.51.100.7'],
        ]);
      });
    });

    it.each([
      ['identity ARN', { identityArns: [CHRISTOPHE] }, 35],
      ['access key id', { accessKeyIds: [CHRISTOPHE_KEY] }, 35],
      ['principal id', { principalIds: [CHRISTOPHE_PRINCIPAL] }, 35],
      ['instance id (named by Stop, Modify, Start and the DescribeInstances polls)', { instanceIds: [INSTANCE] }, 35],
      ['role ARN (every session of the role)', { roleArns: [ROLE] }, 30],
      ['the session ARN', { identityArns: [SESSION] }, 30],
      ['a value never indexed', { identityArns: ['arn:aws:iam::000000000000:user/nobody'] }, 0],
      ['two pivots at once (an OR)', { identityArns: [CHRISTOPHE], roleArns: [ROLE] }, 65],
    ] as const)('finds events by %s', async (_what, pivots, count) => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA, PASSWORD_DATA, SSM_SESSION]);
        const events = await store.queryEvents({ ...pivots, ...ALL_TIME });
        expect(events).toHaveLength(count);
        const summary = await store.summarizeEvents({ ...pivots, ...ALL_TIME });
        expect(summary.total).toBe(count);
      });
    });

    it('a window includes its start and excludes its end', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA]);
        const stop = T('2024-08-01T12:03:30Z');
        const modify = T('2024-08-01T12:04:18Z');
        const between = await store.queryEvents({ instanceIds: [INSTANCE], fromMs: stop, toMs: modify });
        expect(names(between)).toContain('StopInstances');
        expect(between.every((e) => e.eventTimeMs >= stop && e.eventTimeMs < modify)).toBe(true);
        expect(names(between)).not.toContain('ModifyInstanceAttribute');
        const fromModify = await store.queryEvents({ identityArns: [CHRISTOPHE], fromMs: modify, toMs: modify + 1 });
        expect(names(fromModify)).toEqual(['ModifyInstanceAttribute']);
      });
    });

    it('a role query returns every session of the role, and a session query only its own', async () => {
      await withStore(async (store) => {
        const events = await indexedFixtureEvents(PASSWORD_DATA);
        const sessionEvent = events.find((e) => e.roleArn === ROLE);
        if (sessionEvent === undefined) throw new Error('no session event');
        await store.indexEvents([...events, otherSession(sessionEvent, 'i-0123456789abcdef0', 1), otherSession(sessionEvent, 'i-0123456789abcdef0', 2)]);
        const byRole = await store.queryEvents({ roleArns: [ROLE], ...ALL_TIME });
        expect(byRole).toHaveLength(32);
        expect(new Set(byRole.map((e) => e.sessionName))).toEqual(new Set(['aws-go-sdk-1722375070115152000', 'i-0123456789abcdef0']));
        expect(await store.queryEvents({ identityArns: [SESSION], ...ALL_TIME })).toHaveLength(30);
        expect(await store.queryEvents({ accessKeyIds: ['ASIAOTHERSESSION0002'], ...ALL_TIME })).toHaveLength(1);
      });
    });

    it('failed calls only, and a limit keeps the oldest', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [PASSWORD_DATA]);
        const failed = await store.queryEvents({ ...ALL_TIME, isErrorOnly: true });
        expect(failed).toHaveLength(32);
        expect(new Set(failed.map((e) => e.errorCode))).toEqual(new Set(['Client.UnauthorizedOperation', 'AccessDenied']));
        const all = await store.queryEvents({ ...ALL_TIME });
        const firstThree = await store.queryEvents({ ...ALL_TIME, limit: 3 });
        expect(firstThree).toEqual(all.slice(0, 3));
        expect(await store.queryEvents({ ...ALL_TIME, limit: 0 })).toEqual([]);
        expect((await rejectionOf(store.queryEvents({ ...ALL_TIME, limit: -1 }))).code).toBe('E_STATE_CHECKPOINT');
      });
    });

    it('finds a signal’s own events by eventID', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA, PASSWORD_DATA]);
        const ids = fixtureRecords(USER_DATA)
          .filter((r) => r.eventName !== 'DescribeInstances')
          .map((r) => String(r.eventID));
        const events = await store.queryEvents({ eventIds: [...ids, 'not-an-indexed-id'], ...ALL_TIME });
        expect(names(events)).toEqual(['StopInstances', 'ModifyInstanceAttribute', 'StartInstances']);
        expect(await store.queryEvents({ eventIds: ['not-an-indexed-id'], ...ALL_TIME })).toEqual([]);
      });
    });

    it('summarises a window: APIs with failures, IPs, agents, error codes, identities and instance actions', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA, PASSWORD_DATA]);
        const summary = await store.summarizeEvents({ identityArns: [CHRISTOPHE], ...ALL_TIME });
        expect(summary.total).toBe(35);
        expect(summary.errors).toBe(0);
        expect(summary.apis.map((a) => [a.eventName, a.count])).toEqual([
          ['DescribeInstances', 32],
          ['ModifyInstanceAttribute', 1],
          ['StartInstances', 1],
          ['StopInstances', 1],
        ]);
        expect(summary.sourceIps).toEqual([{ value: '251.228.255.218', count: 35, firstMs: T('2024-08-01T12:03:30Z'), lastMs: T('2024-08-01T12:04:24Z') }]);
        expect(summary.instances.filter((i) => i.eventName !== 'DescribeInstances').map((i) => [i.instanceId, i.eventName, i.count, i.firstMs])).toEqual([
          [INSTANCE, 'StopInstances', 1, T('2024-08-01T12:03:30Z')],
          [INSTANCE, 'ModifyInstanceAttribute', 1, T('2024-08-01T12:04:18Z')],
          [INSTANCE, 'StartInstances', 1, T('2024-08-01T12:04:19Z')],
        ]);
        const failures = await store.summarizeEvents({ roleArns: [ROLE], identityArns: ['arn:aws:iam::457448411975:user/christophe'], ...ALL_TIME });
        expect(failures.errors).toBe(32);
        expect(failures.errorCodes.map((c) => [c.value, c.count])).toEqual([
          ['Client.UnauthorizedOperation', 30],
          ['AccessDenied', 2],
        ]);
        expect(failures.identityArns.map((c) => [c.value, c.count])).toEqual([
          [SESSION, 30],
          ['arn:aws:iam::457448411975:user/christophe', 4],
        ]);
        expect(failures.apis.find((a) => a.eventName === 'AssumeRole')).toMatchObject({ count: 4, errorCount: 2 });
      });
    });

    it('keeps what an actor did before a time: APIs, IPs and agents with their first time', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA, PASSWORD_DATA]);
        const modify = T('2024-08-01T12:04:18Z');
        const before = await store.actorHistory({ kind: 'identity', arn: CHRISTOPHE }, modify);
        expect(before.apis.map((a) => a.value)).toEqual(['ec2.amazonaws.com DescribeInstances', 'ec2.amazonaws.com StopInstances']);
        expect(before.apis.find((a) => a.value.endsWith('StopInstances'))).toMatchObject({ firstMs: T('2024-08-01T12:03:30Z'), lastMs: T('2024-08-01T12:03:30Z') });
        expect(before.sourceIps.map((i) => i.value)).toEqual(['251.228.255.218']);
        expect(before.userAgents).toHaveLength(1);
        const after = await store.actorHistory({ kind: 'identity', arn: CHRISTOPHE }, modify + 2000);
        expect(after.apis.map((a) => a.value)).toContain('ec2.amazonaws.com StartInstances');
        expect(await store.actorHistory({ kind: 'identity', arn: CHRISTOPHE }, T('2024-08-01T12:03:30Z'))).toEqual({ apis: [], sourceIps: [], userAgents: [] });
        const role = await store.actorHistory({ kind: 'role', arn: ROLE }, ALL_TIME.toMs);
        expect(role.apis.map((a) => a.value)).toEqual(['ec2.amazonaws.com GetPasswordData']);
        expect(await store.actorHistory({ kind: 'role', arn: CHRISTOPHE }, ALL_TIME.toMs)).toEqual({ apis: [], sourceIps: [], userAgents: [] });
      });
    });

    it('prunes by event time: old events go, history of an actor still active keeps its first time', async () => {
      await withStore(async (store) => {
        await indexFixtures(store, [USER_DATA, PASSWORD_DATA]);
        expect(await store.indexedTimeRange()).toEqual({ oldestMs: T('2024-07-30T21:31:10Z'), newestMs: T('2024-08-01T12:04:24Z') });
        const horizon = T('2024-08-01T12:04:00Z');
        const removed = await store.pruneEvents(horizon);
        expect(removed).toBe(34 + (35 - 16));
        const left = await store.queryEvents({ ...ALL_TIME });
        expect(left.every((e) => e.eventTimeMs >= horizon)).toBe(true);
        expect(names(left).filter((n) => n !== 'DescribeInstances')).toEqual(['ModifyInstanceAttribute', 'StartInstances']);
        expect(await store.queryEvents({ instanceIds: [INSTANCE], ...ALL_TIME })).toHaveLength(16);
        // The role is gone entirely; christophe's DescribeInstances (still called after the horizon) keeps its first time.
        expect(await store.actorHistory({ kind: 'role', arn: ROLE }, ALL_TIME.toMs)).toEqual({ apis: [], sourceIps: [], userAgents: [] });
        const history = await store.actorHistory({ kind: 'identity', arn: CHRISTOPHE }, ALL_TIME.toMs);
        const firstPoll = Math.min(...fixtureRecords(USER_DATA).filter((r) => r.eventName === 'DescribeInstances').map((r) => T(String(r.eventTime))));
        expect(firstPoll).toBeLessThan(horizon);
        expect(history.apis.find((a) => a.value.endsWith('DescribeInstances'))?.firstMs).toBe(firstPoll);
        expect(history.apis.map((a) => a.value)).not.toContain('ec2.amazonaws.com StopInstances');
        // Pruned strings can come back.
        expect(await indexFixtures(store, [PASSWORD_DATA])).toBe(34);
        expect(await store.queryEvents({ roleArns: [ROLE], ...ALL_TIME })).toHaveLength(30);
        expect((await store.prune({ indexedEventsBeforeMs: ALL_TIME.toMs })).indexedEvents).toBe(34 + 16);
        expect(await store.indexedTimeRange()).toEqual({ oldestMs: null, newestMs: null });
      });
    });

    it('a checkpoint writes its indexed events in the same transaction: all or nothing', async () => {
      const location = createLocation();
      const events = await indexedFixtureEvents(USER_DATA);
      const failing = await location.open({
        faults: {
          beforeCheckpointPart: (part) => {
            if (part === 'engineState') throw new Error('crash before the engine state');
          },
        },
      });
      await expect(failing.commitCheckpoint({ eventIds: [{ id: 'x', eventTimeMs: 1 }], indexedEvents: events, engineState: '{}' })).rejects.toThrow();
      expect(await failing.queryEvents({ ...ALL_TIME })).toEqual([]);
      await failing.close();
      const store = await location.open();
      try {
        await store.commitCheckpoint({ indexedEvents: events, engineState: '{}' });
        expect(await store.queryEvents({ ...ALL_TIME })).toHaveLength(35);
        const bad = { ...events[0], eventTimeMs: Number.NaN } as IndexedEvent;
        expect((await rejectionOf(store.commitCheckpoint({ indexedEvents: [events[1] as IndexedEvent, bad] }))).code).toBe('E_STATE_CHECKPOINT');
        expect((await rejectionOf(store.indexEvents([{ ...events[0], identityArn: 42 } as unknown as IndexedEvent]))).code).toBe('E_STATE_CHECKPOINT');
        expect(await store.queryEvents({ ...ALL_TIME })).toHaveLength(35);
      } finally {
        await store.close();
      }
    });

    it('keeps attacker-controlled strings byte for byte', async () => {
      await withStore(async (store) => {
        const [base] = await indexedFixtureEvents(USER_DATA);
        if (base === undefined) throw new Error('no event');
        const nasty = '\u001b[31m<!channel> `rm -rf /` \u202e\u0000 \ud83d\ude00 "quoted"';
        const record: JsonObject = { ...(JSON.parse(base.raw) as JsonObject), userAgent: nasty, eventID: 'nasty-1' };
        const event = indexedEventOf(record);
        await store.indexEvents([event as IndexedEvent]);
        const [found] = await store.queryEvents({ ...ALL_TIME, includeRaw: true });
        expect(found?.userAgent).toBe(nasty);
        expect(JSON.parse(found?.raw ?? 'null')).toEqual(record);
        const summary = await store.summarizeEvents({ ...ALL_TIME });
        expect(summary.userAgents[0]?.value).toBe(nasty);
      });
    });

    if (features.isDurable) {
      it('survives a reopen', async () => {
        const location = createLocation();
        const first = await location.open();
        await indexFixtures(first, [USER_DATA]);
        await first.close();
        const second = await location.open();
        try {
          expect(await second.queryEvents({ accessKeyIds: [CHRISTOPHE_KEY], ...ALL_TIME })).toHaveLength(35);
          expect(await second.indexEvents(await indexedFixtureEvents(USER_DATA))).toBe(0);
        } finally {
          await second.close();
        }
      });
    }

    it('answers like a plain filter over the events, for any events and query (property)', async () => {
      const base = (await indexedFixtureEvents(USER_DATA))[0];
      if (base === undefined) throw new Error('no event');
      const arns = ['arn:a', 'arn:b', 'arn:c'];
      const eventArb = fc.record({
        id: fc.integer({ min: 0, max: 40 }),
        t: fc.integer({ min: 0, max: 50 }),
        arn: fc.constantFrom(...arns, null),
        role: fc.constantFrom('role:x', 'role:y', null),
        instance: fc.constantFrom('i-1', 'i-2', null),
        error: fc.constantFrom('AccessDenied', null),
      });
      const queryArb = fc.record({
        identityArns: fc.subarray(arns),
        roleArns: fc.subarray(['role:x', 'role:y', 'role:z']),
        instanceIds: fc.subarray(['i-1', 'i-2']),
        fromMs: fc.integer({ min: 0, max: 50 }),
        span: fc.integer({ min: 0, max: 50 }),
        isErrorOnly: fc.boolean(),
        limit: fc.integer({ min: 0, max: 30 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(eventArb, { maxLength: 30 }), queryArb, async (specs, q) => {
          const events: IndexedEvent[] = specs.map((s) => ({
            ...base,
            eventId: `e${s.id}`,
            eventTimeMs: s.t,
            identityArn: s.arn,
            roleArn: s.role,
            instanceIds: s.instance === null ? [] : [s.instance],
            errorCode: s.error,
            raw: JSON.stringify({ eventID: `e${s.id}`, t: s.t }),
          }));
          const location = createLocation();
          const store = await location.open();
          try {
            await store.indexEvents(events);
            const query: EventQuery = { identityArns: q.identityArns, roleArns: q.roleArns, instanceIds: q.instanceIds, fromMs: q.fromMs, toMs: q.fromMs + q.span, isErrorOnly: q.isErrorOnly, limit: q.limit };
            const firstById = new Map<string, IndexedEvent>();
            for (const e of events) if (!firstById.has(e.eventId ?? '')) firstById.set(e.eventId ?? '', e);
            const isNamed = q.identityArns.length + q.roleArns.length + q.instanceIds.length > 0;
            const expected = [...firstById.values()]
              .map((e, order) => ({ e, order }))
              .filter(({ e }) => e.eventTimeMs >= q.fromMs && e.eventTimeMs < q.fromMs + q.span)
              .filter(({ e }) => !q.isErrorOnly || e.errorCode !== null)
              .filter(({ e }) => !isNamed || (e.identityArn !== null && q.identityArns.includes(e.identityArn)) || (e.roleArn !== null && q.roleArns.includes(e.roleArn)) || e.instanceIds.some((i) => q.instanceIds.includes(i)))
              .sort((a, b) => a.e.eventTimeMs - b.e.eventTimeMs || a.order - b.order)
              .slice(0, q.limit)
              .map(({ e }) => e.eventId);
            const found = await store.queryEvents(query);
            expect(found.map((e) => e.eventId)).toEqual(expected);
            // The store's own summary equals the summary of every matching event.
            const { limit: _limit, isErrorOnly: _errors, ...window } = query;
            const every = await store.queryEvents({ ...window, limit: 1000 });
            expect(await store.summarizeEvents(window)).toEqual(summarizeStoredEvents(every));
          } finally {
            await store.close();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
