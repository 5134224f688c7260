/**
 * Mapping replayed signals to the ids already emitted: kept mappings, overlap, ties, final signals
 * never claimed, fresh ids, orphans and what replaces them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { assignEmittedIds, freshId, isSameJson, replacementsOf } from './live-reconcile.js';
import type { TrackedSignal } from './live-reconcile.js';

function signal(id: string, eventIds: readonly string[], firstSeen = '2024-08-01T12:00:00.000Z'): Signal {
  return {
    id,
    ruleId: 'r',
    ruleName: 'rule',
    severity: 'low',
    caseName: '',
    title: 't',
    message: 'm',
    group: {},
    host: null,
    firstSeen,
    lastSeen: firstSeen,
    eventCount: eventIds.length,
    queryCounts: {},
    eventIds,
    tags: [],
    updates: 0,
  };
}

/** Tracked signals by emitted id, from [emittedId, batchId, eventIds, firstSeen?]. */
function trackedOf(rows: readonly (readonly [string, string, readonly string[], string?])[]): { tracked: Map<string, TrackedSignal>; byBatch: Map<string, string> } {
  const tracked = new Map<string, TrackedSignal>(rows.map(([id, batchId, events, first]) => [id, { batchId, signal: signal(id, events, first) }]));
  return { tracked, byBatch: new Map(rows.map(([id, batchId]) => [batchId, id])) };
}

const map = (result: ReturnType<typeof assignEmittedIds>): Record<string, string> => Object.fromEntries(result.assignments.map((a) => [a.batchId, a.emittedId]));

describe('assignEmittedIds', () => {
  it.each<[string, readonly (readonly [string, string, readonly string[], string?])[], readonly Signal[], readonly string[], Record<string, string>, readonly string[]]>([
    ['a batch id already emitted keeps its id', [['A', 'A', ['a']]], [signal('A', ['a', 'b'])], ['A'], { A: 'A' }, []],
    ['a mapping found earlier is kept', [['A', 'B', ['a']]], [signal('B', ['a', 'b'])], ['A'], { B: 'A' }, []],
    ['a new batch id takes the emitted signal it shares events with', [['A', 'A', ['a', 'b']]], [signal('X', ['x', 'a', 'b'])], ['A'], { X: 'A' }, []],
    ['of two emitted signals, the one sharing more events wins', [['A', 'A', ['a']], ['B', 'B', ['b', 'c']]], [signal('X', ['a', 'b', 'c'])], ['A', 'B'], { X: 'B' }, ['A']],
    [
      'on equal overlap the earlier first seen wins',
      [
        ['B', 'B', ['b'], '2024-08-01T12:05:00.000Z'],
        ['A', 'A', ['a'], '2024-08-01T12:01:00.000Z'],
      ],
      [signal('X', ['a', 'b'])],
      ['A', 'B'],
      { X: 'A' },
      ['B'],
    ],
    ['a final (ineligible) signal is never claimed by overlap', [['A', 'A', ['a']]], [signal('X', ['a', 'x'])], [], { X: 'X' }, []],
    ['a batch id equal to another emitted signal’s id gets a fresh id', [['X', 'OLD', ['o']]], [signal('OLD', ['n']), signal('X', ['x'])], ['X'], { OLD: 'X', X: freshId('X', (id) => id === 'X') }, []],
    ['no candidate at all leaves every eligible signal an orphan', [['A', 'A', ['a']], ['B', 'B', ['b']]], [], ['A', 'B'], {}, ['A', 'B']],
  ])('%s', (_name, rows, candidates, eligible, expected, orphans) => {
    const { tracked, byBatch } = trackedOf(rows);
    const result = assignEmittedIds({ candidates, tracked, byBatch, eligible: new Set(eligible) });
    expect(map(result)).toEqual(expected);
    expect([...result.orphans].sort()).toEqual([...orphans].sort());
    for (const a of result.assignments) expect(a.signal.id).toBe(a.emittedId);
  });

  it('an orphan is replaced by the assigned signals holding its events', () => {
    const { tracked, byBatch } = trackedOf([
      ['A', 'A', ['a']],
      ['B', 'B', ['b']],
    ]);
    const result = assignEmittedIds({ candidates: [signal('A', ['a', 'c', 'b'])], tracked, byBatch, eligible: new Set(['A', 'B']) });
    expect(result.orphans).toEqual(['B']);
    expect(replacementsOf(tracked.get('B')?.signal ?? signal('?', []), result.assignments)).toEqual(['A']);
    expect(replacementsOf(signal('Z', ['z']), result.assignments)).toEqual([]);
  });

  it('for any tracked signals and candidates, emitted ids are unique and each tracked signal is claimed at most once', () => {
    const refs = fc.subarray(['a', 'b', 'c', 'd', 'e', 'f'], { minLength: 1 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.constantFrom('A', 'B', 'C', 'D'), fc.constantFrom('A', 'B', 'C', 'D', 'E'), refs), { selector: ([id]) => id, maxLength: 4 }),
        fc.uniqueArray(fc.tuple(fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F'), refs), { selector: ([id]) => id, maxLength: 5 }),
        fc.subarray(['A', 'B', 'C', 'D']),
        (rows, candidateRows, eligible) => {
          const unique = rows.filter(([, batchId], i) => rows.findIndex(([, other]) => other === batchId) === i);
          const { tracked, byBatch } = trackedOf(unique);
          const result = assignEmittedIds({ candidates: candidateRows.map(([id, events]) => signal(id, events)), tracked, byBatch, eligible: new Set(eligible) });
          const ids = result.assignments.map((a) => a.emittedId);
          expect(new Set(ids).size).toBe(ids.length);
          expect(result.assignments).toHaveLength(candidateRows.length);
          for (const orphan of result.orphans) expect(ids).not.toContain(orphan);
          // A candidate takes an emitted id only through a kept mapping or an eligible overlap; else a new id.
          for (const a of result.assignments) {
            if (!tracked.has(a.emittedId)) continue;
            const isKept = byBatch.get(a.batchId) === a.emittedId;
            expect(isKept || eligible.includes(a.emittedId)).toBe(true);
          }
        },
      ),
    );
  });
});

describe('isSameJson', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['equal nested objects in another key order', { a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }, true],
    ['a different number deep inside', { a: [1, { c: 2 }] }, { a: [1, { c: 3 }] }, false],
    ['an extra key', { a: 1 }, { a: 1, b: undefined }, false],
    ['an array against an object', [1], { 0: 1 }, false],
    ['arrays of other lengths', [1, 2], [1], false],
    ['null against an object', null, {}, false],
    ['equal strings', 'x', 'x', true],
  ])('%s', (_name, a, b, expected) => {
    expect(isSameJson(a, b)).toBe(expected);
    expect(isSameJson(b, a)).toBe(expected);
  });
});
