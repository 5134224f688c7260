/**
 * The live runtime fills the event index (`trailhound investigate`): each step's records go into
 * the index in the step's checkpoint, repeats are not indexed twice, and pruning forgets indexed
 * events older than the retention (`--retain`) before the newest event time.
 */
import { describe, expect, it } from 'vitest';
import type { SignalChange, SignalSink } from '../sinks/sink.js';
import type { InputRecord } from '../sources/source.js';
import { createMemoryStateBacking, openMemoryStateStore } from '../store/memory-state-store.js';
import { builtinRules, fixtureRecords } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { openLiveRuntime } from './live.js';
import { createLiveMetrics } from './metrics.js';

const USER_DATA = fixtureRecords('stratus-detonation-logs/aws.execution.ec2-user-data.json');
const LATER = fixtureRecords('stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json');
const ALL_TIME = { fromMs: 0, toMs: Date.parse('2100-01-01T00:00:00Z') };

function inputs(records: readonly Rec[]): InputRecord[] {
  return records.map((value, index) => ({ value, text: JSON.stringify(value), origin: { source: 'test', index } }));
}

class NullSink implements SignalSink {
  readonly name = 'null';
  deliver(_changes: readonly SignalChange[]): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('the live runtime and the event index', () => {
  it('indexes every record of a step once, with the record text as read', async () => {
    const store = await openMemoryStateStore(createMemoryStateBacking());
    const runtime = await openLiveRuntime({ rules: builtinRules(), store, sinks: [{ key: 'null', sink: new NullSink() }], metrics: createLiveMetrics() });
    await runtime.processRecords(inputs(USER_DATA), { source: 'http' });
    await runtime.processRecords(inputs(USER_DATA.slice(0, 5)), { source: 'http' });
    const indexed = await store.queryEvents({ ...ALL_TIME, includeRaw: true });
    expect(indexed).toHaveLength(35);
    expect(new Set(indexed.map((e) => e.eventId))).toEqual(new Set(USER_DATA.map((r) => r.eventID)));
    expect(JSON.parse(indexed[0]?.raw ?? 'null')).toEqual(USER_DATA.find((r) => r.eventID === indexed[0]?.eventId));
    await runtime.close();
    await store.close();
  });

  it('prunes indexed events older than the retention before the newest event time', async () => {
    let now = Date.parse('2024-08-03T00:00:00Z');
    const store = await openMemoryStateStore(createMemoryStateBacking());
    const runtime = await openLiveRuntime({
      rules: builtinRules(),
      store,
      sinks: [{ key: 'null', sink: new NullSink() }],
      metrics: createLiveMetrics(),
      now: () => now,
      pruneIntervalMs: 1000,
      eventRetentionMs: 12 * 3_600_000,
    });
    await runtime.processRecords(inputs(USER_DATA), { source: 'http' });
    expect(await store.queryEvents({ ...ALL_TIME })).toHaveLength(35);
    now += 5000;
    // 2024-08-02T08:22Z: the user-data run (2024-08-01T12:04Z) is more than 12 h older.
    await runtime.processRecords(inputs(LATER), { source: 'http' });
    const left = await store.queryEvents({ ...ALL_TIME });
    expect(left).toHaveLength(LATER.length);
    expect(left.every((e) => e.eventTimeMs >= Date.parse('2024-08-02T08:00:00Z'))).toBe(true);
    await runtime.close();
    await store.close();
  });
});
