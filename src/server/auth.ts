/**
 * Shared-secret checks for the intake routes, in constant time.
 *
 * A presented secret is compared with each configured one through SHA-256 digests of both: the
 * digests always have the same length, so `timingSafeEqual` runs over 32 bytes whatever the lengths
 * of the secrets, and neither the content nor the length of a configured secret leaks through
 * timing. Every configured secret is compared (no early exit), so several secrets can be accepted
 * at once while one is rotated.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Checks one presented secret against the configured ones. */
export type SecretCheck = (presented: string | undefined) => boolean;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A check that accepts exactly the given secrets (none configured: accepts nothing). */
export function createSecretCheck(secrets: readonly string[]): SecretCheck {
  const digests = secrets.map(digest);
  return (presented) => {
    if (presented === undefined || digests.length === 0) return false;
    const candidate = digest(presented);
    let isMatch = false;
    for (const expected of digests) {
      // The comparison comes first so that every one runs, whatever the earlier ones gave.
      isMatch = timingSafeEqual(candidate, expected) || isMatch;
    }
    return isMatch;
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750), or
 * undefined when the header is absent or uses another scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([^\s]+) *$/.exec(header);
  return match?.[1];
}
