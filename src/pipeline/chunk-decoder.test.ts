import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkDecoder, endsOnCharacterBoundary } from './chunk-decoder.js';

function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const at of points) {
    pieces.push(bytes.subarray(from, at));
    from = at;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

describe('decoding chunks of UTF-8', () => {
  it.each([
    { text: '{"Records":[]}', isAscii: true },
    { text: 'Ünïcødé ☃ 中文 𝄞😀', isAscii: false },
    { text: '\uFEFF{"a":1}', isAscii: false },
  ])('$text decodes whole, ASCII is flagged: $isAscii', ({ text, isAscii }) => {
    const decoder = new ChunkDecoder();
    expect(decoder.decode(Buffer.from(text, 'utf8')) + decoder.end()).toBe(text);
    const again = new ChunkDecoder();
    again.decode(Buffer.from(text, 'utf8'));
    expect(again.isLastAscii).toBe(isAscii);
  });

  it('any text cut anywhere decodes to itself, the same as a TextDecoder (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        const decoder = new ChunkDecoder();
        let out = '';
        for (const piece of split(bytes, cuts)) {
          const decoded = decoder.decode(piece);
          if (decoder.isLastAscii) expect(decoded.length).toBe(piece.length);
          out += decoded;
        }
        expect(out + decoder.end()).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes, valid or not, cut anywhere, decode as one TextDecoder would (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        const decoder = new ChunkDecoder();
        let out = '';
        for (const piece of split(bytes, cuts)) out += decoder.decode(Buffer.from(piece));
        expect(out + decoder.end()).toBe(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a boundary is only claimed where a TextDecoder holds nothing back (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        if (!endsOnCharacterBoundary(bytes)) return;
        const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
        decoder.decode(bytes, { stream: true });
        expect(decoder.decode()).toBe('');
      }),
      { numRuns: 5000 },
    );
  });
});
