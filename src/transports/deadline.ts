import type { Clock, TimerHandle } from "../clock/clock.js";
import { VoicepipeError } from "../errors.js";

/** Work given a deadline did not settle in time. */
export class DeadlineExceededError extends VoicepipeError {
  readonly code = "VP_DEADLINE_EXCEEDED";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} did not settle within ${timeoutMs} ms`);
  }
}

/**
 * Waits for `work` at most `timeoutMs` on `clock`: resolves with its value, rejects with its
 * error, with a {@link DeadlineExceededError} when the deadline passes first, or with
 * `signal.reason` when `signal` aborts first. The timer and the listener are removed whichever
 * comes first; a late rejection of `work` is swallowed (the caller has moved on).
 *
 * `work` may be a plain value or a function that returns one (a function that throws rejects).
 * It is not marked as real work: code doing real I/O marks it itself with `clock.track()`,
 * so a deadline on a `VirtualClock` still fires for work that never settles.
 */
export function withDeadline<T>(
  clock: Clock,
  work: Promise<T> | T | (() => Promise<T> | T),
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<T> {
  let pending: Promise<T> | T;
  try {
    pending = typeof work === "function" ? (work as () => Promise<T> | T)() : work;
  } catch (error) {
    return Promise.reject(error);
  }
  if (typeof (pending as { then?: unknown } | null | undefined)?.then !== "function") {
    return Promise.resolve(pending);
  }
  const promise = Promise.resolve(pending);
  if (signal?.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const finish = (): void => {
      timer.cancel();
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      finish();
      reject(signal?.reason);
    };
    const timer: TimerHandle = clock.setTimer(() => {
      finish();
      reject(new DeadlineExceededError(what, timeoutMs));
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}
