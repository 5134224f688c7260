/**
 * Worker thread of the corpus generator: writes the files it is sent, one at a time, and answers
 * each with its result (see corpus.ts). Loads the templates once.
 */
import { parentPort } from 'node:worker_threads';
import type { FileSpec } from './plan.js';
import { createWriterContext, writeCorpusFile } from './write-file.js';

export interface WorkerRequest {
  readonly spec: FileSpec;
  readonly root: string;
}

const port = parentPort;
if (port) {
  const ctx = createWriterContext();
  port.on('message', (request: WorkerRequest) => {
    writeCorpusFile(request.spec, request.root, ctx).then(
      (result) => port.postMessage({ ok: true, result }),
      (error: unknown) => port.postMessage({ ok: false, message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}
