/**
 * Test support: a local S3 (s3rver) on 127.0.0.1 with an ephemeral port and a temporary data folder.
 * It runs in a child process started with `node --openssl-legacy-provider`, which Node 20 needs for
 * s3rver's continuation tokens (paged listings use a DES cipher); the child prints its port and is
 * killed on `close()` (and exits by itself when this process goes away). Clients come from
 * `createS3Client`, so the checksum settings the source uses in production are the ones tested.
 * s3rver accepts continuation tokens only for region us-east-1, which `client()` uses. One s3rver
 * bug is patched in the child: listings with a Delimiter missed keys nested two folders or more below
 * the prefix (the CloudTrail layout is all such keys).
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/sources/s3.js';

/** s3rver's default credentials; it checks request signatures. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// Runs in the child: start s3rver from the config in the environment, print the port, exit with stdin.
const CHILD = `
const config = JSON.parse(process.env.TRAILHOUND_S3RVER_CONFIG);
const S3rver = require(config.module);
// s3rver 3.7 does not walk below the first folder under the prefix when a delimiter is given, so keys
// two or more folders down never show up as common prefixes. List without the delimiter and group here.
const FilesystemStore = require(require('node:path').join(require('node:path').dirname(config.module), 'stores', 'filesystem.js'));
const listObjects = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function (bucket, options) {
  if (!options.delimiter) return listObjects.call(this, bucket, options);
  const all = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const prefix = options.prefix || '';
  const objects = [];
  const prefixes = new Set();
  let isTruncated = false;
  for (const object of all.objects) {
    const at = object.key.indexOf(options.delimiter, prefix.length);
    if (at !== -1) prefixes.add(object.key.slice(0, at + options.delimiter.length));
    else if (objects.length < options.maxKeys) objects.push(object);
    else { isTruncated = true; break; }
  }
  return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
};
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: config.directory, configureBuckets: config.buckets.map((name) => ({ name })) });
server.run().then((address) => {
  process.stdout.write(JSON.stringify({ port: address.port }) + '\\n');
}, (error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export interface S3FakeOptions {
  readonly buckets?: readonly string[];
  readonly startTimeoutMs?: number;
}

export class S3Fake {
  readonly endpoint: string;

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, Readable>,
    readonly port: number,
    readonly directory: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  static async start(options: S3FakeOptions = {}): Promise<S3Fake> {
    const require = createRequire(import.meta.url);
    let module: string;
    try {
      module = require.resolve('s3rver');
    } catch {
      throw new Error('s3rver is not installed (npm install --save-dev s3rver)');
    }
    const directory = mkdtempSync(join(tmpdir(), 'trailhound-s3rver-'));
    const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
      env: { ...process.env, TRAILHOUND_S3RVER_CONFIG: JSON.stringify({ module, directory, buckets: options.buckets ?? [] }) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${options.startTimeoutMs ?? 10_000} ms: ${err.trim()}`)), options.startTimeoutMs ?? 10_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const line = out.split('\n')[0];
          if (out.includes('\n') && line !== undefined) {
            clearTimeout(timer);
            const parsed = JSON.parse(line) as { port?: unknown };
            if (typeof parsed.port === 'number') resolve(parsed.port);
            else reject(new Error(`s3rver printed no port: ${line}`));
          }
        });
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
        child.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`s3rver exited with code ${code}: ${err.trim()}`));
        });
      });
      return new S3Fake(child, port, directory);
    } catch (error) {
      child.kill('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /** A real SDK client pointed at the fake (path-style, checksums only when required). */
  client(): S3Client {
    return createS3Client({ region: 'us-east-1', endpoint: this.endpoint, forcePathStyle: true, credentials: CREDENTIALS });
  }

  async createBucket(name: string, client: S3Client = this.client()): Promise<void> {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  }

  async putObject(bucket: string, key: string, body: string | Uint8Array, client: S3Client = this.client()): Promise<void> {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  /** Put many objects with a few requests in flight at once. */
  async putObjects(bucket: string, objects: readonly { key: string; body: string | Uint8Array }[], client: S3Client = this.client()): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < objects.length) {
        const object = objects[next++];
        if (object) await this.putObject(bucket, object.key, object.body, client);
      }
    };
    await Promise.all(Array.from({ length: 8 }, () => worker()));
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.directory, { recursive: true, force: true });
  }
}
