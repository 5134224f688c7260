/**
 * Builders for the live engine's tests: a rule set that exercises every way groups meet (signal
 * grouping, fan-out, new values aside), events made from REAL CloudTrail records normalised as
 * `scan` does, arrival orders with bounded lateness, and what a consumer of the changes ends up
 * holding. Only tests import this file; it is pure (the tests read the fixture and pass it in).
 */
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { compileQueryOrThrow } from '../query/compile.js';
import { compileCondition } from '../rules/condition.js';
import type { CompiledCondition, CompiledRule, RuleQuery } from '../rules/model.js';
import { createEngine } from './engine.js';
import { isSameJson } from './live-reconcile.js';
import type { LiveDetectionEngine } from './live-types.js';
import { ATTACK_QUERIES, T0, allPositive, atLeast, eventNameQuery, otherUser, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { AttackRecords } from './test-support.js';
import type { SignalChange } from './types.js';

export type Kind = 'stop' | 'modify' | 'start' | 'describe';
export const KINDS: readonly Kind[] = ['stop', 'modify', 'start', 'describe'];
export const USERS = ['christophe', 'alice'] as const;
export const INSTANCES = ['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'i-0ccccccccccccccc3'] as const;

function condition(text: string, names: readonly string[]): CompiledCondition {
  const compiled = compileCondition(text, names);
  if (!compiled.ok) throw new Error(`test condition does not compile: ${text}`);
  return compiled.value;
}

function query(name: string, text: string, groupByFields: readonly string[], hasGroupByFanOut = false): RuleQuery {
  return { name, query: compileQueryOrThrow(text), aggregation: 'count', groupByFields, distinctFields: [], hasOptionalGroupByFields: false, ...(hasGroupByFanOut ? { hasGroupByFanOut } : {}) };
}

/** Stop → user-data change → Start of one instance (fan-out over the target instances), as the companion rule. */
export function sequenceRule(id = 'live-sequence'): CompiledRule {
  const groupByFields = ['@target.instance_ids'];
  const queries = [
    query('stop', '@evt.name:StopInstances', groupByFields, true),
    query('modify', '@evt.name:ModifyInstanceAttribute', groupByFields, true),
    query('start', '@evt.name:StartInstances', groupByFields, true),
  ];
  const names = ['stopped', 'changed', 'started', 'stop', 'modify', 'start'];
  const base = thresholdRule({
    id,
    queries,
    groupByFields,
    cases: [ruleCase('', 'high', condition('started > 0', names))],
    options: {
      detectionMethod: 'sequence_detection',
      evaluationWindow: 0,
      keepAlive: 900,
      maxSignalDuration: 1800,
      sequenceDetectionOptions: {
        steps: [
          { name: 'stopped', condition: condition('stop > 0', names), evaluationWindow: 600 },
          { name: 'changed', condition: condition('modify > 0', names), evaluationWindow: 600 },
          { name: 'started', condition: condition('start > 0', names), evaluationWindow: 600 },
        ],
        stepTransitions: [
          { parent: 'stopped', child: 'changed', evaluationWindow: 600 },
          { parent: 'changed', child: 'started', evaluationWindow: 600 },
        ],
      },
    },
  });
  return { ...base, hasGroupByFanOut: true };
}

/** Rules covering threshold escalation, a rule-wide group, optional group-by, signal grouping, fan-out, a sequence and new values. */
export function liveRules(): CompiledRule[] {
  return [
    thresholdRule({
      cases: [
        ruleCase('two starts', 'high', {
          text: 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance >= 2',
          queryNames: ['stop_instance', 'modify_instance_attribute', 'start_instance'],
          holds: (c) => (c.stop_instance ?? 0) > 0 && (c.modify_instance_attribute ?? 0) > 0 && (c.start_instance ?? 0) >= 2,
        }),
        ruleCase('attack', 'low', allPositive(['stop_instance', 'modify_instance_attribute', 'start_instance'])),
      ],
      options: { keepAlive: 600, maxSignalDuration: 1800 },
    }),
    thresholdRule({
      id: 'busy-account',
      groupByFields: [],
      queries: [ruleQuery('any', eventNameQuery(['StopInstances', 'StartInstances', 'ModifyInstanceAttribute']), []), ...ATTACK_QUERIES.slice(2).map((q) => ({ ...q, groupByFields: [] }))],
      cases: [ruleCase('many', 'medium', atLeast('any', 4)), ruleCase('some', 'info', atLeast('any', 2))],
      options: { evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 900 },
    }),
    thresholdRule({
      id: 'optional-host',
      groupByFields: ['host'],
      hasOptionalGroupByFields: true,
      queries: [ruleQuery('poll', eventNameQuery(['DescribeInstances']), ['host'], true)],
      cases: [ruleCase('polling', 'low', atLeast('poll', 2))],
      options: { evaluationWindow: 300, keepAlive: 0, maxSignalDuration: 300 },
    }),
    {
      ...thresholdRule({
        id: 'starts-per-caller-and-instance',
        groupByFields: ['@userIdentity.arn', '@target.instance_ids'],
        queries: [query('start', '@evt.name:StartInstances', ['@userIdentity.arn', '@target.instance_ids'], true)],
        cases: [ruleCase('start', 'low', atLeast('start', 1))],
        options: { evaluationWindow: 600, keepAlive: 300, maxSignalDuration: 1200 },
      }),
      hasGroupByFanOut: true,
      groupSignalsBy: ['@userIdentity.arn'],
    },
    sequenceRule(),
    // new_value: a caller new to an API (after the rule's first event), one signal per alert.
    thresholdRule({
      id: 'new-caller-per-api',
      groupByFields: ['@evt.name'],
      queries: [{ ...ruleQuery('caller', eventNameQuery(['StopInstances', 'StartInstances', 'ModifyInstanceAttribute']), ['@evt.name']), aggregation: 'new_value', metrics: ['@userIdentity.arn'] }],
      cases: [ruleCase('new caller', 'info', { text: '', queryNames: [], holds: () => true })],
      options: { detectionMethod: 'new_value', evaluationWindow: 0, keepAlive: 0, maxSignalDuration: 0, newValueOptions: { learningDuration: 0, forgetAfter: 1, learningMethod: 'duration', learningThreshold: 0 } },
    }),
  ];
}

/** What one generated event is made of. */
export interface EventSpec {
  readonly kind: number;
  readonly user: number;
  /** Seconds after T0. */
  readonly second: number;
  readonly hasId: boolean;
  /** Bit set over INSTANCES: the instances the call names (at least one is used). */
  readonly instances: number;
}

/** A normalised event from a copy of a real record: re-timed, re-identified, another caller and instance set. */
export function liveEvent(records: AttackRecords, spec: EventSpec, index: number): TrailEvent {
  const kind = KINDS[spec.kind] ?? 'start';
  const base = records[kind];
  const instances = INSTANCES.filter((_, i) => (spec.instances & (1 << i)) !== 0);
  const chosen = instances.length > 0 ? instances : [INSTANCES[0]];
  const target: JsonObject =
    kind === 'modify'
      ? { requestParameters: { instanceId: chosen[0] ?? '', userData: '<sensitiveDataRemoved>' } }
      : kind === 'describe'
        ? {}
        : { requestParameters: { instancesSet: { items: chosen.map((instanceId) => ({ instanceId })) } } };
  const record: JsonObject = {
    ...structuredClone(base),
    ...otherUser(base, USERS[spec.user] ?? 'christophe'),
    ...target,
    eventTime: new Date(T0 + spec.second * 1000).toISOString(),
    ...(spec.hasId ? { eventID: `e-${index}` } : {}),
  };
  if (!spec.hasId) delete record.eventID;
  const normalised = normaliseRecord(record, { source: 'test', index });
  if (!normalised.ok) throw new Error(`the test record does not normalise: ${normalised.message}`);
  return normalised.event;
}

/** The batch engine's signals for the events (any order gives the same). */
export function batchSignals(rules: readonly CompiledRule[], events: readonly TrailEvent[]): Signal[] {
  const engine = createEngine(rules);
  for (const e of events) engine.ingest(e);
  engine.finish();
  return engine.signals();
}

/**
 * An arrival order in which no event is later than the lateness: event i arrives at
 * `time + delaysMs[i]` (delays below the lateness), ties in input order.
 */
export function arrivalOrder(events: readonly TrailEvent[], delaysMs: readonly number[]): TrailEvent[] {
  return events
    .map((event, i) => ({ event, at: event.time + (delaysMs[i] ?? 0), i }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.event);
}

/** What a sink that keeps the latest line per id holds, and what it saw on the way. */
export class ChangeSink {
  readonly latest = new Map<string, Signal>();

  /** The latest versions, without the withdrawn ones (`replacedBy`). */
  get current(): Signal[] {
    return [...this.latest.values()].filter((s) => s.replacedBy === undefined);
  }

  /** The withdrawn ones. */
  get withdrawn(): Signal[] {
    return [...this.latest.values()].filter((s) => s.replacedBy !== undefined);
  }

  readonly created: string[] = [];
  /** Updates received for an id never created before (must stay empty). */
  readonly orphanUpdates: string[] = [];
  readonly stream: SignalChange[] = [];

  take(changes: readonly SignalChange[]): void {
    for (const change of changes) {
      this.stream.push(change);
      if (change.kind === 'created') this.created.push(change.signal.id);
      else if (!this.latest.has(change.signal.id)) this.orphanUpdates.push(change.signal.id);
      this.latest.set(change.signal.id, change.signal);
    }
  }
}

/** Feed `arrival` to the live engine in batches of the given sizes (cycled), processing after each; then finish. */
export function runLive(engine: LiveDetectionEngine, arrival: readonly TrailEvent[], batchSizes: readonly number[], sink = new ChangeSink()): ChangeSink {
  let i = 0;
  let b = 0;
  while (i < arrival.length) {
    const size = Math.max(1, batchSizes.length > 0 ? (batchSizes[b++ % batchSizes.length] ?? 1) : arrival.length);
    for (const e of arrival.slice(i, i + size)) engine.ingest(e);
    i += size;
    sink.take(engine.process());
  }
  sink.take(engine.finish());
  return sink;
}

/** A signal without its id, for comparing content. */
export function withoutId(signal: Signal): Omit<Signal, 'id'> {
  const { id: _id, ...rest } = signal;
  return rest;
}

/**
 * Pair the sink's final signals with the batch signals: first by equal id and content, then by equal
 * content. Returns the unpaired ones on each side and how many pairs differ in id.
 */
export function pairWithBatch(emitted: readonly Signal[], batch: readonly Signal[]): { unpairedEmitted: Signal[]; unpairedBatch: Signal[]; renamed: number } {
  const left = [...emitted];
  const right = [...batch];
  let renamed = 0;
  const same = (a: Signal, b: Signal): boolean => isSameJson(withoutId(a), withoutId(b));
  for (const pass of ['id', 'content'] as const) {
    for (let i = left.length - 1; i >= 0; i--) {
      const a = left[i];
      if (!a) continue;
      const j = right.findIndex((b) => same(a, b) && (pass === 'content' || a.id === b.id));
      if (j < 0) continue;
      if (pass === 'content') renamed++;
      left.splice(i, 1);
      right.splice(j, 1);
    }
  }
  return { unpairedEmitted: left, unpairedBatch: right, renamed };
}
