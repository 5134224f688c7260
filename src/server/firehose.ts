/**
 * Amazon Data Firehose's HTTP endpoint delivery protocol (version 1.0), as AWS specifies it in
 * "HTTP endpoint delivery request and response specifications":
 *
 * - request: `POST` with JSON `{"requestId": "…", "timestamp": <ms>, "records": [{"data": "<base64>"}, …]}`
 *   (`requestId` and `records` required; empty `data` allowed), headers `X-Amz-Firehose-Request-Id`
 *   (the same id, kept across retries of the same batch), `X-Amz-Firehose-Access-Key` (the configured
 *   key, verbatim), `X-Amz-Firehose-Source-Arn`, optional `Content-Encoding: gzip`;
 * - response: `Content-Type: application/json`, no `Content-Encoding`, a `Content-Length`, a body of at
 *   most 1 MiB: `{"requestId": <the request's id>, "timestamp": <ms>}` with status 200 (the only
 *   success), `{"requestId", "timestamp", "errorMessage"}` (at most 8,192 characters) with 4xx/5xx.
 *   Firehose retries every error status with back-off except 413, which it treats as permanent.
 *
 * Pure functions: the server (intake-server.ts) does the I/O.
 */
import { quoteForMessage } from '../core/quote.js';

export const FIREHOSE_REQUEST_ID_HEADER = 'x-amz-firehose-request-id';
export const FIREHOSE_ACCESS_KEY_HEADER = 'x-amz-firehose-access-key';
export const FIREHOSE_SOURCE_ARN_HEADER = 'x-amz-firehose-source-arn';

/** Longest `errorMessage` Firehose keeps. */
export const FIREHOSE_MAX_ERROR_MESSAGE_CHARS = 8192;

/** The parts of a Firehose request body this server uses. */
export interface FirehoseRequest {
  readonly requestId: string;
  /** The base64 `data` of each record, in order. */
  readonly records: readonly string[];
}

export type FirehoseParse = { readonly ok: true; readonly value: FirehoseRequest } | { readonly ok: false; readonly message: string };

export interface FirehoseSuccessBody {
  readonly requestId: string;
  readonly timestamp: number;
}

export interface FirehoseErrorBody extends FirehoseSuccessBody {
  readonly errorMessage: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' ? 'a number' : typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

/**
 * Checks a parsed request body against the protocol. `headerRequestId` is the
 * `X-Amz-Firehose-Request-Id` header: when present it must equal the body's `requestId`.
 */
export function parseFirehoseRequest(body: unknown, headerRequestId: string | undefined): FirehoseParse {
  if (!isObject(body)) return { ok: false, message: `the body is ${describe(body)}, not a Firehose request object` };
  const requestId = Object.hasOwn(body, 'requestId') ? body.requestId : undefined;
  if (typeof requestId !== 'string' || requestId === '') return { ok: false, message: 'the body has no requestId string' };
  if (headerRequestId !== undefined && headerRequestId !== requestId) {
    return { ok: false, message: `the requestId of the body (${quoteForMessage(requestId, 60)}) differs from the X-Amz-Firehose-Request-Id header (${quoteForMessage(headerRequestId, 60)})` };
  }
  const records = Object.hasOwn(body, 'records') ? body.records : undefined;
  if (!Array.isArray(records)) return { ok: false, message: `records is ${describe(records)}, not an array` };
  const data: string[] = [];
  for (let i = 0; i < records.length; i++) {
    const record: unknown = records[i];
    const value = isObject(record) && Object.hasOwn(record, 'data') ? record.data : undefined;
    if (typeof value !== 'string') return { ok: false, message: `records[${i}].data is ${describe(value)}, not a base64 string` };
    data.push(value);
  }
  return { ok: true, value: { requestId, records: data } };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes standard base64 (RFC 4648 §4, padded) strictly: undefined for anything else. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // A non-canonical tail (bits set in the padding) decodes, but is not what an encoder writes.
  return bytes.toString('base64') === text ? bytes : undefined;
}

export function firehoseSuccessBody(requestId: string, timestampMs: number): FirehoseSuccessBody {
  return { requestId, timestamp: Math.trunc(timestampMs) };
}

export function firehoseErrorBody(requestId: string, timestampMs: number, message: string): FirehoseErrorBody {
  const errorMessage = message.length > FIREHOSE_MAX_ERROR_MESSAGE_CHARS ? `${message.slice(0, FIREHOSE_MAX_ERROR_MESSAGE_CHARS - 1)}…` : message;
  return { requestId, timestamp: Math.trunc(timestampMs), errorMessage };
}
