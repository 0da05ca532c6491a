import type { Clock } from "./clock.js";
import { whenAborted } from "./when-aborted.js";

/**
 * Resolves on the next event-loop turn (a `setImmediate`, run after the I/O of this turn), not on
 * a timer: Node rounds a timer due now up to 1 ms and fires it only in the next turn's timers
 * phase, which puts 1–2 ms (more on a busy machine) on a wait that is already over. The wait is
 * marked with `clock.track()`, so a virtual clock moves no time while it is pending, as for the
 * lanes' yields (docs/design/clock.md). Rejects with `signal.reason` when `signal` aborts first;
 * the immediate and the listener go either way.
 */
export function nextTurn(clock: Clock, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return clock.track(
    new Promise<void>((resolve, reject) => {
      const handle = setImmediate(() => {
        stopWaiting?.();
        resolve();
      });
      const stopWaiting = signal
        ? whenAborted(signal, () => {
            clearImmediate(handle);
            reject(signal.reason);
          })
        : undefined;
    }),
  );
}
