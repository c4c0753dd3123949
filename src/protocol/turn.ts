// SPDX-License-Identifier: MIT
/**
 * End-of-turn flushing, shared by everything that batches its output.
 *
 * Whatever produced output during one event-loop turn (answers resolved by
 * one upstream read, a batch of cache hits, a notification fan-out) asks to
 * be flushed; one setImmediate for the whole process, not one per session or
 * per answer, then lets each write what it gathered as one Buffer. The check
 * phase runs right after the poll phase of the same loop iteration, so this
 * adds no measurable latency while turning N writes (N string encodes, N
 * syscalls) into one.
 */

export interface Flushable {
  /** Writes what was gathered this turn. Called once per request to be flushed. */
  flushTurn(): void;
}

let queue: Flushable[] = [];
let scheduled = false;

function runTurn(): void {
  scheduled = false;
  const due = queue;
  queue = [];
  for (const f of due) {
    try {
      f.flushTurn();
    } catch {
      // One transport failing to write (a socket destroyed under it) must not cost the others their turn.
    }
  }
}

/** Asks for `f.flushTurn()` at the end of this turn; the caller makes sure it asks once per turn. */
export function flushAtEndOfTurn(f: Flushable): void {
  queue.push(f);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runTurn);
  }
}
