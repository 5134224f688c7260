import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { createStdoutSink } from './stdout.js';

/** A stream that keeps what it was given; its write callback can be held, or fail. */
class CapturingStream extends Writable {
  text = '';
  hold: Promise<void> | undefined;
  failure: Error | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const finish = (): void => {
      if (this.failure !== undefined) {
        callback(this.failure);
        return;
      }
      this.text += chunk.toString('utf8');
      callback();
    };
    if (this.hold === undefined) finish();
    else void this.hold.then(finish);
  }
}

function parseLines(text: string): Signal[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Signal);
}

function harness(): SinkHarness {
  const stream = new CapturingStream();
  return {
    open: () => Promise.resolve(createStdoutSink({ stream })),
    written: () => Promise.resolve(parseLines(stream.text)),
    openUnwritable: () => {
      const broken = new CapturingStream();
      broken.failure = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      return Promise.resolve(createStdoutSink({ stream: broken }));
    },
    holdDurability: () => {
      let release: () => void = () => undefined;
      stream.hold = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        stream.hold = undefined;
        release();
      };
    },
    cleanup: () => Promise.resolve(),
  };
}

runSinkConformance('stdout', () => Promise.resolve(harness()));

describe('stdout sink', () => {
  it('writes one JSON line per change, each line ending with a line feed', async () => {
    const stream = new CapturingStream();
    const sink = createStdoutSink({ stream });
    const changes = realSignalChanges().slice(0, 3);
    await sink.deliver(changes);
    const lines = stream.text.split('\n');
    expect(lines).toHaveLength(changes.length + 1);
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => (JSON.parse(l) as Signal).id)).toEqual(changes.map((c) => c.signal.id));
    await sink.close();
  });

  it.each([
    ['a write that fails', (s: CapturingStream) => (s.failure = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))],
    ['an error event on the stream', (s: CapturingStream) => s.emit('error', new Error('write EPIPE'))],
  ])('after %s, this and every later delivery reject and nothing is thrown at the process', async (_name, breakIt) => {
    const stream = new CapturingStream();
    const sink = createStdoutSink({ stream });
    const [first, second, third] = realSignalChanges();
    if (first === undefined || second === undefined || third === undefined) throw new Error('too few changes');
    await sink.deliver([first]);
    breakIt(stream);
    await expect(sink.deliver([second])).rejects.toThrow(/cannot write signals to stdout: write EPIPE/);
    stream.failure = undefined;
    await expect(sink.deliver([third])).rejects.toThrow(/cannot write signals to stdout/);
    expect(parseLines(stream.text).map((s) => s.id)).toEqual([first.signal.id]);
    await sink.close();
  });

  it('leaves the stream open on close unless asked to end it', async () => {
    const kept = new CapturingStream();
    await createStdoutSink({ stream: kept }).close();
    expect(kept.writableEnded).toBe(false);
    const ended = new CapturingStream();
    await createStdoutSink({ stream: ended, isStreamEndedOnClose: true }).close();
    expect(ended.writableEnded).toBe(true);
  });
});
