/**
 * The stdout sink: one JSON line per signal change (the signal in its latest version, as
 * `scan --format jsonl` prints it; an update is a new line with the same `id`). A delivery resolves
 * once the stream has handed every byte to the operating system (the write callback), so the lines
 * are in the pipe or file before the pipeline checkpoints its input.
 *
 * A stream error (EPIPE when the reader went away) rejects the delivery under way and every later
 * one; it never becomes an unhandled 'error' event.
 */
import type { Writable } from 'node:stream';
import { TrailhoundError } from '../core/errors.js';
import { DeliveryQueue, signalLine } from './sink.js';
import type { SignalChange, SignalSink } from './sink.js';

export interface StdoutSinkOptions {
  /** Where to write. Default `process.stdout`. */
  readonly stream?: Writable;
  /** End the stream on `close()` (default false: stdout stays open for the rest of the process). */
  readonly isStreamEndedOnClose?: boolean;
}

class StdoutSink implements SignalSink {
  readonly name = 'stdout';
  private readonly queue = new DeliveryQueue();
  private streamError: Error | undefined;
  private isClosed = false;
  private closing: Promise<void> | undefined;
  private readonly onError = (error: Error): void => {
    this.streamError ??= error;
  };

  constructor(
    private readonly stream: Writable,
    private readonly isStreamEndedOnClose: boolean,
  ) {
    stream.on('error', this.onError);
  }

  deliver(changes: readonly SignalChange[]): Promise<void> {
    if (this.isClosed) return Promise.reject(new TrailhoundError('E_SINK_CLOSED', 'the stdout sink is closed'));
    if (changes.length === 0) return this.queue.run(() => Promise.resolve());
    const text = changes.map(signalLine).join('');
    return this.queue.run(() => this.write(text));
  }

  private write(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = this.streamError ?? (this.stream.destroyed || this.stream.writableEnded ? new Error('the stream is closed') : undefined);
      if (failed !== undefined) {
        reject(new TrailhoundError('E_SINK_WRITE', `cannot write signals to stdout: ${failed.message}`, { cause: failed }));
        return;
      }
      this.stream.write(text, (error) => {
        const cause = error ?? this.streamError;
        if (cause) reject(new TrailhoundError('E_SINK_WRITE', `cannot write signals to stdout: ${cause.message}`, { cause }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    this.isClosed = true;
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    await this.queue.idle();
    if (this.isStreamEndedOnClose && !this.stream.writableEnded) {
      await new Promise<void>((resolve) => this.stream.end(() => resolve()));
    }
    // Keep swallowing late errors of a stream we no longer write to only if it is ours to end.
    if (!this.isStreamEndedOnClose) this.stream.off('error', this.onError);
  }
}

/** A sink writing JSON lines to stdout (or another stream). */
export function createStdoutSink(options: StdoutSinkOptions = {}): SignalSink {
  return new StdoutSink(options.stream ?? process.stdout, options.isStreamEndedOnClose ?? false);
}
