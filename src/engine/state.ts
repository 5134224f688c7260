/**
 * Checking engine state that comes from outside the process (a file, Redis): `parseEngineState`
 * turns `unknown` into an `EngineState` or says what is wrong with it. A state straight from
 * `snapshot()` needs no check and can go to `restoreEngine` as it is.
 */
import { z } from 'zod';
import { fail, ok } from '../core/types.js';
import type { Diagnostic, JsonObject, Result } from '../core/types.js';
import { newValueHistorySchema } from './new-value.js';
import { ENGINE_STATE_VERSION } from './types.js';
import type { EngineState } from './types.js';
import { signalSchema } from '../core/signal-schema.js';
import { isJsonObject } from '../core/json.js';

export const ENGINE_STATE_ERROR = 'E_ENGINE_STATE';

const jsonObject = z.custom<JsonObject>(isJsonObject, 'expected a JSON object');
const count = z.number().int().nonnegative();
const counts = z.record(z.string(), count);
const time = z.number();
const order = { seq: count, time, key: z.string() };


/** A sequence group's step state (types.ts `SequenceGroupState`). */
const sequenceSchema = z.object({
  entries: z.array(
    z.object({
      ...order,
      ref: z.string(),
      queries: z.array(z.string()),
      host: z.string().nullable(),
      arn: z.string().nullable(),
      sessionName: z.string().nullable(),
      signalId: z.string().nullable(),
    }),
  ),
  fires: z.array(z.object({ step: z.string(), ...order, chain: z.array(z.array(count)) })),
});

const statsSchema = z.object({
  eventsIngested: count,
  eventsMatched: count,
  matchedByRule: counts,
  missingGroupByRule: counts,
  duplicates: count,
  invalidEvents: count,
  lateEvents: count,
  evaluations: count,
  signalsCreated: count,
  signalsUpdated: count,
  signalsClosed: count,
  renderErrors: count,
  evaluationErrors: count,
  rulesSkippedAsDisabled: count,
  rulesSkippedAsDuplicateId: count,
});

const stateSchema = z.object({
  version: z.literal(ENGINE_STATE_VERSION),
  watermarkMs: z.number().nullable(),
  hasReachedEnd: z.boolean(),
  nextSeq: count,
  seenEventIds: z.array(z.string()),
  pending: z.array(
    z.object({
      ...order,
      eventId: z.string().nullable(),
      fields: jsonObject,
      matches: z.array(z.object({ ruleId: z.string(), queries: z.array(z.string()), groupValues: z.array(z.string()) })),
    }),
  ),
  groups: z.array(
    z.object({
      ruleId: z.string(),
      groupValues: z.array(z.string()),
      window: z.array(
        z.object({
          ...order,
          ref: z.string(),
          queries: z.array(z.string()),
          host: z.string().nullable(),
          signalId: z.string().nullable(),
          aggregates: z.record(z.string(), z.union([z.array(z.string()), z.number().finite()])).optional(),
        }),
      ),
      open: z
        .object({
          signalId: z.string(),
          firstSeenMs: time,
          lastSeenMs: time,
          latest: z.object({ ...order, fields: jsonObject }),
          hostFrom: z.object(order).nullable(),
        })
        .nullable(),
      hasLateEntries: z.boolean(),
      sequence: sequenceSchema.exactOptional(),
    }),
  ),
  signals: z.array(signalSchema),
  stats: statsSchema,
  newValues: newValueHistorySchema.optional(),
});

/** Check untrusted state (e.g. `JSON.parse` of a saved snapshot) before `restoreEngine`. */
export function parseEngineState(value: unknown): Result<EngineState> {
  const parsed = stateSchema.safeParse(value);
  if (parsed.success) {
    const state: EngineState = parsed.data;
    return ok(state);
  }
  const diagnostics: Diagnostic[] = parsed.error.issues.slice(0, 20).map((issue) => ({
    code: ENGINE_STATE_ERROR,
    severity: 'error',
    message: issue.message,
    path: issue.path.map(String).join('.'),
    hint: 'The saved engine state is damaged or from another version: delete it to start from an empty state.',
  }));
  return fail(diagnostics);
}
