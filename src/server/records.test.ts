import { describe, expect, it } from 'vitest';
import { stratusAttack } from '../../test/support/detect.js';
import { originFor, RecordCollector, summariseProblems } from './records.js';

const { stop, modify, start } = stratusAttack();

describe('records of one delivered payload', () => {
  it('numbers records across the payloads of a request and prefixes problems with the payload', async () => {
    const collector = new RecordCollector('firehose:r-1', 1024 * 1024);
    await collector.add(JSON.stringify(stop), 'records[0]: ');
    await collector.add(`${JSON.stringify(modify)}\n{"eventName": "x", "cut\n${JSON.stringify(start)}`, 'records[1]: ');
    expect(collector.records.map((r) => [r.origin.index, (r.value as { eventID?: unknown }).eventID])).toEqual([
      [0, stop.eventID],
      [1, modify.eventID],
      [2, start.eventID],
    ]);
    expect(collector.records.every((r) => r.origin.source === 'firehose:r-1')).toBe(true);
    expect(collector.problems).toHaveLength(1);
    expect(collector.problems[0]).toMatchObject({ source: 'firehose:r-1', code: 'E_READ_JSON', message: expect.stringMatching(/^records\[1\]: /) as unknown });
    expect(collector.recordChars).toBe([stop, modify, start].reduce((n, r) => n + JSON.stringify(r).length, 0));
  });

  it('stops collecting once the records hold more text than the budget', async () => {
    const texts = [stop, modify, start].map((r) => JSON.stringify(r));
    // Room for any one record, not for two.
    const collector = new RecordCollector('http:r', Math.max(...texts.map((t) => t.length)) + 1);
    await collector.add(texts.join('\n'));
    expect(collector.isOverBudget).toBe(true);
    expect(collector.records).toHaveLength(2);
  });

  it.each([
    ['firehose', 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f', 'firehose:ed4acda5-034f-9f42-bba1-f29aea6d7d8f'],
    ['http', 'line\nbreak\u202e', 'http:line\\u000abreak\\u202e'],
    ['http', 'x'.repeat(300), `http:${'x'.repeat(128)}…`],
  ] as const)('the origin of %s request %j is %j', (route, id, origin) => {
    expect(originFor(route, id)).toBe(origin);
  });

  it('summarises the first problems and counts the rest', () => {
    const problems = [1, 2, 3, 4, 5].map((n) => ({ source: 's', code: 'E_READ_JSON', message: `m${n}` }));
    expect(summariseProblems(problems)).toBe('E_READ_JSON: m1; E_READ_JSON: m2; E_READ_JSON: m3 (and 2 more)');
    expect(summariseProblems(problems.slice(0, 1))).toBe('E_READ_JSON: m1');
  });
});
