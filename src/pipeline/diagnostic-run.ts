/**
 * How the problems of one input are reported: a run of same-code problems is folded into one
 * diagnostic with a count, and for gzip input diagnostics can be held back until the stream is known
 * to be sound (deflate data damaged in the middle decodes to garbage before the stream's check
 * fails, and the garbage's problems are then folded into the one gzip diagnostic).
 */
import type { ReadDiagnostic } from '../sources/source.js';

/** Diagnostics held back at most, per input, while a gzip stream is not yet known to be sound. */
const MAX_HELD_DIAGNOSTICS = 100;

export class DiagnosticRun {
  private pending: ReadDiagnostic | undefined;
  private repeats = 0;
  private lastByteOffset: number | undefined;
  private held: ReadDiagnostic[] | undefined;

  /** `deliver` gets every diagnostic once it is final (folded and released). */
  constructor(
    private readonly source: string,
    private readonly deliver: (diagnostic: ReadDiagnostic) => void,
  ) {}

  report(code: string, message: string, index?: number, byteOffset?: number): void {
    if (this.pending !== undefined && this.pending.code === code) {
      this.repeats++;
      this.lastByteOffset = byteOffset;
      return;
    }
    this.flush();
    const base = { source: this.source, code, message };
    const withIndex = index === undefined ? base : { ...base, index };
    this.pending = byteOffset === undefined ? withIndex : { ...withIndex, byteOffset };
  }

  /** Ends the current run: its diagnostic is delivered (or held). */
  flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    let diagnostic = pending;
    if (this.repeats > 0) {
      const upTo = this.lastByteOffset === undefined ? '' : `, up to byte ${this.lastByteOffset}`;
      diagnostic = { ...pending, message: `${pending.message} (and ${this.repeats} more like it${upTo})` };
    }
    this.repeats = 0;
    this.lastByteOffset = undefined;
    this.send(diagnostic);
  }

  /** From now on, keep diagnostics back (up to a bound) until `release` or `replaceHeld`. */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held;
    this.held = undefined;
    for (const diagnostic of held ?? []) this.deliver(diagnostic);
  }

  /** Drops what is held and reports one diagnostic in its place, saying how many were dropped. */
  replaceHeld(code: string, message: string): void {
    this.pending = undefined;
    this.repeats = 0;
    const dropped = this.held?.length ?? 0;
    this.held = undefined;
    this.report(code, dropped === 0 ? message : `${message}; ${dropped} problem(s) in the data decoded before the error are not reported separately`);
  }

  private send(diagnostic: ReadDiagnostic): void {
    if (this.held !== undefined) {
      this.held.push(diagnostic);
      if (this.held.length >= MAX_HELD_DIAGNOSTICS) this.release();
      return;
    }
    this.deliver(diagnostic);
  }
}
