import type { JsonObject } from '../core/types.js';
import type { QueryNode } from './ast.js';

/**
 * A query compiled once into a matcher (see compile.ts). The per-event path only calls `matches`.
 * `ast` is kept for analysis (fields used, required values, literals for prefilters).
 */
export interface CompiledQuery {
  /** The query text as written. */
  readonly text: string;
  readonly ast: QueryNode;
  /** True when the normalised event matches the query. Never throws on any input. */
  matches(fields: JsonObject): boolean;
}
