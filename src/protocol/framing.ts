// SPDX-License-Identifier: MIT
/**
 * Newline framing for Electrum's raw-socket transports (TCP and TLS).
 *
 * Each message ends with "\n"; "\r\n" is accepted because Fulcrum and some
 * wallets send it. A line longer than `maxLineBytes` is never buffered whole:
 * the framer reports it once and discards bytes up to the next newline, so a
 * hostile peer cannot make it hold more than `maxLineBytes` in memory.
 *
 * Between complete lines it holds nothing (`idle`): a transport may drop it
 * then and make a new one for the next partial line, so a quiet session
 * keeps no framer at all.
 */

export type FrameEvent =
  | { readonly kind: 'line'; readonly line: Buffer }
  | { readonly kind: 'oversize'; readonly bytes: number };

export class LineFramer {
  /** The pieces of the current partial line; null when there is none. */
  private parts: Buffer[] | null = null;
  private buffered = 0;
  /** Bytes of an oversize line seen so far, while skipping to its newline. */
  private skipping = 0;

  constructor(private readonly maxLineBytes: number) {
    if (!(maxLineBytes > 0)) throw new RangeError('maxLineBytes must be positive');
  }

  /** Bytes held while waiting for the end of the current line. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Nothing held: no partial line, no oversize line being skipped. */
  get idle(): boolean {
    return this.parts === null && this.skipping === 0;
  }

  /** Feeds bytes from the socket; returns the complete lines (without "\n" or "\r\n") and oversize reports. */
  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.skipping > 0) {
        this.skipping += piece.length;
        if (nl !== -1) {
          this.skipping = 0;
        }
      } else if (this.buffered + piece.length > this.maxLineBytes) {
        this.skipping = this.buffered + piece.length;
        this.parts = null;
        this.buffered = 0;
        events.push({ kind: 'oversize', bytes: this.skipping });
        if (nl !== -1) this.skipping = 0;
      } else if (nl === -1) {
        // Copy: the socket may reuse its buffer, and we keep only what we need.
        (this.parts ??= []).push(Buffer.from(piece));
        this.buffered += piece.length;
      } else {
        let line = this.parts === null ? piece : Buffer.concat([...this.parts, piece]);
        this.parts = null;
        this.buffered = 0;
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
        events.push({ kind: 'line', line });
      }
      if (nl === -1) break;
      start = nl + 1;
    }
    return events;
  }
}
