/**
 * A worker thread of the store benchmark's bulk load: generates the chunks it is asked for and
 * compresses each record (the store's own compressRecord), so that the main thread only inserts.
 * Records travel compressed: `raw` is sent empty (the insert uses the compressed bytes, and every
 * generated event has an eventID, so the text is not needed to deduplicate).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compressRecord } from '../../src/store/event-compression.js';
import { StoreEventGenerator } from './generate.js';

interface Setup {
  readonly seed: string;
  readonly total: number;
  readonly chunkSize: number;
}

const setup = workerData as Setup;
const generator = new StoreEventGenerator(setup.seed, setup.total);
const port = parentPort;
if (port === null) throw new Error('generate-worker runs as a worker thread');
port.on('message', (chunk: number) => {
  const events = generator.chunk(chunk, setup.chunkSize);
  const blobs = events.map((e) => compressRecord(e.raw));
  port.postMessage({ chunk, events: events.map((e) => ({ ...e, raw: '' })), blobs });
});
