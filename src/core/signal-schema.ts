/**
 * The `Signal` shape as a schema, for signals that come back from outside the process: engine
 * snapshots restored from JSON and signals read back from a store. One definition, so a field added
 * to `Signal` is added here once.
 */
import { z } from 'zod';
import { SEVERITIES } from './types.js';
import type { Signal } from './types.js';

const count = z.number().int().nonnegative();

export const signalSchema = z.object({
  id: z.string(),
  ruleId: z.string(),
  ruleName: z.string(),
  severity: z.enum(SEVERITIES),
  caseName: z.string(),
  title: z.string(),
  message: z.string(),
  group: z.record(z.string(), z.string()),
  host: z.string().nullable(),
  firstSeen: z.iso.datetime(),
  lastSeen: z.iso.datetime(),
  eventCount: count,
  queryCounts: z.record(z.string(), count),
  eventIds: z.array(z.string()),
  tags: z.array(z.string()),
  updates: count,
  steps: z.record(z.string(), z.array(z.string())).exactOptional(),
  actors: z.array(z.object({ arn: z.string().nullable(), sessionName: z.string().nullable() })).exactOptional(),
  status: z.literal('suppressed').exactOptional(),
  suppression: z
    .object({
      reason: z.string(),
      source: z.string(),
      name: z.string().exactOptional(),
      owner: z.string().exactOptional(),
      expires: z.string().exactOptional(),
    })
    .exactOptional(),
  replacedBy: z.array(z.string()).exactOptional(),
}) satisfies z.ZodType<Signal>;
