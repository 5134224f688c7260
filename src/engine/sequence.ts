/**
 * Sequence detection (Datadog's `sequence_detection` method): the steps of one group of a rule.
 * The engine (engine.ts) does everything around it as for threshold rules — index, dedup, groups,
 * the (time, key) evaluation order, the signal lifecycle — and hands each evaluated event of a
 * sequence group to its `SequenceTracker`, which says when the chain of steps completes.
 *
 * Semantics (docs/detection.md, "Sequence rules", says the same for users):
 *
 * - Steps. A rule has a linear chain of steps (`steps[0]` → … → the terminal step). A step has a
 *   condition over query counts (`stop_instance > 0`) and a window W (its `evaluationWindow`).
 *   Each transition from a step to the next has a window T: the child must happen at most T after
 *   the parent, in event time, and not before it; equal times count as in order.
 * - When a step happens. The entry step happens at an event e when its condition holds over the
 *   group's evaluated events with time in [e.time − W, e.time]. A later step happens at e when
 *   its parent happened at some time p with p ≤ e.time ≤ p + T and its condition holds over the
 *   events with time in [max(e.time − W, p), e.time]: only events at or after the parent count, so
 *   Modify → Stop → Start is not Stop → Modify → Start. Of several usable parent occurrences the
 *   latest that makes the condition hold is used. Only the events matching a query the step's
 *   condition names are counted; they are the events that "make up" the step. A step is tried at an
 *   event that matches one of its queries, or right after its parent happened at that same event,
 *   so a child whose events share the parent's second is found whatever the keys' order.
 * - Completion. When the terminal step happens, the chain is complete: the cases are tried in
 *   order with counts for step names (events making up the step) and for query names (the
 *   chain's events matching the query), and the first that holds raises or updates the group's
 *   signal, exactly as a threshold case does (docs/detection.md §6).
 * - Memory. A step occurrence is kept while its child can still follow (T), at most one per
 *   event time (the latest) and at most `MAX_FIRES_PER_STEP` per step; evaluated events are kept
 *   for the rule's horizon (Σ T + the longest W), beyond which no chain can reach them.
 *
 * Everything here is plain data or rebuilt from plain data (`toState` / `SequenceTracker.fromState`).
 */
import type { JsonObject, JsonValue, SignalActor } from '../core/types.js';
import type { CompiledCondition, CompiledRule, RuleCase } from '../rules/model.js';
import type { SequenceEntryState, SequenceFireState, SequenceGroupState } from './types.js';

/** The most occurrences of one step kept while waiting for the next step. */
export const MAX_FIRES_PER_STEP = 1024;

export interface SequencePlanStep {
  readonly name: string;
  /** Positions of the rule's queries the step's condition names. */
  readonly queries: readonly number[];
  /** By query position: true when the step's condition names the query. */
  readonly isOwnQuery: readonly boolean[];
  readonly condition: CompiledCondition;
  readonly windowMs: number;
}

/** A sequence rule compiled for the engine. */
export interface SequencePlan {
  /** In chain order. */
  readonly steps: readonly SequencePlanStep[];
  /** `transitionsMs[i]`: the longest wait from `steps[i]` to `steps[i + 1]`. */
  readonly transitionsMs: readonly number[];
  /** How long after its time an evaluated event can still take part in a chain. */
  readonly horizonMs: number;
  /** The rule's query names, by position. */
  readonly queryNames: readonly string[];
}

/** The plan of a `sequence_detection` rule, or null for any other rule. */
export function compileSequencePlan(rule: CompiledRule): SequencePlan | null {
  const options = rule.options.sequenceDetectionOptions;
  if (rule.options.detectionMethod !== 'sequence_detection' || options === undefined || options.steps.length === 0) return null;
  const queryNames = rule.queries.map((q) => q.name);
  const positions = new Map(queryNames.map((name, i) => [name, i]));
  const steps = options.steps.map((step): SequencePlanStep => {
    const queries = [...new Set(step.condition.queryNames.flatMap((name) => {
      const p = positions.get(name);
      return p === undefined ? [] : [p];
    }))];
    return {
      name: step.name,
      queries,
      isOwnQuery: queryNames.map((_, i) => queries.includes(i)),
      condition: step.condition,
      windowMs: step.evaluationWindow * 1000,
    };
  });
  const transitionsMs = steps.slice(1).map((_, i) => (options.stepTransitions[i]?.evaluationWindow ?? 0) * 1000);
  const horizonMs = transitionsMs.reduce((sum, t) => sum + t, 0) + Math.max(0, ...steps.map((s) => s.windowMs));
  return { steps, transitionsMs, horizonMs, queryNames };
}

/** An evaluated event of a sequence group. Structurally a window entry of the engine, plus its caller. */
export interface SequenceEntry {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  /** eventId, else key: what goes into `Signal.eventIds`. */
  readonly ref: string;
  /** Positions of the rule's queries the event matched. */
  readonly queries: readonly number[];
  readonly host: string | null;
  readonly arn: string | null;
  readonly sessionName: string | null;
  /** The signal the event joined, if any (kept up to date by the engine). */
  signalId: string | null;
}

/** A step that happened: the event at which its condition held, and the chain that led to it. */
interface StepFire<E extends SequenceEntry> {
  readonly step: number;
  readonly seq: number;
  readonly time: number;
  readonly key: string;
  /** For each step of the chain so far, the entries that made it up. */
  readonly chain: readonly (readonly E[])[];
}

/** A complete chain: for each step in chain order, the entries that made it up, in evaluation order. */
export interface SequenceCompletion<E extends SequenceEntry = SequenceEntry> {
  readonly steps: readonly (readonly E[])[];
}

interface Ordered {
  readonly seq: number;
  readonly time: number;
  readonly key: string;
}

/** The engine's evaluation order: time, then key, then arrival. */
function compareOrder(a: Ordered, b: Ordered): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.seq - b.seq;
}

function textAt(value: JsonValue | undefined, key: string): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) return null;
  const found = value[key];
  return typeof found === 'string' && found.length > 0 ? found : null;
}

/** The caller of an event: `userIdentity.arn` and the normaliser's `userIdentity.session_name`. */
export function actorOf(fields: JsonObject): SignalActor {
  const identity = Object.hasOwn(fields, 'userIdentity') ? fields.userIdentity : undefined;
  return { arn: textAt(identity, 'arn'), sessionName: textAt(identity, 'session_name') };
}

/**
 * The step state of one group of a sequence rule. `E` is the engine's own entry type (a window
 * entry with the caller added): the tracker hands the same objects back in completions.
 */
export class SequenceTracker<E extends SequenceEntry = SequenceEntry> {
  /** Evaluated entries in evaluation order. */
  private entries: E[] = [];
  /** Per non-terminal step, its occurrences in time order (one per time). */
  private readonly fires: StepFire<E>[][];

  constructor(private readonly plan: SequencePlan) {
    this.fires = plan.steps.slice(0, -1).map(() => []);
  }

  /** True when the group holds nothing any later event could use. */
  get isEmpty(): boolean {
    return this.entries.length === 0 && this.fires.every((list) => list.length === 0);
  }

  /**
   * Evaluate one event of the group (normally the latest in evaluation order): the completed
   * chain when the terminal step happens at it, else null. `onError` is called when a condition
   * throws (it then does not hold).
   */
  evaluate(entry: E, onError: () => void): SequenceCompletion<E> | null {
    const isLatest = this.insert(entry);
    if (isLatest) this.prune(entry.time, false);
    const { steps } = this.plan;
    // The occurrence of the previous step at THIS event, if it happened here.
    let justFired: StepFire<E> | null = null;
    let completion: SequenceCompletion<E> | null = null;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      if (step === undefined) break;
      const isOwn = entry.queries.some((q) => step.isOwnQuery[q] === true);
      // An event of the step may follow any earlier occurrence of the parent. Otherwise the step is
      // only worth trying right after its parent happened here, and only after that occurrence:
      // older ones were tried at the events that made up the step, and retrying them now would
      // move the step to a later time without any new event of its own.
      const chain: (readonly E[])[] | null = isOwn ? this.tryStep(i, entry, null, onError) : justFired !== null ? this.tryStep(i, entry, justFired, onError) : null;
      justFired = null;
      if (chain === null) continue;
      if (i === steps.length - 1) completion = { steps: chain };
      else justFired = this.recordFire(i, entry, chain);
    }
    return completion;
  }

  /** Forget what no event after `watermarkMs` can use. */
  sweep(watermarkMs: number): void {
    this.prune(watermarkMs, true);
  }

  /** Try step `i` at `entry`, after `onlyAfter` (an occurrence of its parent) or after any occurrence. */
  private tryStep(i: number, entry: E, onlyAfter: StepFire<E> | null, onError: () => void): (readonly E[])[] | null {
    const step = this.plan.steps[i];
    if (step === undefined) return null;
    if (i === 0) {
      const members = this.members(step, entry.time - step.windowMs, entry.time);
      return this.holds(step, members, onError) ? [members] : null;
    }
    const parents = onlyAfter !== null ? [onlyAfter] : (this.fires[i - 1] ?? []);
    const limit = this.plan.transitionsMs[i - 1] ?? 0;
    for (let k = parents.length - 1; k >= 0; k--) {
      const parent = parents[k];
      if (parent === undefined || parent.time > entry.time) continue;
      if (entry.time - parent.time > limit) break;
      const members = this.members(step, Math.max(entry.time - step.windowMs, parent.time), entry.time);
      if (this.holds(step, members, onError)) return [...parent.chain, members];
    }
    return null;
  }

  /** Entries with lower <= time <= upper that match one of the step's queries, in evaluation order. */
  private members(step: SequencePlanStep, lower: number, upper: number): E[] {
    const { entries } = this;
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((entries[mid]?.time ?? Infinity) < lower) lo = mid + 1;
      else hi = mid;
    }
    const out: E[] = [];
    for (let i = lo; i < entries.length; i++) {
      const entry = entries[i];
      if (entry === undefined || entry.time > upper) break;
      if (entry.queries.some((q) => step.isOwnQuery[q] === true)) out.push(entry);
    }
    return out;
  }

  private holds(step: SequencePlanStep, members: readonly SequenceEntry[], onError: () => void): boolean {
    const counts = step.queries.map(() => 0);
    for (const member of members) {
      for (const q of member.queries) {
        const at = step.queries.indexOf(q);
        if (at >= 0) counts[at] = (counts[at] ?? 0) + 1;
      }
    }
    const record = Object.fromEntries(step.queries.map((q, i) => [this.plan.queryNames[q] ?? '', counts[i] ?? 0]));
    try {
      return step.condition.holds(record) === true;
    } catch {
      onError();
      return false;
    }
  }

  /** Insert in evaluation order; true when the entry is the latest. */
  private insert(entry: E): boolean {
    const { entries } = this;
    const last = entries[entries.length - 1];
    if (last === undefined || compareOrder(last, entry) < 0) {
      entries.push(entry);
      return true;
    }
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = entries[mid];
      if (other !== undefined && compareOrder(other, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    entries.splice(lo, 0, entry);
    return false;
  }

  /** Keep an occurrence of a non-terminal step; returns it. */
  private recordFire(step: number, entry: Ordered, chain: readonly (readonly E[])[]): StepFire<E> {
    const fire: StepFire<E> = { step, seq: entry.seq, time: entry.time, key: entry.key, chain };
    const list = this.fires[step];
    if (list === undefined) return fire;
    let at = list.length;
    while (at > 0 && (list[at - 1]?.time ?? -Infinity) > entry.time) at--;
    const same = list[at - 1];
    // One occurrence per time is enough: a child only looks at the parent's time.
    if (same !== undefined && same.time === entry.time) {
      if (compareOrder(same, fire) < 0) list[at - 1] = fire;
    } else {
      list.splice(at, 0, fire);
    }
    if (list.length > MAX_FIRES_PER_STEP) list.splice(0, list.length - MAX_FIRES_PER_STEP);
    return fire;
  }

  /**
   * Drop entries older than the horizon and step occurrences older than their transition window,
   * as seen from `nowMs`. `isInclusive`: also drop what is exactly at the limit (nothing AFTER
   * `nowMs` can use it; the current event at `nowMs` still could).
   */
  private prune(nowMs: number, isInclusive: boolean): void {
    const isStale = (time: number, limitMs: number): boolean => (isInclusive ? time <= nowMs - limitMs : time < nowMs - limitMs);
    let drop = 0;
    while (drop < this.entries.length && isStale(this.entries[drop]?.time ?? Infinity, this.plan.horizonMs)) drop++;
    if (drop > 0) this.entries = this.entries.slice(drop);
    this.fires.forEach((list, i) => {
      const limit = this.plan.transitionsMs[i] ?? 0;
      let stale = 0;
      while (stale < list.length && isStale(list[stale]?.time ?? Infinity, limit)) stale++;
      if (stale > 0) list.splice(0, stale);
    });
  }

  // ----- state -------------------------------------------------------------------------------

  toState(): SequenceGroupState {
    const names = this.plan.queryNames;
    const entries: SequenceEntryState[] = this.entries.map((e) => ({
      seq: e.seq,
      time: e.time,
      key: e.key,
      ref: e.ref,
      queries: e.queries.map((q) => names[q] ?? ''),
      host: e.host,
      arn: e.arn,
      sessionName: e.sessionName,
      signalId: e.signalId,
    }));
    const fires: SequenceFireState[] = this.fires.flatMap((list) =>
      list.map((f) => ({ step: this.plan.steps[f.step]?.name ?? '', seq: f.seq, time: f.time, key: f.key, chain: f.chain.map((members) => members.map((m) => m.seq)) })),
    );
    return { entries, fires };
  }

  /**
   * Rebuild from `toState()`; `make` builds the engine's entry from a saved one and its query
   * positions. Queries, steps and entries the rule no longer has are dropped.
   */
  static fromState<E extends SequenceEntry>(plan: SequencePlan, state: SequenceGroupState, make: (saved: SequenceEntryState, queries: number[]) => E): SequenceTracker<E> {
    const tracker = new SequenceTracker<E>(plan);
    const positions = new Map(plan.queryNames.map((name, i) => [name, i]));
    const bySeq = new Map<number, E>();
    for (const e of state.entries) {
      const queries = e.queries.flatMap((name) => {
        const p = positions.get(name);
        return p === undefined ? [] : [p];
      });
      const entry = make(e, queries);
      tracker.insert(entry);
      bySeq.set(e.seq, entry);
    }
    const stepIndex = new Map(plan.steps.map((s, i) => [s.name, i]));
    for (const f of state.fires) {
      const step = stepIndex.get(f.step);
      if (step === undefined || step >= plan.steps.length - 1 || f.chain.length !== step + 1) continue;
      const chain: E[][] = [];
      let isComplete = true;
      for (const seqs of f.chain) {
        const members: E[] = [];
        for (const seq of seqs) {
          const member = bySeq.get(seq);
          if (member === undefined) isComplete = false;
          else members.push(member);
        }
        chain.push(members);
      }
      if (isComplete) tracker.recordFire(step, f, chain);
    }
    return tracker;
  }
}

// ----- from a completed chain to a signal ------------------------------------------------------

/** The distinct entries of a chain, in evaluation order. */
export function completionMembers<E extends SequenceEntry>(completion: SequenceCompletion<E>): E[] {
  const seen = new Set<E>();
  for (const members of completion.steps) for (const m of members) seen.add(m);
  return [...seen].sort(compareOrder);
}

/**
 * The counts case conditions read when a chain completes: each query name → the chain's events
 * matching it; each step name → the events that made up the step (a step name wins over a query
 * of the same name, as in Datadog, whose sequence cases name steps).
 */
export function sequenceCaseCounts(plan: SequencePlan, completion: SequenceCompletion): Record<string, number> {
  const counts = new Map<string, number>(plan.queryNames.map((name) => [name, 0]));
  for (const member of completionMembers(completion)) {
    for (const q of member.queries) {
      const name = plan.queryNames[q];
      if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  plan.steps.forEach((step, i) => counts.set(step.name, completion.steps[i]?.length ?? 0));
  return Object.fromEntries(counts);
}

/** The first case whose condition holds (a condition that throws does not hold; `onError` is told). */
export function firstHoldingSequenceCase(cases: readonly RuleCase[], counts: Readonly<Record<string, number>>, onError: () => void): RuleCase | undefined {
  for (const c of cases) {
    try {
      if (c.condition.holds(counts) === true) return c;
    } catch {
      onError();
    }
  }
  return undefined;
}

/** Add a chain's events to a signal's per-step event ids (sets keep first-seen order). */
export function addStepRefs(steps: Map<string, Set<string>>, plan: SequencePlan, completion: SequenceCompletion): void {
  plan.steps.forEach((step, i) => {
    let refs = steps.get(step.name);
    if (refs === undefined) {
      refs = new Set();
      steps.set(step.name, refs);
    }
    for (const member of completion.steps[i] ?? []) refs.add(member.ref);
  });
}

/** The key of an actor in a signal's actor map. */
export function actorKey(actor: SignalActor): string {
  return JSON.stringify([actor.arn, actor.sessionName]);
}

/** Add the callers of `entries` to a signal's actors (first appearance order, no duplicates). */
export function addActors(actors: Map<string, SignalActor>, entries: readonly SequenceEntry[]): void {
  for (const entry of entries) {
    if (entry.arn === null && entry.sessionName === null) continue;
    const actor: SignalActor = { arn: entry.arn, sessionName: entry.sessionName };
    const key = actorKey(actor);
    if (!actors.has(key)) actors.set(key, actor);
  }
}
