/** The waits on one signal: one listener on the signal calls them all. */
interface Waiters {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

const waitersBySignal = new WeakMap<AbortSignal, Waiters>();

/**
 * Calls `callback` once when `signal` aborts (at once if it already has); returns a function
 * that stops waiting, to call when the wait ends another way.
 *
 * However many waits share a signal, the signal holds at most one listener, removed when the
 * last wait stops. A task's or a lane's signal is shared by every wait under it (deadlines,
 * sleeps, requests, TTS pieces), and Node prints a `MaxListenersExceededWarning` ("possible
 * EventTarget memory leak") once an `AbortSignal` holds more than 10 listeners of one type, which
 * a dozen parallel function calls or sentences in flight would reach. The waits' callbacks run
 * together, in the order the waits began, where the signal's listener was added (by the first of
 * them): a listener someone else added to the signal between two waits runs after both, not
 * between them. A callback that throws is reported as a throwing listener is (an uncaught
 * exception, after the dispatch) and does not keep the others from running.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return stopNothing;
  }
  let waiters = waitersBySignal.get(signal);
  if (waiters === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      waitersBySignal.delete(signal);
      // A copy: a callback may stop other waits (its own, or ones it owns) as it runs.
      for (const call of [...callbacks]) {
        if (!callbacks.delete(call)) continue;
        try {
          call();
        } catch (error) {
          // As a throwing listener's error is: reported on its own, after the dispatch, and
          // without keeping the other waits from being called.
          process.nextTick(rethrow, error);
        }
      }
    };
    waiters = { callbacks, listener };
    waitersBySignal.set(signal, waiters);
    signal.addEventListener("abort", listener, { once: true });
  }
  const { callbacks, listener } = waiters;
  // A wrapper per wait: the same callback may wait twice, and each stop removes only its own.
  const entry = (): void => callback();
  callbacks.add(entry);
  return () => {
    if (!callbacks.delete(entry) || callbacks.size > 0) return;
    signal.removeEventListener("abort", listener);
    if (waitersBySignal.get(signal)?.listener === listener) waitersBySignal.delete(signal);
  };
}

/**
 * `work`'s outcome, or a rejection with `signal.reason` as soon as `signal` aborts (at once if it
 * already has). No timer of its own: whoever owns `signal` bounds the wait. `work` is left to
 * settle on its own.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const stopWaiting = whenAborted(signal, () => reject(signal.reason as Error));
    work.then(
      (value) => {
        stopWaiting();
        resolve(value);
      },
      (error: unknown) => {
        stopWaiting();
        reject(error as Error);
      },
    );
  });
}

function stopNothing(): void {}

function rethrow(error: unknown): never {
  throw error;
}
