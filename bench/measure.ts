/**
 * Run one measured command: wall time from spawn to exit, peak resident memory of the process
 * (the largest process of a pipeline), standard output to a file, standard error kept (shortened).
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`: the largest `ru_maxrss` of the command and
 * of the children it waited for) when installed, else from polling `/proc/<pid>/status` `VmHWM`
 * of the direct child every 20 ms.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
const STDERR_KEEP = 64 * 1024;

export interface Measurement {
  readonly wallMs: number;
  /** Peak resident set size in KiB, when it could be measured. */
  readonly peakRssKiB: number | undefined;
  readonly exitCode: number;
  readonly stderr: string;
  /** 1-minute load average just before the command started. */
  readonly loadBefore: number;
  readonly stdoutPath: string;
}

export interface CommandSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function hasGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

function vmHwmKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

let sequence = 0;

/** Run `spec`, with its standard output written to `stdoutPath`. */
export async function measure(spec: CommandSpec, stdoutPath: string): Promise<Measurement> {
  const useTime = hasGnuTime();
  const rssFile = join(tmpdir(), `trailhound-bench-rss-${process.pid}-${++sequence}.txt`);
  const [command, args] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, spec.command, ...spec.args]] : [spec.command, [...spec.args]];
  const out = openSync(stdoutPath, 'w');
  const loadBefore = loadavg()[0] ?? 0;
  const started = performance.now();
  let polledPeak: number | undefined;
  let stderr = '';
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(command, args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', out, 'pipe'] });
    const poll =
      !useTime && child.pid !== undefined
        ? setInterval(() => {
            const v = child.pid === undefined ? undefined : vmHwmKiB(child.pid);
            if (v !== undefined) polledPeak = Math.max(polledPeak ?? 0, v);
          }, 20)
        : undefined;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < STDERR_KEEP) stderr += chunk.slice(0, STDERR_KEEP - stderr.length);
    });
    child.on('error', (error) => {
      if (poll) clearInterval(poll);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  const wallMs = performance.now() - started;
  closeSync(out);
  let peakRssKiB = polledPeak;
  if (useTime) {
    try {
      // GNU time writes "Command exited with non-zero status N" before the figure when the command fails.
      const lines = (await readFile(rssFile, 'utf8')).trim().split('\n');
      const value = Number(lines[lines.length - 1]);
      peakRssKiB = Number.isFinite(value) ? value : undefined;
    } catch {
      peakRssKiB = undefined;
    }
    await rm(rssFile, { force: true });
  }
  return { wallMs, peakRssKiB, exitCode, stderr, loadBefore, stdoutPath };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
