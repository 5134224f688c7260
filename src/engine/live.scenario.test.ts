/**
 * The built-in rule pack in live mode on the real Stratus run of the EC2 user-data attack,
 * delivered the way CloudTrail delivers: in files, minutes late, out of order. The flagship
 * bd9-8o0-553 (threshold, per caller) and its companion (sequence, per target instance) must raise
 * their signal once, as `scan` does on the same records, when the attack's files arrive 40 minutes
 * late and the StopInstances last — and with a snapshot/restore (a kill -9) in the middle.
 */
import { describe, expect, it } from 'vitest';
import type { TrailEvent } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { builtinRules, stratusAttack, variant } from '../../test/support/detect.js';
import type { Rec } from '../../test/support/detect.js';
import { createLiveEngine, restoreLiveEngine } from './live.js';
import { ChangeSink, batchSignals } from './live-test-support.js';
import type { LiveDetectionEngine, LiveEngineState } from './live-types.js';

const FLAGSHIP = 'bd9-8o0-553';
const COMPANION = 'aws-ec2-user-data-modified-then-started';
const MINUTE = 60_000;
const rules = builtinRules();

function normalised(records: readonly Rec[]): TrailEvent[] {
  return records.map((record, index) => {
    const n = normaliseRecord(record, { source: 's3://trail/AWSLogs/309303190113/CloudTrail/…', index });
    if (!n.ok) throw new Error(`a fixture record does not normalise: ${n.message}`);
    return n.event;
  });
}

const attack = stratusAttack();
const polls = attack.all.filter((r) => r.eventName === 'DescribeInstances');
const isAttackCall = (r: Rec): boolean => r.eventName !== 'DescribeInstances';
/** The caller keeps polling the instance once a minute until 13:30 (copies of a real poll, re-timed). */
const later = Array.from({ length: 86 }, (_, i) =>
  variant(polls[0] ?? attack.stop, { eventTime: new Date(Date.parse('2024-08-01T12:05:00Z') + i * MINUTE).toISOString() }, `poll-${i}`),
);
const timeOf = (r: Rec): number => Date.parse(String(r.eventTime));

/** A delivered file: its records, and when it arrives (its place in the delivery order). */
interface File {
  readonly name: string;
  readonly records: readonly Rec[];
  readonly arrivesAtMs: number;
}

/** Five-minute files of the later polls, each arriving 5 minutes after its end. */
const pollFiles: File[] = Array.from({ length: 18 }, (_, i) => {
  const start = Date.parse('2024-08-01T12:05:00Z') + i * 5 * MINUTE;
  return { name: `polls-${i}`, records: later.filter((r) => timeOf(r) >= start && timeOf(r) < start + 5 * MINUTE), arrivesAtMs: start + 10 * MINUTE };
});

/** The attack's records split into files, each arriving `delayMinutes` after its newest record (+ `extra`). */
function attackFiles(parts: readonly (readonly [string, (r: Rec) => boolean, number])[], delayMinutes: number): File[] {
  return parts.map(([name, pick, extraMinutes]) => {
    const records = attack.all.filter(pick);
    return { name, records, arrivesAtMs: Math.max(...records.map(timeOf)) + (delayMinutes + extraMinutes) * MINUTE };
  });
}

const DELIVERIES: readonly (readonly [string, File[]])[] = [
  ['the attack in one file, 40 minutes late', attackFiles([['attack', () => true, 0]], 40)],
  [
    'Modify and Start 40 minutes late, the StopInstances 6 minutes after them',
    attackFiles(
      [
        ['modify-start', (r) => r.eventName === 'ModifyInstanceAttribute' || r.eventName === 'StartInstances' || (r.eventName === 'DescribeInstances' && timeOf(r) >= timeOf(attack.modify)), 0],
        ['stop', (r) => r.eventName === 'StopInstances' || (r.eventName === 'DescribeInstances' && timeOf(r) < timeOf(attack.modify)), 6],
      ],
      40,
    ),
  ],
  [
    'each call in its own file, 40 minutes late, newest first',
    attackFiles(
      [
        ['start', (r) => r.eventName === 'StartInstances', 0],
        ['modify', (r) => r.eventName === 'ModifyInstanceAttribute', 2],
        ['stop', (r) => r.eventName === 'StopInstances', 5],
        ['polls', (r) => !isAttackCall(r), 7],
      ],
      40,
    ),
  ],
];

function deliveryOrder(files: readonly File[]): File[] {
  return [...files, ...pollFiles].sort((a, b) => a.arrivesAtMs - b.arrivesAtMs || a.name.localeCompare(b.name));
}

/** Deliver file by file, processing after each; optionally snapshot → JSON → restore after file `killAfter`. */
function deliver(files: readonly File[], options: { allowedLatenessMs?: number; killAfter?: string } = {}): { sink: ChangeSink; engine: LiveDetectionEngine } {
  const engineOptions = options.allowedLatenessMs === undefined ? {} : { allowedLatenessMs: options.allowedLatenessMs };
  let engine = createLiveEngine(rules, engineOptions);
  const sink = new ChangeSink();
  for (const file of deliveryOrder(files)) {
    for (const event of normalised(file.records)) engine.ingest(event);
    sink.take(engine.process());
    if (file.name === options.killAfter) engine = restoreLiveEngine(rules, JSON.parse(JSON.stringify(engine.snapshot())) as LiveEngineState, engineOptions);
  }
  sink.take(engine.finish());
  return { sink, engine };
}

const everything = normalised([...attack.all, ...later]);
const scan = batchSignals(rules, everything);

describe('the real attack delivered late and out of order raises what scan raises', () => {
  it('scan itself raises one flagship and one companion signal on these records (the baseline is not empty)', () => {
    expect(scan.filter((s) => s.ruleId === FLAGSHIP)).toHaveLength(1);
    expect(scan.filter((s) => s.ruleId === COMPANION)).toHaveLength(1);
  });

  it.each(DELIVERIES)('%s: every signal is created once and ends as scan gives it', (_name, files) => {
    const { sink, engine } = deliver(files);
    expect(sink.current).toEqual(scan);
    expect(sink.withdrawn).toEqual([]);
    for (const rule of [FLAGSHIP, COMPANION]) {
      const created = sink.stream.filter((c) => c.kind === 'created' && c.signal.ruleId === rule);
      expect(created).toHaveLength(1);
    }
    expect(new Set(sink.created).size).toBe(sink.created.length);
    expect(engine.stats.lateEvents).toBe(0);
    expect(engine.stats.outOfOrderEvents).toBeGreaterThan(0);
  });

  it.each(DELIVERIES)('%s, with the process killed and restored from its JSON state after the first attack file: the same stream of changes', (_name, files) => {
    const first = [...files].sort((a, b) => a.arrivesAtMs - b.arrivesAtMs)[0]?.name;
    const uninterrupted = deliver(files).sink.stream;
    expect(deliver(files, { ...(first === undefined ? {} : { killAfter: first }) }).sink.stream).toEqual(uninterrupted);
  });

  it('with an allowed lateness of 30 minutes the StopInstances is too late: counted, and still evaluated against what is kept', () => {
    const files = DELIVERIES[1]?.[1] ?? [];
    const { sink, engine } = deliver(files, { allowedLatenessMs: 30 * MINUTE });
    // The Stop file arrives when the newest event is 12:39: the watermark (12:09) has passed it.
    expect(engine.stats.tooLateEvents).toBeGreaterThanOrEqual(1);
    expect(engine.stats.lateEvents).toBeGreaterThanOrEqual(engine.stats.tooLateEvents);
    // The flagship's group still holds the Modify and the Start: the late Stop completes the case.
    const flagship = sink.current.filter((s) => s.ruleId === FLAGSHIP);
    expect(flagship.map((s) => [...s.eventIds].sort())).toEqual(scan.filter((s) => s.ruleId === FLAGSHIP).map((s) => [...s.eventIds].sort()));
    expect(sink.created).toHaveLength(new Set(sink.created).size);
  });
});
