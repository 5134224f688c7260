import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../core/errors.js';
import { parseDuration, parseList, parseListen, parseSince, parseWatchTarget, splitSecrets } from './live-options.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text, '--flag')).toBe(ms);
  });

  it.each([['60'], [''], ['5 minutes'], ['-5m'], ['2w'], ['m5'], ['400d']])('refuses %j, naming the flag', (text) => {
    expect(() => parseDuration(text, '--poll-interval')).toThrow(UsageError);
    expect(() => parseDuration(text, '--poll-interval')).toThrow(/--poll-interval/);
  });

  it('adds the parts of a combined duration whatever the numbers', () => {
    fc.assert(
      fc.property(fc.nat({ max: 300 }), fc.nat({ max: 59 }), fc.nat({ max: 59 }), (h, m, s) => {
        expect(parseDuration(`${h}h${m}m${s}s`, '--x')).toBe(((h * 60 + m) * 60 + s) * 1000);
      }),
    );
  });
});

describe('parseSince', () => {
  const now = Date.UTC(2026, 0, 10, 12, 0, 0);
  it.each([
    ['2h', now - 7_200_000],
    ['2024-08-01T00:00:00Z', Date.UTC(2024, 7, 1)],
    ['2024-08-01', Date.UTC(2024, 7, 1)],
    ['900d', now - 900 * 86_400_000],
  ])('reads %s', (text, ms) => {
    expect(parseSince(text, now)).toBe(ms);
  });

  it('refuses text that is neither a duration nor a time', () => {
    expect(() => parseSince('last tuesday', now)).toThrow(/--since takes a duration/);
  });
});

describe('parseWatchTarget', () => {
  it.each([
    ['s3://trail-bucket/team', { kind: 's3', bucket: 'trail-bucket', prefix: 'team' }],
    ['s3://trail-bucket', { kind: 's3', bucket: 'trail-bucket', prefix: '' }],
    ['sqs://https://sqs.us-east-1.amazonaws.com/123456789012/trail', { kind: 'sqs', queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/trail' }],
    ['sqs://sqs.us-east-1.amazonaws.com/123456789012/trail', { kind: 'sqs', queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/trail' }],
    ['sqs://http://127.0.0.1:9324/000000000000/q', { kind: 'sqs', queueUrl: 'http://127.0.0.1:9324/000000000000/q' }],
    ['./AWSLogs', { kind: 'folder', path: './AWSLogs' }],
  ])('%s is understood', (text, target) => {
    expect(parseWatchTarget(text)).toEqual(target);
  });

  it.each([['s3://'], ['sqs://https://sqs.us-east-1.amazonaws.com/'], ['ftp://host/logs'], ['']])('%j is refused with the forms it takes', (text) => {
    expect(() => parseWatchTarget(text)).toThrow(UsageError);
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    [':9464', { host: '0.0.0.0', port: 9464 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    ['localhost:443', { host: 'localhost', port: 443 }],
  ])('%s', (text, address) => {
    expect(parseListen(text, '--listen')).toEqual(address);
  });

  it.each([['8080'], ['host:'], ['host:99999'], ['::1:80']])('refuses %j', (text) => {
    expect(() => parseListen(text, '--listen')).toThrow(/--listen takes HOST:PORT/);
  });
});

describe('lists and secrets', () => {
  it('splits repeated, comma-separated values, drops blanks and repeats, and checks each', () => {
    expect(parseList(['111122223333, 444455556666', '111122223333', ''], '--accounts', /^\d{12}$/, 'an account id')).toEqual(['111122223333', '444455556666']);
    expect(parseList(undefined, '--accounts', /^\d{12}$/, 'an account id')).toBeUndefined();
    expect(() => parseList(['12345'], '--accounts', /^\d{12}$/, 'a 12-digit AWS account id')).toThrow(/--accounts: "12345" is not a 12-digit AWS account id/);
  });

  it('reads secrets one a line or comma-separated, without comments or blank lines', () => {
    expect(splitSecrets('# rotated 2026-01\nfirst-secret-0123456789\n\nsecond-secret-0123456789, third-secret-0123456789\r\n')).toEqual(['first-secret-0123456789', 'second-secret-0123456789', 'third-secret-0123456789']);
  });
});
