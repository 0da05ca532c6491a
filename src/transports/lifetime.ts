import { CancelledError } from "../errors.js";

/**
 * Everything a transport starts, in one place, so that nothing it starts can outlive its end,
 * cancel or teardown, whatever point its start had reached. Each resource is registered with
 * {@link Lifetime.defer} the moment it exists; {@link Lifetime.close} aborts {@link signal}
 * (every wait of the start gives up), then disposes the resources, last registered first. A
 * resource registered after the close (a start that was still awaiting something) is disposed
 * at once and never used.
 */
export class Lifetime {
  readonly #abort = new AbortController();
  readonly #disposers: Array<(reason: string) => void | Promise<void>> = [];
  #closing: Promise<void> | undefined;
  #reason: string | undefined;

  constructor(
    private readonly name: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Aborted (with a `CancelledError`) when the lifetime starts closing. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Why it closed: "end", "cancel", "teardown"… */
  get reason(): string | undefined {
    return this.#reason;
  }

  /**
   * Registers `dispose` to run when the lifetime closes. On a closed lifetime it runs at once
   * and `false` is returned: the caller must not use the resource.
   */
  defer(dispose: (reason: string) => void | Promise<void>): boolean {
    if (this.#closing) {
      void this.#run(dispose, this.#reason ?? "closed");
      return false;
    }
    this.#disposers.push(dispose);
    return true;
  }

  /** Aborts the signal and disposes everything, last registered first. Idempotent. */
  close(reason: string): Promise<void> {
    if (!this.#closing) {
      this.#reason = reason;
      this.#abort.abort(new CancelledError(this.name, reason));
      this.#closing = this.#disposeAll(reason);
    }
    return this.#closing;
  }

  async #disposeAll(reason: string): Promise<void> {
    for (let d = this.#disposers.pop(); d; d = this.#disposers.pop()) await this.#run(d, reason);
  }

  async #run(dispose: (reason: string) => void | Promise<void>, reason: string): Promise<void> {
    try {
      await dispose(reason);
    } catch (error) {
      this.onError(error);
    }
  }
}
