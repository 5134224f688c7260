/**
 * UTF-8 bytes → text, chunk by chunk, with a fast path for ASCII: a chunk that is pure ASCII (and
 * does not continue a character cut at the end of the previous chunk) is decoded as Latin-1, which
 * is the same text at a fraction of the cost, and is flagged so that the splitter can take
 * characters for bytes. Anything else goes through a streaming TextDecoder (a BOM is kept: the
 * splitter skips it and counts its bytes).
 */
import { Buffer, isAscii } from 'node:buffer';

export class ChunkDecoder {
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  /** The TextDecoder may hold the start of a character cut at the end of the last chunk. */
  private mayHoldBytes = false;
  /** Whether the text of the last `decode` is pure ASCII (one character per byte). */
  isLastAscii = false;

  decode(bytes: Uint8Array): string {
    if (!this.mayHoldBytes && isAscii(bytes)) {
      this.isLastAscii = true;
      const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return buffer.toString('latin1');
    }
    this.isLastAscii = false;
    this.mayHoldBytes = !endsOnCharacterBoundary(bytes);
    return this.decoder.decode(bytes, { stream: true });
  }

  /** The end of the input: a character left unfinished becomes U+FFFD. */
  end(): string {
    this.isLastAscii = false;
    this.mayHoldBytes = false;
    return this.decoder.decode();
  }
}

/**
 * False when the bytes may end inside a UTF-8 sequence (a lead byte followed by fewer continuation
 * bytes than it announces, or only continuation bytes). May say false when unsure; never says true
 * wrongly.
 */
export function endsOnCharacterBoundary(bytes: Uint8Array): boolean {
  let i = bytes.length - 1;
  let continuations = 0;
  while (i >= 0 && continuations < 4 && ((bytes[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    continuations++;
  }
  if (i < 0) return continuations === 0;
  const lead = bytes[i] ?? 0;
  if (lead < 0x80) return continuations === 0;
  const needed = (lead & 0xe0) === 0xc0 ? 1 : (lead & 0xf0) === 0xe0 ? 2 : (lead & 0xf8) === 0xf0 ? 3 : 0;
  return continuations >= needed;
}
