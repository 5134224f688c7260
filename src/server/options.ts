/**
 * The intake server's options: a validated contract (unknown keys are errors, units in names).
 * `parseIntakeOptions` gives every problem at once; `createIntakeServer` throws on the first call with
 * bad options (a programming or configuration error, not a runtime one).
 */
import { z } from 'zod';
import type { Diagnostic, Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';

export const MIB = 1024 * 1024;

/** Shortest secret accepted: shorter ones are guessable. */
export const MIN_SECRET_CHARS = 16;

const secret = z
  .string()
  .min(MIN_SECRET_CHARS, `a secret must be at least ${MIN_SECRET_CHARS} characters long (generate one with: openssl rand -hex 32)`)
  .max(4096, 'Firehose sends access keys of at most 4096 bytes')
  .refine((s) => /^[\x21-\x7e]+$/.test(s), 'a secret may hold printable ASCII only, without spaces (HTTP header values)');

export const intakeOptionsSchema = z.strictObject({
  /** Accepted `X-Amz-Firehose-Access-Key` values; none: `POST /intake/firehose` answers 404. */
  firehoseAccessKeys: z.array(secret).default([]),
  /** Accepted `Authorization: Bearer` tokens; none: `POST /intake/cloudtrail` answers 404. */
  bearerTokens: z.array(secret).default([]),
  /** Largest body, on the wire and after `Content-Encoding: gzip`; larger bodies get 413. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * MIB)
    .default(10 * MIB),
  /** Most bytes the records of one request may decode to in all (gzip records, CloudWatch Logs payloads); beyond: 413. */
  maxDecodedBytes: z
    .number()
    .int()
    .min(1024)
    .max(4096 * MIB)
    .default(256 * MIB),
  /** How long `close()` waits for requests in flight before cutting their connections. */
  drainTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
  /** Longest time a client may take to send a whole request (slow senders are cut off). */
  requestTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
});

export type IntakeServerOptions = z.input<typeof intakeOptionsSchema>;
export type ResolvedIntakeOptions = z.output<typeof intakeOptionsSchema>;

/** Checks options, giving every problem (code E_CONFIG_SERVER, `path` = the field). */
export function parseIntakeOptions(input: unknown): Result<ResolvedIntakeOptions> {
  const parsed = intakeOptionsSchema.safeParse(input ?? {});
  if (parsed.success) return ok(parsed.data);
  const diagnostics: Diagnostic[] = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message;
    return { code: 'E_CONFIG_SERVER', severity: 'error', message, ...(path === '' ? {} : { path }), hint: 'see docs/intake.md for the intake options' };
  });
  return fail(diagnostics);
}
