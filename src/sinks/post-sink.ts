/**
 * The shape every network sink shares: one HTTP POST per signal change, in order, one after
 * another; a failure stops the call (the changes before it count as delivered, see
 * `SinkDeliveryError.delivered`) and, as for every sink, makes later calls reject. The delivery
 * runner (src/pipeline/outbox-delivery.ts) then opens the sink again for its next attempt.
 */
import { SinkDeliveryError, postJson } from './http-post.js';
import type { HttpPostOptions } from './http-post.js';
import { DeliveryQueue } from './sink.js';
import type { SignalChange, SignalSink } from './sink.js';

/** One request to send for a change. */
export interface PostRequest {
  readonly url: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A sink posting `requestsOf(change)` for each change (none: nothing to send for it, e.g. an update
 * Slack is not told about). `name` is safe to print (no secret).
 */
export function createPostingSink(name: string, requestsOf: (change: SignalChange) => readonly PostRequest[], options: HttpPostOptions = {}): SignalSink {
  const queue = new DeliveryQueue();
  let isClosed = false;
  return {
    name,
    deliver(changes: readonly SignalChange[]): Promise<void> {
      if (isClosed) return Promise.reject(new SinkDeliveryError(`cannot deliver to ${name}: the sink is closed`));
      if (changes.length === 0) return Promise.resolve();
      return queue.run(async () => {
        for (const [index, change] of changes.entries()) {
          try {
            for (const request of requestsOf(change)) await postJson(request.url, request.body, request.headers ?? {}, name, options);
          } catch (error) {
            if (error instanceof SinkDeliveryError) throw error.after(index);
            // Building the request failed: it would fail again the same way, so it is not retried.
            throw new SinkDeliveryError(`cannot deliver to ${name}: ${error instanceof Error ? error.message : String(error)}`, { delivered: index, isPermanent: true, cause: error });
          }
        }
      });
    },
    async close(): Promise<void> {
      isClosed = true;
      await queue.idle();
    },
  };
}
