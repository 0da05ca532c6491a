import { setImmediate as nextTurn } from "node:timers/promises";
import type { Logger } from "../logger.js";
import type { FramePushedEvent, Observer } from "./observer.js";

const YIELD_EVERY = 256;

/**
 * Delivers events to one observer without ever blocking the pipeline: events go into a ring
 * buffer of `capacity`; a delivery loop hands them over one at a time, waiting for an
 * observer's promise before the next. When the buffer is full, the oldest event is dropped
 * and counted. The loop blocks on the buffer or the observer, and yields every few hundred
 * events, so it cannot starve the event loop.
 */
export class ObserverDispatcher {
  readonly #buffer: Array<FramePushedEvent | undefined>;
  #head = 0;
  #size = 0;
  #running = false;
  #closed = false;
  /** Events dropped because the observer fell behind. */
  dropped = 0;
  /** Events delivered. */
  delivered = 0;

  constructor(
    readonly observer: Observer,
    private readonly logger: Logger,
    readonly capacity = 1024,
  ) {
    this.#buffer = new Array<FramePushedEvent | undefined>(capacity);
  }

  /** Events waiting for delivery. */
  get buffered(): number {
    return this.#size;
  }

  /** Queues an event; drops the oldest one when full. Never blocks, never throws. */
  push(event: FramePushedEvent): void {
    if (this.#closed || !this.observer.onPushFrame) return;
    if (this.#size === this.capacity) {
      this.#buffer[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
      this.#size--;
      if (this.dropped++ === 0) {
        this.logger.warn(`observer ${this.#name()} is falling behind; dropping its oldest events`, {
          observer: this.#name(),
        });
      }
    }
    this.#buffer[(this.#head + this.#size) % this.capacity] = event;
    this.#size++;
    if (!this.#running) {
      this.#running = true;
      void this.#deliver();
    }
  }

  /** Stops delivery: what is buffered is dropped, then `onPipelineFinished` is called (not awaited). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer.fill(undefined);
    this.#size = 0;
    this.#call(() => this.observer.onPipelineFinished?.());
  }

  async #deliver(): Promise<void> {
    // Start on a later turn: the push that woke us is inside a processor's call.
    await Promise.resolve();
    let burst = 0;
    while (this.#size > 0 && !this.#closed) {
      const event = this.#buffer[this.#head]!;
      this.#buffer[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
      this.#size--;
      const pending = this.#call(() => this.observer.onPushFrame!(event));
      this.delivered++;
      if (pending) await pending;
      if (++burst >= YIELD_EVERY) {
        burst = 0;
        await nextTurn();
      }
    }
    this.#running = false;
  }

  #call(fn: () => void | Promise<void> | undefined): Promise<void> | undefined {
    try {
      const result = fn();
      if (result instanceof Promise) return result.catch((error: unknown) => this.#report(error));
    } catch (error) {
      this.#report(error);
    }
    return undefined;
  }

  #report(error: unknown): void {
    this.logger.error(`observer ${this.#name()} threw`, { observer: this.#name(), error });
  }

  #name(): string {
    return this.observer.name ?? this.observer.constructor.name;
  }
}
