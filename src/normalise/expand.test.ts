import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SplitItem, SplitOptions, SplitOutput, SplitProblem } from './expand.js';
import { JsonRecordSplitter, expandDocument, expandSplitItem, isRecordShaped, quoteForMessage, splitJsonRecords, utf8Length } from './expand.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));
const fixture = (path: string): string => readFileSync(FIXTURES + path, 'utf8');

type Rec = Record<string, unknown>;

// Real records: a raw CloudTrail log file, a Stratus array (newest first), Panther single objects
// (one with lower-case keys), TrailDiscover bare objects and empty arrays.
const invictusText = fixture('invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json');
const invictusRecords = (JSON.parse(invictusText) as { Records: Rec[] }).Records;
const invictusSmallText = fixture('invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json');
const invictusSmallRecords = (JSON.parse(invictusSmallText) as { Records: Rec[] }).Records;
const stratusText = fixture('stratus-detonation-logs/aws.execution.ec2-user-data.json');
const stratusRecords = JSON.parse(stratusText) as Rec[];
const consoleLoginRecords = JSON.parse(fixture('stratus-detonation-logs/aws.initial-access.console-login-without-mfa.json')) as Rec[];
const pantherLowerText = fixture('panther-tests/aws_ec2_startup_script_change__fp__nomodifyinstanceattribute.json');
const pantherText = fixture('panther-tests/aws_ec2_startup_script_change__tp__modifyinstanceattributeuserdata.json');
const bareObjectText = fixture('traildiscover-log-examples/CreateSession.json.cloudtrail');
const emptyArrayText = fixture('traildiscover-log-examples/ChangeResourceRecordSets.json.cloudtrail');

const modify = stratusRecords.find((r) => r.eventName === 'ModifyInstanceAttribute') as Rec;
const stop = stratusRecords.find((r) => r.eventName === 'StopInstances') as Rec;
const start = stratusRecords.find((r) => r.eventName === 'StartInstances') as Rec;
const firstThree = [stop, modify, start];
/** A variant of a real record with multi-byte UTF-8 (2, 3 and 4 bytes) and an escaped line separator. */
const multiByte: Rec = { ...modify, userAgent: 'aws-cli/2.15 Ünïcødé ☃ 中文 𝄞😀 \u2028 end' };

function splitAll(chunks: readonly string[], options?: SplitOptions): SplitOutput[] {
  const splitter = new JsonRecordSplitter(options);
  return [...chunks.flatMap((chunk) => splitter.push(chunk)), ...splitter.end()];
}

const itemsOf = (out: readonly SplitOutput[]): SplitItem[] => out.filter((o): o is SplitItem => o.kind !== 'problem');
const problemsOf = (out: readonly SplitOutput[]): SplitProblem[] => out.filter((o): o is SplitProblem => o.kind === 'problem');

/** Split, parse and expand a whole text: the records' values and every problem code, in order. */
async function readAll(text: string, options?: SplitOptions): Promise<{ values: unknown[]; texts: string[]; codes: string[]; messages: string[] }> {
  const values: unknown[] = [];
  const texts: string[] = [];
  const codes: string[] = [];
  const messages: string[] = [];
  async function* one(): AsyncGenerator<string> {
    await Promise.resolve();
    yield text;
  }
  const problems: { code: string; message: string }[] = [];
  for await (const item of splitJsonRecords(one(), (p) => problems.push(p), options)) {
    const expansion = await expandSplitItem(item, options);
    problems.push(...expansion.problems);
    for (const record of expansion.records) {
      values.push(record.value);
      texts.push(record.text);
    }
  }
  for (const p of problems) {
    codes.push(p.code);
    messages.push(p.message);
  }
  return { values, texts, codes, messages };
}

const jsonLines = (records: readonly unknown[], eol = '\n'): string => records.map((r) => JSON.stringify(r)).join(eol) + eol;

describe('splitting well-formed input', () => {
  it.each([
    { shape: 'a CloudTrail log file streams each Records element as a record', text: invictusText, expected: invictusRecords, kind: 'record' },
    { shape: 'a top-level array streams each element as a document', text: stratusText, expected: stratusRecords, kind: 'document' },
    { shape: 'a single pretty-printed record is one document', text: pantherText, expected: [JSON.parse(pantherText)], kind: 'document' },
    { shape: 'a bare TrailDiscover object is one document', text: bareObjectText, expected: [JSON.parse(bareObjectText)], kind: 'document' },
    { shape: 'an empty array gives nothing', text: emptyArrayText, expected: [], kind: 'document' },
    { shape: 'JSON lines give one document per line', text: jsonLines(stratusRecords), expected: stratusRecords, kind: 'document' },
    { shape: 'JSON lines with CRLF endings and no final newline', text: jsonLines(firstThree, '\r\n').trimEnd(), expected: firstThree, kind: 'document' },
    { shape: 'concatenated pretty-printed records give one document each', text: firstThree.map((r) => JSON.stringify(r, null, 2)).join('\n'), expected: firstThree, kind: 'document' },
    { shape: 'zero-indent pretty printing (newline then { at column 0) is not mistaken for JSON lines', text: JSON.stringify({ Records: firstThree }, null, 0).replace(/([[{,])/g, '$1\n'), expected: firstThree, kind: 'record' },
    { shape: 'a UTF-8 BOM before the first value is skipped', text: `\uFEFF${invictusSmallText}`, expected: invictusSmallRecords, kind: 'record' },
    { shape: 'a Records key after other members still streams, and later members are skipped', text: `{"meta":{"note":"a ] and a } in a string","list":[1,[2]]},"Records":${JSON.stringify(firstThree)},"after":{"x":"]"}}`, expected: firstThree, kind: 'record' },
    { shape: 'two log files on two lines stream both', text: `${invictusSmallText.trim()}\n${invictusText.trim()}\n`, expected: [...invictusSmallRecords, ...invictusRecords], kind: 'record' },
  ])('$shape', ({ text, expected, kind }) => {
    const out = splitAll([text]);
    expect(problemsOf(out)).toEqual([]);
    const items = itemsOf(out);
    expect(items.map((i) => JSON.parse(i.text) as unknown)).toEqual(expected);
    expect(items.every((i) => i.kind === kind)).toBe(true);
    expect(items.map((i) => i.index)).toEqual(expected.map((_, n) => n));
  });

  it.each([
    { shape: 'a log file', text: JSON.stringify({ Records: [stop, multiByte, start] }) },
    { shape: 'a pretty-printed array', text: JSON.stringify([stop, multiByte, start], null, 3) },
    { shape: 'JSON lines after a BOM', text: `\uFEFF${jsonLines([multiByte, stop, multiByte])}` },
  ])('byte offsets point at each value in the UTF-8 bytes of $shape', ({ text }) => {
    const bytes = Buffer.from(text, 'utf8');
    const items = itemsOf(splitAll([text]));
    expect(items.length).toBe(3);
    for (const item of items) {
      const length = Buffer.byteLength(item.text, 'utf8');
      expect(bytes.subarray(item.byteOffset, item.byteOffset + length).toString('utf8')).toBe(item.text);
    }
  });

  it('a record text is the exact text written, escapes included', () => {
    const text = '{"Records":[{"eventName":"\\u0053topInstances","eventTime":"2024-08-01T12:03:30Z"} ,\n {"eventName":"x\\"y"}]}';
    const items = itemsOf(splitAll([text]));
    expect(items.map((i) => i.text)).toEqual(['{"eventName":"\\u0053topInstances","eventTime":"2024-08-01T12:03:30Z"}', '{"eventName":"x\\"y"}']);
  });

  it('a log file larger than the value cap still streams: only one record is ever held', () => {
    const cap = Math.max(...invictusRecords.map((r) => JSON.stringify(r).length)) + 10;
    expect(invictusText.length).toBeGreaterThan(cap * 10);
    for (const text of [invictusText, JSON.stringify(invictusRecords), jsonLines(invictusRecords)]) {
      const out = splitAll([text], { maxValueChars: cap });
      expect(problemsOf(out)).toEqual([]);
      expect(itemsOf(out).length).toBe(invictusRecords.length);
    }
  });

  it('utf8Length counts UTF-8 bytes', () => {
    for (const text of ['', 'abc', 'Ünïcødé', '☃中', '𝄞😀', JSON.stringify(multiByte)]) expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });
});

describe('splitting is independent of chunk boundaries', () => {
  const brokenRecords = `{"Records":[${JSON.stringify(stop)},{"eventName":"bad" "x"},{"a":1}}, ${JSON.stringify(multiByte)}]}`;
  const brokenLines = `${JSON.stringify(stop)}\n{"eventName":"cut\n${JSON.stringify(multiByte)}\nnot json\n${JSON.stringify(start)}\n`;
  const inputs = [
    JSON.stringify({ Records: [stop, multiByte, start] }),
    `\uFEFF${JSON.stringify([multiByte, stop], null, 2)}`,
    jsonLines([multiByte, modify, multiByte], '\r\n'),
    brokenRecords,
    brokenLines,
    `{"detail-type":"AWS API Call via CloudTrail","detail":${JSON.stringify(multiByte)}}`,
  ];

  it('splitting the text at random points gives the same items and problems', () => {
    fc.assert(
      fc.property(fc.constantFrom(...inputs), fc.uniqueArray(fc.nat(), { maxLength: 12 }), (text, rawCuts) => {
        const cuts = rawCuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b);
        const chunks: string[] = [];
        let from = 0;
        for (const cut of cuts) {
          chunks.push(text.slice(from, cut));
          from = cut;
        }
        chunks.push(text.slice(from));
        expect(splitAll(chunks)).toEqual(splitAll([text]));
      }),
      { numRuns: 300 },
    );
  });

  it.each(inputs.map((text, n) => ({ n, text })))('one character per chunk gives the same items and problems (input $n)', ({ text }) => {
    expect(splitAll([...text].flatMap((ch) => (ch.length === 2 ? [ch[0] ?? '', ch[1] ?? ''] : [ch])))).toEqual(splitAll([text]));
  });

  it('never throws and only cuts values out of the input, on arbitrary JSON-ish text', () => {
    const alphabet = fc.constantFrom('{', '}', '[', ']', '"', '\\', ',', ':', ' ', '\n', 'a', '1', 'Records', 'eventName');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 60 }), fc.nat({ max: 20 }), (parts, cut) => {
        const text = parts.join('');
        const out = splitAll([text.slice(0, cut), text.slice(cut)], { maxValueChars: 25 });
        for (const item of itemsOf(out)) expect(text.slice(item.byteOffset).startsWith(item.text)).toBe(true);
        for (const problem of problemsOf(out)) expect(['E_READ_JSON', 'E_READ_TOO_LARGE', 'E_READ_EMPTY']).toContain(problem.code);
      }),
      { numRuns: 500 },
    );
  });
});

describe('reading bad input: one problem, and every good record around it still comes out', () => {
  const truncatedLog = invictusText.slice(0, Math.floor(invictusText.length / 2));
  const completeInTruncated = invictusRecords.filter((r) => truncatedLog.includes(JSON.stringify(r)));

  it.each([
    {
      bad: 'a record that fails JSON.parse inside a Records array',
      text: `{"Records":[${JSON.stringify(stop)},{"eventName":"ModifyInstanceAttribute","x":tru},${JSON.stringify(start)}]}`,
      values: [stop, start],
      codes: ['E_READ_JSON'],
    },
    {
      bad: 'an extra closing brace inside a Records element',
      text: `{"Records":[${JSON.stringify(stop)},{"a":1}},${JSON.stringify(start)}]}`,
      values: [stop, start],
      codes: ['E_READ_JSON'],
    },
    { bad: 'an empty element (two commas)', text: `[${JSON.stringify(stop)},,${JSON.stringify(start)}]`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'a trailing comma', text: `[${JSON.stringify(stop)},${JSON.stringify(start)},]`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'a non-object in a Records array', text: `{"Records":[${JSON.stringify(stop)},42,${JSON.stringify(start)}]}`, values: [stop, start], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { bad: 'a JSON line cut short in the middle', text: `${JSON.stringify(stop)}\n${JSON.stringify(modify).slice(0, 300)}\n${JSON.stringify(start)}\n`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'a JSON line cut inside a string', text: `${JSON.stringify(stop)}\n{"eventName":"Modify\n${JSON.stringify(start)}\n`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'the first JSON line cut short', text: `${JSON.stringify(modify).slice(0, 200)}\n${JSON.stringify(stop)}\n${JSON.stringify(start)}\n`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'a later JSON line cut right after a comma (only that line is lost)', text: `${JSON.stringify(stop)}\n{"eventName":"x",\n${JSON.stringify(modify)}\n${JSON.stringify(start)}\n`, values: [stop, modify, start], codes: ['E_READ_JSON'] },
    { bad: 'the first JSON line cut right after a comma', text: `{"eventName":"x",\n${JSON.stringify(stop)}\n${JSON.stringify(start)}\n`, values: [start], codes: ['E_READ_JSON'] },
    { bad: 'a JSON line with balanced brackets but bad syntax', text: `${JSON.stringify(stop)}\n{"eventName" "x"}\n${JSON.stringify(start)}\n`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'lines of text between JSON lines', text: `${JSON.stringify(stop)}\nhello there\nsecond line of junk\n${JSON.stringify(start)}\n`, values: [stop, start], codes: ['E_READ_JSON'] },
    { bad: 'a log file cut in half', text: truncatedLog, values: completeInTruncated, codes: ['E_READ_JSON'] },
    { bad: 'a JSON document that is not CloudTrail', text: '{"foo":1}', values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { bad: 'a top-level scalar', text: '42\n', values: [], codes: ['E_READ_JSON'] },
    { bad: 'text that is not JSON at all', text: '# Real CloudTrail records\n\nSome text { with braces }\n', values: [], codes: ['E_READ_JSON'] },
    { bad: 'an empty input', text: '', values: [], codes: ['E_READ_EMPTY'] },
    { bad: 'an input of whitespace and a BOM', text: '\uFEFF \r\n\t\n', values: [], codes: ['E_READ_EMPTY'] },
  ])('$bad', async ({ text, values, codes }) => {
    const result = await readAll(text);
    expect(result.values).toEqual(values);
    expect(result.codes).toEqual(codes);
  });

  it('a log file cut in half still yields a good share of its records', () => {
    expect(completeInTruncated.length).toBeGreaterThan(5);
  });

  it.each([
    { shape: 'a Records element', text: `{"Records":[${JSON.stringify(stop)},${JSON.stringify({ ...modify, pad: 'x'.repeat(5000) })},${JSON.stringify(start)}]}` },
    { shape: 'an array element', text: `[${JSON.stringify(stop)},${JSON.stringify({ ...modify, pad: 'x'.repeat(5000) })},${JSON.stringify(start)}]` },
    { shape: 'a JSON line', text: jsonLines([stop, { ...modify, pad: 'x'.repeat(5000) }, start]) },
  ])('a value over the cap in $shape is reported and skipped; its neighbours come out', async ({ text }) => {
    const result = await readAll(text, { maxValueChars: 4000 });
    expect(result.values).toEqual([stop, start]);
    expect(result.codes).toEqual(['E_READ_TOO_LARGE']);
  });

  it('a problem names the byte offset and the value number', async () => {
    const text = `{"Records":[${JSON.stringify(stop)},{"bad":tru}]}`;
    const result = await readAll(text);
    const offset = Buffer.byteLength(`{"Records":[${JSON.stringify(stop)},`);
    expect(result.messages[0]).toContain(`value #1 at byte ${offset}`);
  });

  it('attacker-controlled text in a problem is escaped', async () => {
    // Two bad values: a document that does not parse, then a line that is not JSON.
    const result = await readAll('{"eventName":"\u001b[31mred\u001b[0m" broken}\n\u009b2J');
    expect(result.codes).toEqual(['E_READ_JSON', 'E_READ_JSON']);
    expect(result.messages[1]).toContain('U+009B');
    // eslint-disable-next-line no-control-regex
    for (const message of result.messages) expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

const eventBridge = (detail: unknown, detailType = 'AWS API Call via CloudTrail'): Rec => ({
  version: '0',
  id: '6f87d04b-9f74-4f04-a780-7acf4b0a9b38',
  'detail-type': detailType,
  source: 'aws.ec2',
  account: '123456789012',
  time: '2024-08-01T12:04:18Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

const dataMessage = (messages: readonly string[], messageType = 'DATA_MESSAGE'): Rec => ({
  messageType,
  owner: '123456789012',
  logGroup: 'aws-cloudtrail-logs-123456789012',
  logStream: '123456789012_CloudTrail_us-east-1',
  subscriptionFilters: ['trailhound'],
  logEvents: messages.map((message, n) => ({ id: `3819${n}`, timestamp: 1722513858000 + n, message })),
});

const awslogs = (payload: unknown): Rec => ({ awslogs: { data: gzipSync(Buffer.from(JSON.stringify(payload))).toString('base64') } });

describe('expandDocument', () => {
  const gz = gzipSync(Buffer.from(JSON.stringify(dataMessage(firstThree.map((r) => JSON.stringify(r))))));
  const nested = (depth: number): Rec => (depth === 0 ? dataMessage([JSON.stringify(stop)]) : awslogs(nested(depth - 1)));

  it.each([
    { shape: 'a real record', document: stop, values: [stop], codes: [] },
    { shape: 'a record with lower-case keys (Panther)', document: JSON.parse(pantherLowerText) as Rec, values: [JSON.parse(pantherLowerText)], codes: [] },
    { shape: 'a bare TrailDiscover object', document: JSON.parse(bareObjectText) as Rec, values: [JSON.parse(bareObjectText)], codes: [] },
    { shape: 'a log file object', document: { Records: firstThree }, values: firstThree, codes: [] },
    { shape: 'an array of records', document: firstThree, values: firstThree, codes: [] },
    { shape: 'an EventBridge API call', document: eventBridge(modify), values: [modify], codes: [] },
    { shape: 'an EventBridge console sign-in', document: eventBridge(consoleLoginRecords[0], 'AWS Console Sign In via CloudTrail'), values: [consoleLoginRecords[0]], codes: [] },
    { shape: 'EventBridge envelopes in an array', document: [eventBridge(stop), eventBridge(start)], values: [stop, start], codes: [] },
    { shape: 'a decoded CloudWatch Logs DATA_MESSAGE', document: dataMessage(firstThree.map((r) => JSON.stringify(r))), values: firstThree, codes: [] },
    { shape: 'an encoded CloudWatch Logs payload', document: { awslogs: { data: gz.toString('base64') } }, values: firstThree, codes: [] },
    { shape: 'a CloudWatch Logs CONTROL_MESSAGE (ignored, not an error)', document: { messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs', logGroup: '', logStream: '', subscriptionFilters: [], logEvents: [{ id: '', timestamp: 1722513858000, message: 'CWL CONTROL MESSAGE: Checking health of destination Firehose.' }] }, values: [], codes: [] },
    { shape: 'an encoded CONTROL_MESSAGE', document: awslogs({ messageType: 'CONTROL_MESSAGE', logEvents: [] }), values: [], codes: [] },
    { shape: 'a DATA_MESSAGE with one message that is not JSON', document: dataMessage([JSON.stringify(stop), 'START RequestId: 42', JSON.stringify(start)]), values: [stop, start], codes: ['E_READ_JSON'] },
    { shape: 'a DATA_MESSAGE whose event has no message', document: { ...dataMessage([JSON.stringify(stop)]), logEvents: [{ id: '1', timestamp: 1 }] }, values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'a DATA_MESSAGE whose logEvents is not an array', document: { messageType: 'DATA_MESSAGE', logEvents: 'x' }, values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'an unknown CloudWatch messageType', document: dataMessage([JSON.stringify(stop)], 'OTHER'), values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'awslogs data that is not base64', document: { awslogs: { data: '!!! not base64 !!!' } }, values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'awslogs data that is not gzip', document: { awslogs: { data: Buffer.from(JSON.stringify(stop)).toString('base64') } }, values: [], codes: ['E_READ_GZIP'] },
    { shape: 'awslogs data whose gzip is truncated', document: { awslogs: { data: gz.subarray(0, gz.length - 12).toString('base64') } }, values: [], codes: ['E_READ_GZIP'] },
    { shape: 'awslogs without data', document: { awslogs: {} }, values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'awslogs data that decodes to invalid JSON', document: { awslogs: { data: gzipSync(Buffer.from('{"messageType":')).toString('base64') } }, values: [], codes: ['E_READ_JSON'] },
    { shape: 'envelopes nested four deep', document: nested(3), values: [stop], codes: [] },
    { shape: 'envelopes nested too deep', document: nested(6), values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'an EventBridge event that is not from CloudTrail', document: eventBridge({ 'instance-id': 'i-1', state: 'stopped' }, 'EC2 Instance State-change Notification'), values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'an EventBridge CloudTrail event whose detail is not an object', document: eventBridge('oops'), values: [], codes: ['E_READ_ENVELOPE'] },
    { shape: 'an object that is not CloudTrail', document: { foo: 1 }, values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'a string', document: 'eventName', values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'null', document: null, values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'a log file with a non-object element', document: { Records: [stop, null, 'x', start] }, values: [stop, start], codes: ['E_READ_NOT_CLOUDTRAIL', 'E_READ_NOT_CLOUDTRAIL'] },
  ])('$shape', async ({ document, values, codes }) => {
    const expansion = await expandDocument(document);
    expect(expansion.records.map((r) => r.value)).toEqual(values);
    expect(expansion.problems.map((p) => p.code)).toEqual(codes);
    for (const record of expansion.records) expect(JSON.parse(record.text)).toEqual(record.value);
  });

  it('a record keeps its own text; an unwrapped CloudWatch message keeps the message text', async () => {
    const text = JSON.stringify(stop, null, 1);
    expect((await expandDocument(stop, text)).records[0]?.text).toBe(text);
    const message = JSON.stringify(modify, null, 1);
    expect((await expandDocument(dataMessage([message]))).records[0]?.text).toBe(message);
  });

  it('a not-CloudTrail problem says what it saw', async () => {
    const expansion = await expandDocument({ foo: 1, bar: 2 });
    expect(expansion.problems[0]?.message).toBe('an object with keys "foo", "bar" is not a CloudTrail record or envelope');
  });

  it('a decoded payload over the cap is reported, not inflated without end', async () => {
    const big = awslogs(dataMessage(invictusRecords.map((r) => JSON.stringify(r))));
    const expansion = await expandDocument(big, undefined, { maxValueChars: 10_000 });
    expect(expansion.records).toEqual([]);
    expect(expansion.problems.map((p) => p.code)).toEqual(['E_READ_TOO_LARGE']);
  });

  it('a record nested too deeply to serialise is one problem, and its neighbours still come out', async () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    const expansion = await expandDocument({ Records: [stop, { eventName: 'x', requestParameters: deep }, start] });
    expect(expansion.records.map((r) => r.value)).toEqual([stop, start]);
    expect(expansion.problems.map((p) => p.code)).toEqual(['E_READ_TOO_LARGE']);
  });

  it('never throws, and only yields objects, on any JSON value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const expansion = await expandDocument(value);
        for (const record of expansion.records) expect(typeof record.value === 'object' && record.value !== null && !Array.isArray(record.value)).toBe(true);
        // Only (nested) empty arrays hold nothing at all; anything else gives a record or a problem.
        const holdsSomething = (v: unknown): boolean => !Array.isArray(v) || v.some(holdsSomething);
        expect(expansion.records.length + expansion.problems.length > 0).toBe(holdsSomething(value));
      }),
      { numRuns: 300 },
    );
  });
});

describe('expandSplitItem', () => {
  it.each([
    { shape: 'a record object', item: { kind: 'record' as const, text: JSON.stringify(stop) }, values: [stop], codes: [] },
    { shape: 'a record that is an empty object (the normaliser judges records)', item: { kind: 'record' as const, text: '{}' }, values: [{}], codes: [] },
    { shape: 'a record that is an array', item: { kind: 'record' as const, text: '[1]' }, values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
    { shape: 'a record that is not JSON', item: { kind: 'record' as const, text: '{"a":' }, values: [], codes: ['E_READ_JSON'] },
    { shape: 'a document that is an envelope', item: { kind: 'document' as const, text: JSON.stringify(eventBridge(stop)) }, values: [stop], codes: [] },
    { shape: 'a document that is not CloudTrail', item: { kind: 'document' as const, text: '{"foo":1}' }, values: [], codes: ['E_READ_NOT_CLOUDTRAIL'] },
  ])('$shape', async ({ item, values, codes }) => {
    const expansion = await expandSplitItem({ ...item, index: 0, byteOffset: 0 });
    expect(expansion.records.map((r) => r.value)).toEqual(values);
    expect(expansion.problems.map((p) => p.code)).toEqual(codes);
  });
});

describe('isRecordShaped', () => {
  it.each([
    { keys: 'eventName', value: { eventName: 'x' }, expected: true },
    { keys: 'eventtime (lower case)', value: { eventtime: 'x' }, expected: true },
    { keys: 'EVENTSOURCE (upper case)', value: { EVENTSOURCE: 'x' }, expected: true },
    { keys: 'eventID only', value: { eventID: 'x' }, expected: true },
    { keys: 'foo', value: { foo: 1 }, expected: false },
    { keys: 'none', value: {}, expected: false },
    { keys: 'an inherited eventName only', value: Object.create({ eventName: 'x' }) as Rec, expected: false },
  ])('an object with $keys is record-shaped: $expected', ({ value, expected }) => {
    expect(isRecordShaped(value)).toBe(expected);
  });
});

describe('quoteForMessage', () => {
  it.each([
    { text: 'plain', expected: '"plain"' },
    { text: 'esc\u001b[31m', expected: '"esc\\u001b[31m"' },
    { text: 'csi\u009b2J', expected: '"csi\\u009b2J"' },
    { text: 'bidi\u202eevil', expected: '"bidi\\u202eevil"' },
    { text: 'line\nbreak\u2028', expected: '"line\\u000abreak\\u2028"' },
    { text: 'abcdefghij', max: 4, expected: '"abcd…"' },
  ])('quotes $text safely', ({ text, max, expected }) => {
    expect(quoteForMessage(text, max)).toBe(expected);
  });
});
