import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonRecordSplitter } from '../normalise/expand.js';
import type { SplitOptions, SplitOutput } from '../normalise/expand.js';
import { MEMBER_ABSENT, MEMBER_UNCLEAR, RecordFacts, RecordSplitter, scanRecordObject } from './record-splitter.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));

function fixtureFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...fixtureFiles(full));
    else if (name.endsWith('.json')) out.push(full);
  }
  return out;
}

const ALL_FIXTURES = fixtureFiles(FIXTURES);
const invictus = ALL_FIXTURES.filter((f) => f.includes('invictus'));
const logText = readFileSync(invictus[0] ?? '', 'utf8');
const stratusRecords = JSON.parse(readFileSync(join(FIXTURES, 'stratus-detonation-logs/aws.execution.ec2-user-data.json'), 'utf8')) as Record<string, unknown>[];
const recordTexts = stratusRecords.map((r) => JSON.stringify(r));
const logOf = (texts: readonly string[]): string => `{"Records":[${texts.join(',')}]}`;

const isAsciiText = (text: string): boolean => [...text].every((c) => c.charCodeAt(0) < 0x80);

/** What the general splitter gives for these chunks. */
function general(chunks: readonly string[], options: SplitOptions = {}): SplitOutput[] {
  const splitter = new JsonRecordSplitter(options);
  return [...chunks.flatMap((chunk) => splitter.push(chunk)), ...splitter.end()];
}

/** What the fast splitter gives, elements turned into the items the general one gives. */
function fast(chunks: readonly string[], options: SplitOptions = {}): { outputs: SplitOutput[]; fastElements: number } {
  const splitter = new RecordSplitter(options);
  const outputs: SplitOutput[] = [];
  let fastElements = 0;
  const visitor = {
    element(text: string, start: number, end: number, index: number, byteOffset: number): void {
      fastElements++;
      outputs.push({ kind: 'record', text: text.slice(start, end), index, byteOffset });
    },
    output(out: SplitOutput): void {
      outputs.push(out);
    },
  };
  for (const chunk of chunks) splitter.push(chunk, isAsciiText(chunk), visitor);
  splitter.end(visitor);
  return { outputs, fastElements };
}

function cut(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let at = 0; at < text.length; at += size) chunks.push(text.slice(at, at + size));
  return chunks;
}

const first = recordTexts[0] ?? '{}';
const second = recordTexts[1] ?? '{}';
const third = recordTexts[2] ?? '{}';

describe('the fast path gives exactly what the general splitter gives', () => {
  it.each(ALL_FIXTURES.map((file) => ({ file: file.slice(FIXTURES.length) })))('fixture $file, in 1 KiB and 64 KiB chunks', ({ file }) => {
    const text = readFileSync(join(FIXTURES, file), 'utf8');
    for (const size of [1024, 65536]) expect(fast(cut(text, size)).outputs).toEqual(general(cut(text, size)));
  });

  it.each([
    { shape: 'a log file', text: logOf([first, second, third]), isAllFast: true },
    { shape: 'an empty log file', text: '{"Records":[]}', isAllFast: true },
    { shape: 'leading blank lines and a trailing newline', text: `\n\n  ${logOf([first, second])}\n`, isAllFast: true },
    { shape: 'blanks around commas', text: `{"Records":[ ${first} ,\t${second}\r,${third} ]}`, isAllFast: true },
    { shape: 'a newline between records', text: `{"Records":[${first},\n${second},${third}]}`, isAllFast: false },
    { shape: 'a newline inside a string of a record', text: logOf([first, second.replace('"eventName"', '"x":"a\nb","eventName"'), third]), isAllFast: false },
    { shape: 'a line that starts with a brace inside a record', text: logOf([first, second.replace('"userIdentity":{', '"userIdentity":\n{'), third]), isAllFast: false },
    { shape: 'a non-object element', text: logOf([first, '"text"', second, '123', third]), isAllFast: false },
    { shape: 'an empty element', text: `{"Records":[${first},,${second}]}`, isAllFast: false },
    { shape: 'a trailing comma', text: `{"Records":[${first},${second},]}`, isAllFast: false },
    { shape: 'garbage after a record', text: `{"Records":[${first} x,${second}]}`, isAllFast: false },
    { shape: 'a stray closing brace after a record', text: `{"Records":[${first}},${second}]}`, isAllFast: false },
    { shape: 'members after the Records array', text: `{"Records":[${first},${second}],"more":{"a":[1,2]}}`, isAllFast: false },
    { shape: 'a second document after the log file', text: `${logOf([first])}\n${logOf([second, third])}`, isAllFast: false },
    { shape: 'JSON lines after the log file', text: `${logOf([first])}\n${second}\n${third}\n`, isAllFast: false },
    { shape: 'an unfinished last record', text: `{"Records":[${first},${second.slice(0, 200)}`, isAllFast: false },
    { shape: 'input ending between records', text: `{"Records":[${first},`, isAllFast: false },
    { shape: 'input ending after the array', text: `{"Records":[${first}]`, isAllFast: false },
    { shape: 'escaped quotes and backslashes, brackets in strings', text: logOf([first, JSON.stringify({ eventName: 'a"}]\\', x: '{[\\"', y: ['}'] }), second]), isAllFast: true },
    { shape: 'non-ASCII text', text: logOf([first, JSON.stringify({ eventName: 'Ünïcødé ☃ 𝄞' }), second]), isAllFast: false },
    { shape: 'a BOM', text: `\uFEFF${logOf([first, second])}`, isAllFast: false },
    { shape: 'a space in the head', text: `{ "Records":[${first},${second}]}`, isAllFast: false },
    { shape: 'Records as a later key', text: `{"x":1,"Records":[${first},${second}]}`, isAllFast: false },
    { shape: 'a top-level array', text: `[${first},${second}]`, isAllFast: false },
    { shape: 'text that is not JSON', text: 'hello\nworld', isAllFast: false },
    { shape: 'nothing', text: '', isAllFast: false },
    { shape: 'only blanks', text: '  \n ', isAllFast: false },
  ])('$shape', ({ text, isAllFast }) => {
    for (const size of [1, 7, 100, 4096, 1 << 20]) {
      const chunks = cut(text, size);
      const expected = general(chunks);
      const result = fast(chunks);
      expect(result.outputs).toEqual(expected);
      if (isAllFast) expect(result.fastElements).toBe(expected.length);
    }
  });

  it('a record over the value cap is the general splitter’s problem, reported the same', () => {
    const big = JSON.stringify({ eventName: 'Big', pad: 'x'.repeat(5000) });
    const text = logOf([first, big, second]);
    for (const size of [512, 100000]) {
      const chunks = cut(text, size);
      const expected = general(chunks, { maxValueChars: 4000 });
      expect(expected.some((out) => out.kind === 'problem' && out.code === 'E_READ_TOO_LARGE')).toBe(true);
      expect(fast(chunks, { maxValueChars: 4000 }).outputs).toEqual(expected);
    }
  });

  it('a log file in small chunks still goes the fast way for nearly every record', () => {
    const chunks = cut(logText, 4096);
    const result = fast(chunks);
    const expected = general(chunks);
    expect(result.outputs).toEqual(expected);
    expect(result.fastElements).toBe(expected.length);
  });

  const piece = fc.constantFrom(first, second, third, '"text"', '', ' ', '\n', JSON.stringify({ eventName: 'é' }), '{"a":"\\"}]"}', '}', '{"b":[1,{"c":"d"}]}');
  it('any mix of records and oddities, cut anywhere, gives the same as the general splitter (property)', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (pieces, isClosed, cuts) => {
        const text = `{"Records":[${pieces.join(',')}${isClosed ? ']}' : ''}`;
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let from = 0;
        for (const at of points) {
          chunks.push(text.slice(from, at));
          from = at;
        }
        chunks.push(text.slice(from));
        const nonEmpty = chunks.filter((c) => c.length > 0);
        expect(fast(nonEmpty).outputs).toEqual(general(nonEmpty));
      }),
      { numRuns: 300 },
    );
  });
});

describe('scanning one record for its own eventName and eventTime', () => {
  const facts = new RecordFacts();
  const valueAt = (text: string, start: number, end: number): string | number => (start < 0 ? start : text.slice(start, end));
  it.each([
    { shape: 'a plain record', text: '{"eventTime":"2024-01-01T00:00:00Z","eventName":"StopInstances"}', name: 'StopInstances', time: '2024-01-01T00:00:00Z' },
    { shape: 'blanks around the colon', text: '{"eventName" : "A", "eventTime":\n"T"}', name: 'A', time: 'T' },
    { shape: 'the last of duplicate keys', text: '{"eventName":"A","eventName":"B","eventTime":"T"}', name: 'B', time: 'T' },
    { shape: 'a nested eventName only', text: '{"x":{"eventName":"A"},"eventTime":"T"}', name: MEMBER_ABSENT, time: 'T' },
    { shape: 'a name inside a string', text: '{"x":"\\"eventName\\":\\"A\\"","eventTime":"T"}', name: MEMBER_ABSENT, time: 'T' },
    { shape: 'an escape in the value', text: '{"eventName":"A\\"B","eventTime":"T"}', name: MEMBER_UNCLEAR, time: 'T' },
    { shape: 'a number value', text: '{"eventName":5,"eventTime":"T"}', name: MEMBER_UNCLEAR, time: 'T' },
    { shape: 'eventName as a value', text: '{"x":"eventName","eventTime":"T"}', name: MEMBER_UNCLEAR, time: 'T' },
    { shape: 'a plain duplicate after an unclear one', text: '{"eventName":5,"eventName":"A","eventTime":"T"}', name: 'A', time: 'T' },
    { shape: 'an unclear duplicate after a plain one', text: '{"eventName":"A","eventName":null,"eventTime":"T"}', name: MEMBER_UNCLEAR, time: 'T' },
    { shape: 'a unicode-escaped key (left to the prefilter)', text: '{"event\\u004eame":"A","eventTime":"T"}', name: MEMBER_ABSENT, time: 'T' },
  ])('$shape', ({ text, name, time }) => {
    expect(scanRecordObject(text, 0, facts)).toBe(text.length);
    expect(valueAt(text, facts.nameStart, facts.nameEnd)).toBe(name);
    expect(valueAt(text, facts.timeStart, facts.timeEnd)).toBe(time);
  });

  it.each(['{"eventName":"A"', '{"a":"b', '{"eventName"', '{"eventName":', '{"eventName":"A', '{"a":[{}'])('%s does not end', (text) => {
    expect(scanRecordObject(text, 0, facts)).toBe(-1);
  });

  it('ends where the general splitter’s depth comes back to zero, whatever the brackets', () => {
    const text = '{"a":[1,{"b":"}]"}]}, tail';
    expect(scanRecordObject(text, 0, facts)).toBe(text.indexOf(', tail'));
  });
});
