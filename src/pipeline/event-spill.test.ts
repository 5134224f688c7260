import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { EventSpill, compareSpilled } from './event-spill.js';
import type { SpilledEvent } from './event-spill.js';

const parent = mkdtempSync(join(tmpdir(), 'trailhound-spill-test-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Events with many ties on time and key, unicode in keys and fields, and numbers JSON cannot carry. */
const eventsArb = fc
  .array(
    fc.record({
      time: fc.integer({ min: 0, max: 20 }),
      key: fc.constantFrom('a', 'b', 'é', '€uro', '😀', 'a\nb'),
      eventId: fc.option(fc.constantFrom('e1', 'e2', 'ë3'), { nil: null }),
      value: fc.oneof(fc.string({ unit: 'grapheme' }), fc.integer(), fc.constant(-0), fc.constant(Number.POSITIVE_INFINITY)),
    }),
    { maxLength: 120 },
  )
  .map((items) => items.map((item, arrival): SpilledEvent => ({ time: item.time, key: item.key, eventId: item.eventId, arrival, rules: [arrival % 3], fields: { v: item.value, nested: { list: [item.key] } } })));

function drainAll(spill: EventSpill): SpilledEvent[] {
  return [...spill.drain()];
}

describe('the ordering buffer', () => {
  it('gives back every event in evaluation order whatever the buffer and run limits (property)', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 4 }), (events, maxBufferedEvents, maxOpenRuns) => {
        const spill = new EventSpill({ maxBufferedEvents, maxOpenRuns, tempDir: parent });
        try {
          for (const e of events) spill.add(e);
          const out = drainAll(spill);
          const expected = [...events].sort(compareSpilled);
          expect(out.map((e) => e.arrival)).toEqual(expected.map((e) => e.arrival));
          // Fields come back exactly, -0 and Infinity included (those stay in memory).
          out.forEach((e, i) => {
            expect(Object.is(e.fields.v, expected[i]?.fields.v)).toBe(true);
            expect(e).toEqual(expected[i]);
          });
        } finally {
          spill.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('spills to files past its buffer, and close() removes them', () => {
    const dir = mkdtempSync(join(parent, 'close-'));
    const spill = new EventSpill({ maxBufferedEvents: 10, maxOpenRuns: 3, tempDir: dir });
    for (let i = 0; i < 100; i++) spill.add({ time: 100 - i, key: `k${i}`, eventId: null, arrival: i, rules: [0], fields: { i } });
    expect(spill.spilledEvents).toBe(100);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(drainAll(spill).map((e) => e.time)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    spill.close();
    expect(readdirSync(dir)).toEqual([]);
    spill.close();
  });

  it('keeps characters whole across the blocks it reads runs in', () => {
    const spill = new EventSpill({ maxBufferedEvents: 1, tempDir: parent });
    // Lines longer than a block, made of 3- and 4-byte characters at every alignment.
    const texts = ['€'.repeat(200_001), `x${'😀'.repeat(90_001)}`, `xy${'€'.repeat(150_000)}`];
    texts.forEach((text, i) => spill.add({ time: i, key: 'k', eventId: null, arrival: i, rules: [0], fields: { text } }));
    expect(drainAll(spill).map((e) => e.fields.text)).toEqual(texts);
    spill.close();
  });

  it('makes no file when everything fits in memory', () => {
    const dir = mkdtempSync(join(parent, 'small-'));
    const spill = new EventSpill({ tempDir: dir });
    spill.add({ time: 2, key: 'b', eventId: null, arrival: 0, rules: [0], fields: {} });
    spill.add({ time: 1, key: 'a', eventId: null, arrival: 1, rules: [0], fields: {} });
    expect(drainAll(spill).map((e) => e.arrival)).toEqual([1, 0]);
    expect(existsSync(dir) && readdirSync(dir)).toEqual([]);
    spill.close();
  });
});
