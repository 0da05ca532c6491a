/**
 * One client connection shared by a transport's input and output sides
 * (docs/design/transports.md). Reference counted: each side {@link TransportConnection.acquire}s
 * it when it starts and releases its lease when it ends, so the input side can never close what
 * the output side is still draining; the owner's `release` runs once, when the last lease goes.
 * {@link TransportConnection.close} says the connection is gone (the peer hung up, the socket
 * failed): it marks it closed at once and tells every side, so the output stops producing at once
 * instead of learning it from a failed write.
 *
 * @example
 * const connection = new TransportConnection({ name: "ws#1", release: () => socket.close() });
 * socket.on("close", () => connection.close("client disconnected"));
 * // input side:  const lease = connection.acquire("input");  … await lease.release();
 * // output side: the BaseOutputTransport does it when given { connection }.
 */
export class TransportConnection {
  readonly name: string;
  readonly #release: ((reason: string) => void | Promise<void>) | undefined;
  readonly #listeners = new Set<(reason: string) => void>();
  #holders = 0;
  #closedReason: string | undefined;
  #released: Promise<void> | undefined;

  constructor(options: { name: string; release?: (reason: string) => void | Promise<void> }) {
    this.name = options.name;
    this.#release = options.release;
  }

  /** Whether the connection is closed (by {@link close} or because every side released it). */
  get closed(): boolean {
    return this.#closedReason !== undefined;
  }

  /** Why it closed, if it did. */
  get closeReason(): string | undefined {
    return this.#closedReason;
  }

  /** Close listeners still registered (none once it closed). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Sides holding a lease. */
  get holders(): number {
    return this.#holders;
  }

  /**
   * A side starts using the connection. Release the lease when that side is done; the owner's
   * `release` runs when the last lease is released. Acquiring a closed connection is allowed
   * (the side then sees it closed at once through {@link onClose}).
   */
  acquire(side: string): ConnectionLease {
    this.#holders++;
    let released: Promise<void> | undefined;
    return {
      side,
      get released() {
        return released !== undefined;
      },
      release: (reason = `${side} done`) => {
        released ??= this.#releaseOne(reason);
        return released;
      },
    };
  }

  /**
   * The connection is gone: marks it closed now and calls every {@link onClose} listener once
   * (the output's sink is closed at once). Idempotent; the first reason is kept.
   */
  close(reason: string): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch {
        // A side's listener must not keep the others from hearing of the close.
      }
    }
  }

  /**
   * Calls `listener(reason)` once when the connection closes (on the next microtask if it is
   * already closed). Returns a function that removes it.
   */
  onClose(listener: (reason: string) => void): () => void {
    if (this.#closedReason !== undefined) {
      const reason = this.#closedReason;
      let live = true;
      queueMicrotask(() => {
        if (live) listener(reason);
      });
      return () => {
        live = false;
      };
    }
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  async #releaseOne(reason: string): Promise<void> {
    this.#holders--;
    if (this.#holders > 0 || this.#released) return this.#released;
    this.close(reason);
    this.#released = Promise.resolve(this.#release?.(reason));
    return this.#released;
  }
}

/** One side's hold on a {@link TransportConnection}. */
export interface ConnectionLease {
  /** Who holds it ("input", "output"…), for logs. */
  readonly side: string;
  /** Whether {@link release} was called. */
  readonly released: boolean;
  /**
   * This side is done. Idempotent. Resolves once the owner's `release` has run, if this was
   * the last lease (the caller bounds the wait).
   */
  release(reason?: string): Promise<void>;
}
