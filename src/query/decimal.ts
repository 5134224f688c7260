/**
 * Strict decimal numbers, parsed by hand so that attacker-sized strings cost one linear pass (a
 * regular expression with nested optional digit runs would backtrack quadratically).
 *
 * Accepted: optional sign, digits with an optional fraction (`5`, `-1.5`, `.5`, `5.`), optional
 * exponent (`1e3`, `2E-4`, `1e+21`). Rejected: empty text, whitespace, `0x…`, `Infinity`, `NaN`,
 * `1_000`, and anything whose value is not finite.
 */
export function parseDecimal(text: string): number | null {
  const n = text.length;
  if (n === 0) return null;
  let i = 0;
  let c = text.charCodeAt(0);
  if (c === 43 /* + */ || c === 45 /* - */) i++;
  let digits = 0;
  while (i < n && isDigit(text.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && text.charCodeAt(i) === 46 /* . */) {
    i++;
    while (i < n && isDigit(text.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return null;
  if (i < n) {
    c = text.charCodeAt(i);
    if (c !== 101 /* e */ && c !== 69 /* E */) return null;
    i++;
    if (i < n && (text.charCodeAt(i) === 43 || text.charCodeAt(i) === 45)) i++;
    let exponentDigits = 0;
    while (i < n && isDigit(text.charCodeAt(i))) {
      i++;
      exponentDigits++;
    }
    if (exponentDigits === 0 || i < n) return null;
  }
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
