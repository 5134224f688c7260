/**
 * Test support: a child process running `trailhound watch` or `trailhound serve` through the CLI's
 * own command functions, with test hooks that report each point of the checkpoint protocol on
 * stderr and pause there, so that a test can `kill -9` it at a chosen point:
 *
 *   node --import tsx test/support/live-runner.ts '{"command":"watch","target":"DIR","flags":{…},"pauseMs":300}'
 *
 * stderr lines: `runner: ready [URL]`, `runner: committed STEP CHANGES`, `runner: sink-delivered STEP
 * CHANGES`, `runner: delivered STEP CHANGES` (printed before the pause, for steps with changes only,
 * unless `isPausingEveryStep`). The exit code is the command's.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { runServeCommand } from '../../src/cli/serve-command.js';
import { runWatchCommand } from '../../src/cli/watch-command.js';
import type { StepInfo } from '../../src/pipeline/live.js';

interface RunnerConfig {
  readonly command: 'watch' | 'serve';
  readonly target?: string;
  readonly flags: Record<string, unknown>;
  /** Pause at each hook point of a step with changes (default 0). */
  readonly pauseMs?: number;
  readonly isPausingEveryStep?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const point = (name: string) => async (info: StepInfo) => {
  if (info.changes === 0 && config.isPausingEveryStep !== true) return;
  process.stderr.write(`runner: ${name} ${info.step} ${info.changes}\n`);
  if ((config.pauseMs ?? 0) > 0) await delay(config.pauseMs ?? 0);
};
const context = {
  hooks: { afterCommit: point('committed'), afterSinkDelivery: point('sink-delivered'), afterDeliver: point('delivered') },
  onReady: (info: { readonly listen?: string; readonly metrics?: string }) => {
    process.stderr.write(`runner: ready ${info.listen ?? info.metrics ?? ''}\n`);
  },
};
const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
const code =
  config.command === 'watch'
    ? await runWatchCommand(config.target, { defaultRules: true, ...config.flags }, io, context)
    : await runServeCommand({ defaultRules: true, ...config.flags }, io, context);
process.stderr.write(`runner: exit ${code}\n`);
process.exitCode = code;
