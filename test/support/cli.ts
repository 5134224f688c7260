/** Test support: run the CLI in-process with captured output, as a user would from a shell. */
import { PassThrough, Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

/** A writable that keeps what is written (a terminal stand-in: `isTTY` false unless set). */
export class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `trailhound ...argv` with `stdinText` on standard input (empty by default). */
export async function runCli(argv: readonly string[], stdinText = ''): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = new PassThrough();
  stdin.end(stdinText);
  const code = await main(argv, { stdout, stderr, stdin });
  return { code, out: stdout.text, err: stderr.text };
}
