/** Base class for thrown errors (broken invariants and I/O). Expected failures are `Result`s. */
export class TrailhoundError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrailhoundError';
    this.code = code;
  }
}

/** A problem with how the command was called: exit code 1 with the message and no stack. */
export class UsageError extends TrailhoundError {
  constructor(message: string) {
    super('E_USAGE', message);
    this.name = 'UsageError';
  }
}
