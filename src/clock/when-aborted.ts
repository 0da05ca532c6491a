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
 * a dozen parallel function calls or sentences in flight would reach. Callbacks run in the order
 * the waits began, as separate listeners would.
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
      // A copy: a callback may stop other waits (its own, or ones it owns) as it runs. One that
      // throws does not keep the others from running, as with separate listeners; the first
      // error is thrown after them all, where the signal reports a listener's error.
      let failed = false;
      let failure: unknown;
      for (const call of [...callbacks]) {
        if (!callbacks.delete(call)) continue;
        try {
          call();
        } catch (error) {
          if (!failed) failure = error;
          failed = true;
        }
      }
      if (failed) throw failure;
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

function stopNothing(): void {}
