import { setImmediate as nextTurn } from "node:timers/promises";
import { VirtualTimeExceededError } from "../../src/index.js";
import type { VirtualClock } from "../../src/index.js";

/** Pending file-system requests of this process (fs callbacks, fs/promises, file closes). */
export function pendingFsRequests(): number {
  return process.getActiveResourcesInfo().filter((n) => n.startsWith("FSReq") || n === "CloseReq").length;
}

/**
 * Lets real event-loop turns pass (without moving virtual time) until no file-system request is
 * pending and promise chains have settled. Gives up after `maxTurns` turns.
 */
export async function settleIo(clock: VirtualClock, maxTurns = 20_000): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < maxTurns; i++) {
    await nextTurn();
    if (pendingFsRequests() === 0) {
      await clock.settle();
      if (pendingFsRequests() === 0 && ++quiet >= 2) return;
    } else {
      quiet = 0;
    }
  }
}

/**
 * Like `VirtualClock.runUntil(promise)`, for code that does real file I/O while it runs on the
 * virtual clock: before each timer fires, waits (in real time) until no file request is pending.
 * So a write that takes real time never looks stalled in virtual time, and the outcome does not
 * depend on how fast the disk is. Throws when `maxMs` of virtual time pass or nothing is left
 * that could settle `until`.
 */
export async function runUntilWithIo<T>(
  clock: VirtualClock,
  until: Promise<T>,
  options: { maxMs?: number } = {},
): Promise<T> {
  const limit = clock.now() + (options.maxMs ?? 600_000);
  let done = false;
  until.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (;;) {
    await settleIo(clock);
    if (done) return until;
    const next = clock.nextTimerAt();
    if (next === undefined) {
      throw new VirtualTimeExceededError(
        `runUntilWithIo: not settled at virtual time ${clock.now()} ms and no timer is pending (deadlock)`,
      );
    }
    if (next > limit) {
      throw new VirtualTimeExceededError(
        `runUntilWithIo: not settled at virtual time ${clock.now()} ms; the next timer (${next} ms) is past the limit`,
      );
    }
    await clock.advanceTo(next);
  }
}
