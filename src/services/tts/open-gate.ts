/**
 * "Is the provider's socket open?" as something a piece can wait for: a service opens the gate in
 * its socket's `onOpen` and closes it in `onDisconnect`; a `synthesize` that starts while the
 * socket reconnects (Cartesia closes idle sockets after 5 minutes) waits here instead of losing
 * its text. No timer: the base's stall deadline bounds the wait.
 */
export class OpenGate {
  #open = false;
  readonly #waiters = new Set<() => void>();

  get isOpen(): boolean {
    return this.#open;
  }

  opened(): void {
    this.#open = true;
    for (const wake of [...this.#waiters]) wake();
  }

  closed(): void {
    this.#open = false;
  }

  /** Resolves when open (at once if it is); rejects with `signal.reason` on abort, or `failure()` when it returns one. */
  wait(signal: AbortSignal, failure: () => Error | undefined): Promise<void> {
    if (this.#open) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.#waiters.delete(wake);
        signal.removeEventListener("abort", onAbort);
      };
      const wake = (): void => {
        done();
        const error = failure();
        if (error) reject(error);
        else resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      const error = failure();
      if (error) return reject(error);
      this.#waiters.add(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Wakes every waiter (they re-check `failure()`): the socket gave up. */
  failed(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** A bounded set of ids, oldest forgotten first: contexts cancelled recently, whose late audio is dropped. */
export class RecentIds {
  readonly #ids = new Set<string>();
  constructor(readonly max: number) {}

  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.max) this.#ids.delete(this.#ids.values().next().value!);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  get size(): number {
    return this.#ids.size;
  }
}
