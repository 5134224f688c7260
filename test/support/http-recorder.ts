/**
 * A local HTTP server on 127.0.0.1 that records every request (method, path, headers, body) and
 * answers as the test says: a status per request, a delay, or held answers released by the test.
 * For the network sinks (webhook, Slack, PagerDuty) and the outbox delivery runner.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The status this request was answered with. */
  readonly status: number;
  readonly atMs: number;
}

export interface Answer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface HttpRecorder {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in arrival order (answered or not). */
  readonly requests: RecordedRequest[];
  /** Requests answered with a 2xx. */
  accepted(): RecordedRequest[];
  /** Holds every answer until the returned function is called. */
  hold(): () => void;
  /** Resolves once `count` requests have been received. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderOptions {
  /** Port to listen on (default a free one): a restarted server takes the same port. */
  readonly port?: number;
  /** The answer to the request (0-based `index` among all received); default 200 `{"ok":true}`. */
  readonly answer?: (request: { readonly index: number; readonly body: string; readonly path: string }) => Answer;
}

export async function startHttpRecorder(options: RecorderOptions = {}): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  let gate: Promise<void> | undefined;
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const index = requests.length;
        const path = req.url ?? '/';
        const answer = options.answer?.({ index, body, path }) ?? { status: 200, body: '{"ok":true}' };
        const record: RecordedRequest = { method: req.method ?? '', path, headers: req.headers, body, status: answer.status, atMs: Date.now() };
        requests.push(record);
        for (const wake of waiters) wake();
        if (gate !== undefined) await gate;
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body ?? '');
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    port,
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    hold() {
      let release: () => void = () => undefined;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    waitForRequests(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${String(count)} requests, got ${String(requests.length)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
