/**
 * Checking live engine state that comes from outside the process (the state store, a file):
 * `parseLiveEngineState` turns `unknown` into a `LiveEngineState` or says what is wrong with it,
 * checking the per-group engine states with `parseEngineState`. A state straight from `snapshot()`
 * needs no check.
 */
import { z } from 'zod';
import { fail, ok } from '../core/types.js';
import type { Diagnostic, JsonObject, Result } from '../core/types.js';
import { LIVE_ENGINE_STATE_VERSION } from './live-types.js';
import type { LiveEngineState } from './live-types.js';
import { newValueHistorySchema } from './new-value.js';
import { parseEngineState } from './state.js';
import type { EngineState } from './types.js';
import { signalSchema } from '../core/signal-schema.js';
import { isJsonObject } from '../core/json.js';

export const LIVE_ENGINE_STATE_ERROR = 'E_LIVE_ENGINE_STATE';

const HINT = 'The saved live engine state is damaged or from another version: delete it to start from an empty state (events already delivered are not evaluated again).';

const jsonObject = z.custom<JsonObject>(isJsonObject, 'expected a JSON object');
const count = z.number().int().nonnegative();
const counts = z.record(z.string(), count);
const time = z.number().finite();
/** Checked afterwards with `parseEngineState`. */
const engineState = z.custom<EngineState>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'expected an engine state');


const eventSchema = z.object({
  seq: count,
  time,
  key: z.string(),
  eventId: z.string().nullable(),
  fields: jsonObject,
  origin: z.object({ source: z.string(), index: count }),
});

const countersSchema = z.object({
  eventsIngested: count,
  invalidEvents: count,
  futureEvents: count,
  eventsMatched: count,
  matchedByRule: counts,
  missingGroupByRule: counts,
  duplicates: count,
  lateEvents: count,
  tooLateEvents: count,
  outOfOrderEvents: count,
  replays: count,
  replayedEvents: count,
  signalsCreated: count,
  signalsUpdated: count,
  signalsRenamed: count,
  signalsOrphaned: count,
  renderErrors: count,
  evaluationErrors: count,
  rulesSkippedAsDisabled: count,
  rulesSkippedAsDuplicateId: count,
});

const stateSchema = z.object({
  version: z.literal(LIVE_ENGINE_STATE_VERSION),
  allowedLatenessMs: time,
  newestEventMs: time.nullable(),
  watermarkMs: time.nullable(),
  nextSeq: count,
  hasFinished: z.boolean(),
  recentEventIds: z.array(z.tuple([z.string(), time])),
  dedupPrunedAtMs: time.nullable(),
  groups: z.array(
    z.object({
      ruleId: z.string(),
      key: z.string(),
      engine: engineState,
      evaluatedToMs: time.nullable(),
      checkpoints: z.array(z.object({ ms: time, engine: engineState })),
      tentative: z.array(eventSchema),
      incoming: z.array(eventSchema),
      signals: z.array(z.object({ batchId: z.string(), signal: signalSchema })),
    }),
  ),
  incomingOrder: z.array(count),
  newValues: newValueHistorySchema,
  counters: countersSchema,
});

/** Check untrusted state (e.g. `JSON.parse` of a saved snapshot) before `restoreLiveEngine`. */
export function parseLiveEngineState(value: unknown): Result<LiveEngineState> {
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) {
    return fail(parsed.error.issues.slice(0, 20).map((issue) => diagnostic(issue.message, issue.path.map(String).join('.'))));
  }
  const diagnostics: Diagnostic[] = [];
  parsed.data.groups.forEach((group, i) => {
    const parts: readonly (readonly [string, unknown])[] = [['engine', group.engine], ...group.checkpoints.map((c, j): [string, unknown] => [`checkpoints.${j}.engine`, c.engine])];
    for (const [name, inner] of parts) {
      const checked = parseEngineState(inner);
      if (!checked.ok) for (const d of checked.diagnostics) diagnostics.push(diagnostic(d.message, `groups.${i}.${name}${d.path ? `.${d.path}` : ''}`));
    }
  });
  if (diagnostics.length > 0) return fail(diagnostics.slice(0, 20));
  const state: LiveEngineState = parsed.data;
  return ok(state);
}

function diagnostic(message: string, path: string): Diagnostic {
  return { code: LIVE_ENGINE_STATE_ERROR, severity: 'error', message, path, hint: HINT };
}
