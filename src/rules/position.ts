import type { SourcePosition } from '../core/types.js';

/** 1-based line and column of `offset` (a UTF-16 index, clamped to the text) in `text`. */
export function positionInText(text: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
