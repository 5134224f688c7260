/**
 * The parsed form of a query. Plain, serialisable data: analysis (analyse.ts) and compilation
 * (compile.ts) both walk it. `column` is the 1-based column of the node's first character in the
 * query text, for diagnostics that point at a term.
 */
import type { GlobPart } from './glob.js';
import type { CompareOperator } from './lexer.js';

export type { CompareOperator } from './lexer.js';

/** The attributes written without `@`; their values compare case-insensitively. */
export const RESERVED_ATTRIBUTES = ['source', 'host', 'service', 'status'] as const;
export type ReservedAttribute = (typeof RESERVED_ATTRIBUTES)[number];

export function isReservedAttribute(name: string): name is ReservedAttribute {
  return (RESERVED_ATTRIBUTES as readonly string[]).includes(name);
}

export interface FieldRef {
  /** Dot-separated attribute path without `@` (`requestParameters.instanceId`, `source`). */
  readonly path: string;
  /** As written in the query (`@evt.name`, `source`). */
  readonly written: string;
  /** A reserved attribute written without `@`: its values compare case-insensitively. */
  readonly isReserved: boolean;
}

interface NodeBase {
  readonly column: number;
}

/** The empty query, `*`, or a free-text `*`: matches every event. */
export interface MatchAllNode extends NodeBase {
  readonly kind: 'all';
}

export interface AndNode extends NodeBase {
  readonly kind: 'and';
  readonly children: readonly QueryNode[];
}

export interface OrNode extends NodeBase {
  readonly kind: 'or';
  readonly children: readonly QueryNode[];
}

/** `NOT x`, `-x` or `!x`. */
export interface NotNode extends NodeBase {
  readonly kind: 'not';
  readonly child: QueryNode;
}

/**
 * `@field:value`: some value of the field equals the text (no wildcards in `pattern`) or matches
 * the wildcard pattern. `isPhrase` records that it was quoted (wildcards are then literal).
 */
export interface TermNode extends NodeBase {
  readonly kind: 'term';
  readonly field: FieldRef;
  readonly pattern: readonly GlobPart[];
  readonly isPhrase: boolean;
}

/** `@field:*`: the field has a present value. */
export interface ExistsNode extends NodeBase {
  readonly kind: 'exists';
  readonly field: FieldRef;
}

/** `@field:>5`, `@field:<=2024-01-01`. */
export interface CompareNode extends NodeBase {
  readonly kind: 'compare';
  readonly field: FieldRef;
  readonly operator: CompareOperator;
  readonly bound: string;
}

/** `@field:[1 TO 5]` (inclusive), `{1 TO 5}` (exclusive), mixed brackets allowed; `*` is an open end (null). */
export interface RangeNode extends NodeBase {
  readonly kind: 'range';
  readonly field: FieldRef;
  readonly lower: string | null;
  readonly upper: string | null;
  readonly isLowerInclusive: boolean;
  readonly isUpperInclusive: boolean;
}

/** `CIDR(@field, 10.0.0.0/8, …)`. Blocks are validated by the parser. */
export interface CidrNode extends NodeBase {
  readonly kind: 'cidr';
  readonly field: FieldRef;
  readonly blocks: readonly string[];
}

/**
 * Free text. A bare word or phrase (`isWholeValue` false) matches when any scalar value anywhere in
 * the event contains it; `*:value` (`isWholeValue` true) when any scalar value matches it entirely.
 * Both are case-insensitive.
 */
export interface TextNode extends NodeBase {
  readonly kind: 'text';
  readonly pattern: readonly GlobPart[];
  readonly isPhrase: boolean;
  readonly isWholeValue: boolean;
}

export type QueryNode = MatchAllNode | AndNode | OrNode | NotNode | TermNode | ExistsNode | CompareNode | RangeNode | CidrNode | TextNode;

/** Nodes that read one attribute. */
export type FieldNode = TermNode | ExistsNode | CompareNode | RangeNode | CidrNode;

export function isFieldNode(node: QueryNode): node is FieldNode {
  return node.kind === 'term' || node.kind === 'exists' || node.kind === 'compare' || node.kind === 'range' || node.kind === 'cidr';
}
