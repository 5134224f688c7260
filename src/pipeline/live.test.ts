import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import type { SignalChange, SignalSink } from '../sinks/sink.js';
import type { InputRecord } from '../sources/source.js';
import { createMemoryStateBacking, openMemoryStateStore } from '../store/memory-state-store.js';
import type { MemoryStateBacking } from '../store/memory-state-store.js';
import type { CheckpointPart } from '../store/state-store.js';
import { builtinRules, detect } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { attackRecords } from '../../test/support/live-fixtures.js';
import { openLiveRuntime, PoisonObjectError } from './live.js';
import type { LiveObject, LiveProblem, LiveRuntime } from './live.js';
import { createLiveMetrics } from './metrics.js';

const rules = builtinRules();
const attack = attackRecords();
/** What the batch engine raises for the attack: rule id → signal ids. */
const expected = byRule(detect(attack, rules));

function byRule(signals: readonly Signal[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const s of signals) (out[s.ruleId] ??= new Set()).add(s.id);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

/** A sink that keeps what it is given, and can be told to fail. */
class MemorySink implements SignalSink {
  readonly name = 'memory';
  readonly changes: SignalChange[] = [];
  isFailing = false;
  deliver(changes: readonly SignalChange[]): Promise<void> {
    if (this.isFailing) return Promise.reject(new TrailhoundError('E_SINK_WRITE', 'the disk is full'));
    this.changes.push(...changes);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Harness {
  readonly runtime: LiveRuntime;
  readonly sink: MemorySink;
  readonly problems: LiveProblem[];
  readonly metrics: ReturnType<typeof createLiveMetrics>;
  readonly backing: MemoryStateBacking;
  close(): Promise<void>;
}

async function open(options: { backing?: MemoryStateBacking; sink?: MemorySink; failBefore?: (part: CheckpointPart) => boolean } = {}): Promise<Harness> {
  const backing = options.backing ?? createMemoryStateBacking();
  const store = await openMemoryStateStore(backing, {
    ...(options.failBefore
      ? {
          faults: {
            beforeCheckpointPart: (part: CheckpointPart) => {
              if (options.failBefore?.(part) === true) throw new TrailhoundError('E_STATE_WRITE', 'disk full (injected)');
            },
          },
        }
      : {}),
  });
  const sink = options.sink ?? new MemorySink();
  const problems: LiveProblem[] = [];
  const metrics = createLiveMetrics();
  const runtime = await openLiveRuntime({ rules, store, sinks: [{ key: 'memory', sink }], metrics, onProblem: (p) => problems.push(p) });
  return {
    runtime,
    sink,
    problems,
    metrics,
    backing,
    async close() {
      await runtime.close({ drainTimeoutMs: 1000 });
      await store.close();
    },
  };
}

function inputs(records: readonly Rec[], source = 'test'): InputRecord[] {
  return records.map((value, index) => ({ value, text: JSON.stringify(value), origin: { source, index } }));
}

function object(name: string, bytes: Uint8Array | (() => Promise<AsyncIterable<Uint8Array>>)): LiveObject {
  return {
    done: { source: 's3://bucket', key: name, etag: 'etag' },
    location: `s3://bucket/${name}`,
    open: typeof bytes === 'function' ? bytes : () => Promise.resolve(Readable.from([bytes]) as AsyncIterable<Uint8Array>),
  };
}

const logBody = (records: readonly Rec[]): Buffer => gzipSync(JSON.stringify({ Records: records }));

describe('the checkpoint protocol of one step', () => {
  it('commits the changes with the engine state, delivers them, and empties the outbox', async () => {
    const h = await open();
    await h.runtime.processRecords(inputs(attack), { source: 'http' });
    expect(byRule(h.sink.changes.map((c) => c.signal))).toEqual(expected);
    expect(h.backing.data.outbox.get('memory')?.size ?? 0).toBe(0);
    expect(h.backing.data.engineState).toBeDefined();
    expect(h.backing.data.changes.size).toBe(h.sink.changes.length);
    expect(h.metrics.signalsCreated.get()).toBe(Object.values(expected).flat().length);
    await h.close();
  });

  it.each([['objects'], ['eventIds'], ['engineState'], ['signals'], ['commit']] as const)(
    'a commit failing before its %s part changes nothing: the retry gives the same signals, once',
    async (part) => {
      let failures = 1;
      const h = await open({ failBefore: (at) => at === part && failures-- > 0 });
      await expect(h.runtime.processObjects('s3', [object('a.json.gz', logBody(attack))], 'reject')).rejects.toThrow(/disk full/);
      expect(h.sink.changes).toEqual([]);
      expect(await h.runtime.isObjectDone({ source: 's3://bucket', key: 'a.json.gz', etag: 'etag' })).toBe(false);
      await h.runtime.processObjects('s3', [object('a.json.gz', logBody(attack))], 'reject');
      expect(byRule(h.sink.changes.map((c) => c.signal))).toEqual(expected);
      expect(h.sink.changes.filter((c) => c.kind === 'created')).toHaveLength(Object.values(expected).flat().length);
      expect(h.runtime.fatalError).toBeUndefined();
      await h.close();
    },
  );

  it('a failing sink is fatal: the step and every later one reject, and the next start delivers what is in the outbox', async () => {
    const backing = createMemoryStateBacking();
    const sink = new MemorySink();
    sink.isFailing = true;
    const h = await open({ backing, sink });
    await expect(h.runtime.processRecords(inputs(attack), { source: 'http' })).rejects.toThrow(/disk is full/);
    expect(await h.runtime.fatal).toBeInstanceOf(Error);
    await expect(h.runtime.processRecords(inputs(attack.slice(0, 1)), { source: 'http' })).rejects.toThrow(/disk is full/);
    await h.close();
    sink.isFailing = false;
    const restarted = await open({ backing, sink });
    expect(restarted.runtime.stats.changesRedelivered).toBe(Object.values(expected).flat().length);
    expect(byRule(sink.changes.map((c) => c.signal))).toEqual(expected);
    expect(backing.data.outbox.get('memory')?.size ?? 0).toBe(0);
    await restarted.close();
  });

  it('drops eventIDs seen in an earlier step or earlier in the same step', async () => {
    const h = await open();
    await h.runtime.processRecords(inputs([...attack.slice(0, 10), ...attack.slice(0, 10)]), { source: 'http' });
    expect(h.runtime.stats.duplicateRecords).toBe(10);
    await h.runtime.processRecords(inputs(attack), { source: 'http' });
    expect(h.runtime.stats.duplicateRecords).toBe(20);
    expect(h.runtime.stats.events).toBe(attack.length);
    expect(byRule(h.sink.changes.map((c) => c.signal))).toEqual(expected);
    await h.close();
  });

  it('records a Firehose request in its checkpoint and skips it when it comes again', async () => {
    const h = await open();
    await h.runtime.processRecords(inputs(attack), { source: 'firehose', requestId: 'req-1' });
    expect(await h.runtime.isRequestDone('req-1')).toBe(true);
    const delivered = h.sink.changes.length;
    await h.runtime.processRecords(inputs(attack), { source: 'firehose', requestId: 'req-1' });
    expect(h.runtime.stats.steps).toBe(1);
    expect(h.sink.changes).toHaveLength(delivered);
    await h.close();
  });

  it('counts records that do not normalise as bad and reports them, and processes the rest', async () => {
    const h = await open();
    const broken = { ...attack[0], eventTime: 'yesterday' };
    await h.runtime.processRecords(inputs([broken, ...attack.slice(1)]), { source: 'http' });
    expect(h.metrics.recordsBad.get({ source: 'http' })).toBe(1);
    expect(h.problems.map((p) => p.code)).toEqual(['E_RECORD_BAD_TIME']);
    expect(h.runtime.stats.events).toBe(attack.length - 1);
    await h.close();
  });
});

describe('poison objects', () => {
  const corrupt = logBody(attack).subarray(0, 40);
  const unreachable = (): Promise<AsyncIterable<Uint8Array>> => Promise.reject(new TrailhoundError('E_S3_GET', 'cannot read: AccessDenied'));

  it.each([
    { name: 'truncated gzip', open: corrupt as Uint8Array | (() => Promise<AsyncIterable<Uint8Array>>), skipIsDone: true },
    { name: 'not CloudTrail at all', open: Buffer.from('<html>hello</html>'), skipIsDone: true },
    { name: 'an object that cannot be fetched', open: unreachable, skipIsDone: false },
  ])('$name: rejected whole with "reject", reported; with "skip" the good objects go on', async ({ open: bytes, skipIsDone }) => {
    const h = await open();
    const good = object('good.json.gz', logBody(attack));
    const bad = object('bad.json.gz', bytes);
    await expect(h.runtime.processObjects('sqs', [good, bad], 'reject')).rejects.toBeInstanceOf(PoisonObjectError);
    expect(h.sink.changes).toEqual([]);
    expect(await h.runtime.isObjectDone(good.done)).toBe(false);
    expect(h.problems.some((p) => p.code === 'E_LIVE_POISON' && p.source === bad.location)).toBe(true);
    const outcome = await h.runtime.processObjects('s3', [good, bad], 'skip');
    expect(outcome).toMatchObject({ processed: 1, skipped: 0 });
    expect(outcome.poisoned.map((p) => p.location)).toEqual([bad.location]);
    expect(await h.runtime.isObjectDone(bad.done)).toBe(skipIsDone);
    expect(byRule(h.sink.changes.map((c) => c.signal))).toEqual(expected);
    expect(h.metrics.objectsFailed.get({ source: 'sqs' }) + h.metrics.objectsFailed.get({ source: 's3' })).toBe(2);
    await h.close();
  });
});

describe('restarts', () => {
  it('a runtime opened on the same store continues the sequence the previous one started', async () => {
    const backing = createMemoryStateBacking();
    const sink = new MemorySink();
    const first = await open({ backing, sink });
    await first.runtime.processRecords(inputs(attack.slice(0, 12)), { source: 'http' });
    await first.close();
    expect(sink.changes).toEqual([]);
    const second = await open({ backing, sink });
    await second.runtime.processRecords(inputs(attack.slice(12)), { source: 'http' });
    expect(byRule(sink.changes.map((c) => c.signal))).toEqual(expected);
    await second.close();
  });

  it('the attack cut into any steps arriving in any order raises the same signals as scan, each created once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: attack.length - 1 }), { maxLength: 6 }), fc.infiniteStream(fc.nat()), fc.boolean(), async (cuts, randoms, isRestarting) => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), attack.length];
        const chunks = bounds.slice(1).map((end, i) => attack.slice(bounds[i], end));
        // A random arrival order (Fisher–Yates driven by the stream).
        const order = chunks.map((_, i) => i);
        const it = randoms[Symbol.iterator]();
        for (let i = order.length - 1; i > 0; i--) {
          const j = (it.next().value ?? 0) % (i + 1);
          [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
        }
        const backing = createMemoryStateBacking();
        const sink = new MemorySink();
        let h = await open({ backing, sink });
        for (const [n, index] of order.entries()) {
          await h.runtime.processRecords(inputs(chunks[index] ?? []), { source: 'http' });
          if (isRestarting && n % 2 === 0) {
            await h.close();
            h = await open({ backing, sink });
          }
        }
        await h.close();
        expect(byRule(sink.changes.map((c) => c.signal))).toEqual(expected);
        expect(sink.changes.filter((c) => c.kind === 'created')).toHaveLength(Object.values(expected).flat().length);
      }),
      { numRuns: 25 },
    );
  });
});
