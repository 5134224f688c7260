/**
 * Datadog's `groupSignalsBy`: "additional grouping … on top of the existing groups in the query
 * section. Must be a subset of the existing groups."
 *
 * Events are still counted, and cases still evaluated, per group (all the group-by fields). What
 * changes is which signal a group's case feeds: every group with the same values of the
 * `groupSignalsBy` fields shares ONE open signal, so a signal collects its sub-groups. With
 * `groupByFields: [@userIdentity.arn, @requestParameters.instanceId]` and
 * `groupSignalsBy: [@userIdentity.arn]`, the cases hold per (caller, instance), and each caller gets
 * one signal listing the events of all its instances.
 *
 * The engine keeps the open signal of a group in `group.open`; for such a rule that property is
 * made to read and write a slot shared by the groups of one signal group (`shareOpenSignal`), so
 * the rest of the lifecycle (close, update, create, snapshot) is unchanged. Pure.
 */
import { groupKeyOf } from './group.js';

export interface SignalGrouping {
  /** The groupSignalsBy fields, in the order of the rule's group-by fields. */
  readonly fields: readonly string[];
  /** Their positions in the rule's group-by fields. */
  readonly positions: readonly number[];
}

/**
 * The signal grouping of a rule, or null when signals are grouped by every group-by field (no
 * `groupSignalsBy`, an empty one, or one naming every field). Fields that are not group-by fields
 * are ignored (the loader refuses them).
 */
export function compileSignalGrouping(groupByFields: readonly string[], groupSignalsBy: readonly string[] | undefined): SignalGrouping | null {
  if (groupSignalsBy === undefined || groupSignalsBy.length === 0) return null;
  const positions: number[] = [];
  groupByFields.forEach((field, i) => {
    if (groupSignalsBy.includes(field)) positions.push(i);
  });
  if (positions.length === groupByFields.length) return null;
  return { fields: positions.map((i) => groupByFields[i] ?? ''), positions };
}

/** The values of the signal group of a group (its group values at the grouping's positions). */
export function signalGroupValues(grouping: SignalGrouping, groupValues: readonly string[]): string[] {
  return grouping.positions.map((i) => groupValues[i] ?? '');
}

/** The open signal shared by the groups of one signal group. */
export interface SignalSlot<T> {
  open: T | null;
}

/** Make `holder.open` read and write `slot.open`. */
export function shareOpenSignal<T>(holder: { open: T | null }, slot: SignalSlot<T>): void {
  Object.defineProperty(holder, 'open', {
    get: () => slot.open,
    set: (value: T | null) => {
      slot.open = value;
    },
    enumerable: true,
    configurable: true,
  });
}

/** The shared slots of every rule with a signal grouping, by rule and signal group. */
export class SignalSlots<R, T> {
  private readonly byRule = new Map<R, Map<string, SignalSlot<T>>>();

  /** The slot of a signal group, created empty on first use. */
  slotFor(rule: R, values: readonly string[]): SignalSlot<T> {
    let slots = this.byRule.get(rule);
    if (!slots) {
      slots = new Map();
      this.byRule.set(rule, slots);
    }
    const key = groupKeyOf(values);
    let slot = slots.get(key);
    if (!slot) {
      slot = { open: null };
      slots.set(key, slot);
    }
    return slot;
  }

  /**
   * Forget the slots of `rule` that no live group uses (`liveValues`: the signal group values of
   * the rule's remaining groups). A slot with an open signal always has a live group, because a
   * group with an open signal is never dropped.
   */
  retain(rule: R, liveValues: Iterable<readonly string[]>): void {
    const slots = this.byRule.get(rule);
    if (!slots) return;
    const live = new Set<string>();
    for (const values of liveValues) live.add(groupKeyOf(values));
    for (const key of [...slots.keys()]) if (!live.has(key)) slots.delete(key);
    if (slots.size === 0) this.byRule.delete(rule);
  }

  clear(): void {
    this.byRule.clear();
  }

  /** Slots held, for tests. */
  get size(): number {
    let n = 0;
    for (const slots of this.byRule.values()) n += slots.size;
    return n;
  }
}
