/**
 * Quoting for the shell commands `trailhound respond` prints. Every value in a printed command comes
 * from CloudTrail (role names, session names, instance ids) or from the user, and CloudTrail strings
 * are attacker-controlled: a value must reach the command as exactly one argument, whatever it holds,
 * and must not be able to send escape sequences to the terminal the plan is printed on.
 *
 * - Plain values (letters, digits and `@%+=:,./_-`) are printed as they are.
 * - Anything else is put in single quotes, where a POSIX shell expands nothing (`$(…)`, backquotes,
 *   `$VAR`, globs); a single quote inside becomes `'\''`.
 * - A value holding a control, line-separator or bidi character is printed as `$'…'` (bash, zsh, ksh,
 *   and dash ≥ 0.5.12) with each such character as `\xHH` escapes of its UTF-8 bytes (whatever the
 *   locale), so the printed line
 *   stays one visible line and the shell still receives the exact bytes.
 */

const UTF8 = new TextEncoder();
const PLAIN = /^[A-Za-z0-9@%+=:,./_-]+$/;
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const UNPRINTABLE_ALL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** One shell word that a POSIX-style shell reads back as exactly `value`. */
export function shellQuote(value: string): string {
  if (PLAIN.test(value)) return value;
  if (!UNPRINTABLE.test(value)) return `'${value.replaceAll("'", `'\\''`)}'`;
  const body = value.replace(/[\\']/g, (c) => `\\${c}`).replace(UNPRINTABLE_ALL, (c) => [...UTF8.encode(c)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join(''));
  return `$'${body}'`;
}

/** A word of a printed command: a value to quote, or shell syntax (`$v`, `|`, `>`) kept as written. */
export type ShellWord = string | { readonly raw: string };

/** Join `words` into one command line, quoting every plain string. */
export function shellCommand(words: readonly ShellWord[]): string {
  return words.map((w) => (typeof w === 'string' ? shellQuote(w) : w.raw)).join(' ');
}

/** Shell syntax written by trailhound itself (never a value from CloudTrail). */
export function raw(text: string): ShellWord {
  return { raw: text };
}
