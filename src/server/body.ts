/**
 * Reading a request body within a size limit, counted as it arrives and never held beyond it.
 *
 * - A `Content-Length` above the limit is refused before a byte of the body is read.
 * - Without one (chunked), bytes are counted as they come; at the limit, reading stops and the rest
 *   of the body is left to be discarded by the caller (see `IntakeServer`), not buffered.
 * - `Content-Encoding: gzip` bodies are gunzipped with the same limit on the output (a small body
 *   that inflates beyond it is refused too), so a gzip bomb costs at most `maxBodyBytes` of memory.
 * Only `identity` and `gzip` (`x-gzip`) encodings are accepted.
 */
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { InputType } from 'node:zlib';

const gunzipAsync = promisify<InputType, { maxOutputLength: number }, Buffer>(gunzip);

export type BodyFailure = { readonly ok: false; readonly status: 400 | 413 | 415; readonly message: string; readonly isBodyUnread: boolean };
export type BodyResult = { readonly ok: true; readonly bytes: Buffer } | BodyFailure;

export type ContentEncoding = 'identity' | 'gzip';

/** The encoding a `Content-Encoding` header names, or undefined for one this server does not take. */
export function contentEncodingOf(header: string | undefined): ContentEncoding | undefined {
  if (header === undefined) return 'identity';
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  return undefined;
}

function tooLarge(maxBodyBytes: number, what: string, isBodyUnread: boolean): BodyFailure {
  return { ok: false, status: 413, message: `${what} is larger than the limit of ${maxBodyBytes} bytes (maxBodyBytes)`, isBodyUnread };
}

/** Whether an error is zlib's "output larger than maxOutputLength". */
function isOutputTooLarge(error: unknown): boolean {
  return error instanceof RangeError || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE');
}

/** Gunzips `bytes`, giving undefined on bad gzip and 'too-large' past `maxBytes` of output. */
export async function gunzipWithin(bytes: Uint8Array, maxBytes: number): Promise<Buffer | 'too-large' | undefined> {
  try {
    return await gunzipAsync(bytes, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (error) {
    return isOutputTooLarge(error) ? 'too-large' : undefined;
  }
}

/** Collects the raw body, stopping at `maxBodyBytes`. */
function collect(request: IncomingMessage, maxBodyBytes: number): Promise<{ readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: 'too-large' | 'aborted' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let isSettled = false;
    const settle = (result: { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: 'too-large' | 'aborted' }): void => {
      if (isSettled) return;
      isSettled = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAborted);
      request.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBodyBytes) {
        chunks.length = 0;
        settle({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => settle({ ok: true, bytes: Buffer.concat(chunks, total) });
    const onAborted = (): void => settle({ ok: false, reason: 'aborted' });
    const onClose = (): void => {
      if (!request.complete) onAborted();
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onAborted);
    request.on('close', onClose);
  });
}

/**
 * Reads the body of `request` (decompressed when gzip), within `maxBodyBytes` on the wire and after
 * decompression. A failure says whether the body was left unread (the caller then closes the
 * connection after answering, so the client stops sending).
 */
export async function readRequestBody(request: IncomingMessage, maxBodyBytes: number): Promise<BodyResult> {
  const encoding = contentEncodingOf(request.headers['content-encoding']);
  if (encoding === undefined) {
    return { ok: false, status: 415, message: 'unsupported Content-Encoding: send the body uncompressed or with Content-Encoding: gzip', isBodyUnread: true };
  }
  const declared = request.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBodyBytes) {
    return tooLarge(maxBodyBytes, `the body (Content-Length ${declared})`, true);
  }
  const raw = await collect(request, maxBodyBytes);
  if (!raw.ok) {
    if (raw.reason === 'too-large') return tooLarge(maxBodyBytes, 'the body', true);
    return { ok: false, status: 400, message: 'the request was aborted before its body was complete', isBodyUnread: false };
  }
  if (encoding === 'identity') return { ok: true, bytes: raw.bytes };
  const inflated = await gunzipWithin(raw.bytes, maxBodyBytes);
  if (inflated === 'too-large') return tooLarge(maxBodyBytes, 'the decompressed body', false);
  if (inflated === undefined) return { ok: false, status: 400, message: 'the body is not valid gzip data (Content-Encoding: gzip)', isBodyUnread: false };
  return { ok: true, bytes: inflated };
}
