import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict, FIREHOSE_MAX_ERROR_MESSAGE_CHARS, firehoseErrorBody, firehoseSuccessBody, parseFirehoseRequest } from './firehose.js';

describe('Firehose request body', () => {
  it('reads the request id and every record data, in order', () => {
    const body = { requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f', timestamp: 1578090901599, records: [{ data: 'aGVsbG8=' }, { data: 'aGVsbG8gd29ybGQ=' }, { data: '' }] };
    expect(parseFirehoseRequest(body, 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f')).toEqual({ ok: true, value: { requestId: body.requestId, records: ['aGVsbG8=', 'aGVsbG8gd29ybGQ=', ''] } });
    expect(parseFirehoseRequest(body, undefined).ok).toBe(true);
  });

  it.each([
    ['an array', [], /the body is an array/],
    ['null', null, /the body is null/],
    ['no requestId', { records: [] }, /no requestId/],
    ['an empty requestId', { requestId: '', records: [] }, /no requestId/],
    ['a numeric requestId', { requestId: 7, records: [] }, /no requestId/],
    ['records as an object', { requestId: 'r', records: { data: 'e30=' } }, /records is an object, not an array/],
    ['a record that is a string', { requestId: 'r', records: ['e30='] }, /records\[0\]\.data is missing/],
    ['a record whose data is a number', { requestId: 'r', records: [{ data: 'e30=' }, { data: 12 }] }, /records\[1\]\.data is a number/],
    ['a requestId inherited from the prototype', Object.create({ requestId: 'r', records: [] }) as unknown, /no requestId/],
  ])('refuses a body with %s', (_name, body, message) => {
    const parsed = parseFirehoseRequest(body, undefined);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toMatch(message);
  });

  it('refuses a body whose requestId differs from the header', () => {
    const parsed = parseFirehoseRequest({ requestId: 'a', records: [] }, 'b');
    expect(!parsed.ok && parsed.message).toMatch(/differs from the X-Amz-Firehose-Request-Id header/);
  });
});

describe('strict base64', () => {
  it('decodes whatever an encoder wrote', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decodeBase64Strict(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it.each([
    ['URL-safe characters', 'ab-_'],
    ['missing padding', 'e30'],
    ['a space', 'e30 ='],
    ['a line break', 'e30=\n'],
    ['padding in the middle', 'e3=0'],
    ['non-zero padding bits', 'e31='],
    ['too much padding', 'e==='],
  ])('refuses %s', (_name, text) => {
    expect(decodeBase64Strict(text)).toBeUndefined();
  });
});

describe('Firehose responses', () => {
  it('the success body has exactly requestId and an integer timestamp', () => {
    expect(firehoseSuccessBody('r-1', 1578090903599.7)).toEqual({ requestId: 'r-1', timestamp: 1578090903599 });
    expect(Object.keys(firehoseSuccessBody('r-1', 1))).toEqual(['requestId', 'timestamp']);
  });

  it('the error body adds errorMessage, cut to the 8,192 characters Firehose keeps', () => {
    expect(Object.keys(firehoseErrorBody('r-1', 1, 'bad'))).toEqual(['requestId', 'timestamp', 'errorMessage']);
    const long = firehoseErrorBody('r-1', 1, 'x'.repeat(20_000)).errorMessage;
    expect(long.length).toBe(FIREHOSE_MAX_ERROR_MESSAGE_CHARS);
    expect(long.endsWith('…')).toBe(true);
  });
});
