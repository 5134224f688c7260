/**
 * `trailhound watch` / `trailhound serve` argument checks: each mistake is refused before anything
 * starts, with exit 1 and a message that says what to write instead.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'trailhound-live-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const state = join(work, 'state');

describe('watch and serve refuse bad arguments', () => {
  it.each([
    { argv: ['watch', work], message: /watch needs --state DIR/ },
    { argv: ['watch', '--state', state], message: /watch needs what to watch/ },
    { argv: ['watch', 'ftp://host/logs', '--state', state], message: /use s3:\/\/bucket\/prefix, sqs:\/\/QUEUE-URL or a local folder/ },
    { argv: ['watch', work, '--state', state, '--allowed-lateness', '60'], message: /--allowed-lateness takes a duration such as 90s/ },
    { argv: ['watch', work, '--state', state, '--allowed-lateness', '8d'], message: /at most 7d/ },
    { argv: ['watch', work, '--state', state, '--poll-interval', 'soon'], message: /--poll-interval takes a duration/ },
    { argv: ['watch', work, '--state', state, '--accounts', '111122223333'], message: /apply to s3:\/\/ watches only/ },
    { argv: ['watch', 's3://bucket', '--state', state, '--accounts', '12345'], message: /--accounts: "12345" is not a 12-digit AWS account id/ },
    { argv: ['watch', 's3://bucket', '--state', state, '--since', 'last week'], message: /--since takes a duration back from now/ },
    { argv: ['watch', work, '--state', state, '--sink', 'kafka:topic'], message: /unknown sink/ },
    { argv: ['watch', work, '--state', state, '--metrics-listen', '9464'], message: /--metrics-listen takes HOST:PORT/ },
    { argv: ['watch', 's3://bucket', '--state', state, '--endpoint-url', 'localhost:4566'], message: /--endpoint-url takes a URL/ },
    { argv: ['serve', '--state', state], message: /serve needs --listen HOST:PORT/ },
    { argv: ['serve', '--listen', '127.0.0.1:0'], message: /serve needs --state DIR/ },
  ])('$argv.0 $argv.1 …: $message', async ({ argv, message }) => {
    const saved = { f: process.env.TRAILHOUND_FIREHOSE_ACCESS_KEYS, b: process.env.TRAILHOUND_BEARER_TOKENS };
    process.env.TRAILHOUND_BEARER_TOKENS = 'bearer-token-0123456789abcdef';
    try {
      const run = await runCli(argv);
      expect(run.code).toBe(1);
      expect(run.err).toMatch(message);
    } finally {
      if (saved.b === undefined) delete process.env.TRAILHOUND_BEARER_TOKENS;
      else process.env.TRAILHOUND_BEARER_TOKENS = saved.b;
    }
  });

  it('refuses a secret that is too short, without echoing it', async () => {
    const keyFile = join(work, 'key');
    writeFileSync(keyFile, 'short-secret\n');
    const run = await runCli(['serve', '--listen', '127.0.0.1:0', '--state', state, '--firehose-access-key-file', keyFile]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/at least 16 characters/);
    expect(run.err).not.toContain('short-secret');
  });

  it('refuses an unknown key in --intake-config', async () => {
    const config = join(work, 'intake.yaml');
    writeFileSync(config, 'bearerTokens: [bearer-token-0123456789abcdef]\nmaxBodySize: 10\n');
    const run = await runCli(['serve', '--listen', '127.0.0.1:0', '--state', state, '--intake-config', config]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/unknown option maxBodySize/);
  });
});
