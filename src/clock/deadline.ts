import { VoicepipeError } from "../errors.js";
import type { Clock } from "./clock.js";
import { whenAborted } from "./when-aborted.js";

/** A wait passed its deadline. `what` says which wait; `timeoutMs` how long it was given. */
export class DeadlineExceededError extends VoicepipeError {
  readonly code = "VP_DEADLINE_EXCEEDED";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} did not settle within ${timeoutMs} ms`);
  }
}

/** Options of {@link deadline}. */
export interface DeadlineOptions {
  /** Aborts the wait early; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * The work is real I/O (a socket, a file, a model load): mark it with `clock.track()`, so a
   * virtual clock fires no timer, this deadline included, while it is in flight
   * (docs/design/clock.md). Leave it off for waits on the pipeline itself. @default false
   */
  io?: boolean;
}

/**
 * Waits for `work` for at most `timeoutMs` on `clock`: resolves with its value, or rejects with
 * a {@link DeadlineExceededError} naming `what`, or with `signal.reason` when `signal` aborts
 * first. The timer and the abort listener are removed however it ends. Pass a function to give
 * the work a signal that aborts when the deadline fires or `signal` aborts, so it can release
 * what it holds (close the socket it was opening).
 *
 * This is the one way voicepipe waits on anything that can hang: use it instead of a
 * hand-written `Promise.race` with a timer.
 *
 * @example
 * const socket = await deadline(clock, (signal) => connect(url, { signal }), 5_000, "connecting to the STT service", { io: true });
 */
export function deadline<T>(
  clock: Clock,
  work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
  timeoutMs: number,
  what: string,
  options: DeadlineOptions = {},
): Promise<T> {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`deadline: timeoutMs for "${what}" must be a finite number ≥ 0 (got ${timeoutMs})`);
  }
  const outer = options.signal;
  if (outer?.aborted) return Promise.reject(outer.reason);
  // Only work that takes a signal gets one: an AbortController is costly on Node 20, and a wait
  // on a promise already under way (the task's own waits) has nobody to tell.
  const inner = typeof work === "function" ? new AbortController() : undefined;
  let promise: Promise<T>;
  try {
    promise = inner ? (work as (signal: AbortSignal) => Promise<T>)(inner.signal) : (work as Promise<T>);
  } catch (error) {
    return Promise.reject(error);
  }
  if (options.io) promise = clock.track(promise);
  return new Promise<T>((resolve, reject) => {
    const finish = (): void => {
      timer.cancel();
      stopWaiting();
    };
    const timer = clock.setTimer(() => {
      stopWaiting();
      const error = new DeadlineExceededError(what, timeoutMs);
      inner?.abort(error);
      reject(error);
    }, timeoutMs);
    const stopWaiting = outer
      ? whenAborted(outer, () => {
          timer.cancel();
          inner?.abort(outer.reason);
          reject(outer.reason);
        })
      : noop;
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

function noop(): void {}
