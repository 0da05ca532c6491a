import { setImmediate as nextTurn } from "node:timers/promises";
import type { Frame } from "../frames/frame.js";
import type { Logger } from "../logger.js";
import type { FramePushedEvent, ObservedFrameClass, Observer } from "./observer.js";

const YIELD_EVERY = 256;
const MIN_CAPACITY = 16;

/** Bounds of an {@link ObserverDispatcher}. */
export interface ObserverDispatcherLimits {
  /** Ring size of a lossy observer (no `frameTypes`). */
  bufferSize: number;
  /** Most events a lossless observer may fall behind by before it is detached. */
  maxBacklog: number;
}

/**
 * Delivers events to one observer without ever blocking the pipeline (docs/design/observers.md).
 * Events wait in a ring buffer; a delivery loop hands them over one at a time, waiting for an
 * observer's promise before the next, and yields every few hundred events, so it blocks on the
 * buffer or the observer and cannot starve the event loop.
 *
 * A lossless observer (one that declares `frameTypes`) gets every event it asked for: its ring
 * grows as needed up to `maxBacklog`; past that the observer is detached with an error. A lossy
 * one keeps at most `bufferSize` events and drops the oldest (counted, logged once).
 * @internal
 */
export class ObserverDispatcher {
  readonly lossless: boolean;
  readonly #types: readonly ObservedFrameClass[] | undefined;
  readonly #wantedByClass = new WeakMap<object, boolean>();
  readonly #limit: number;
  #buffer: Array<FramePushedEvent | undefined>;
  #head = 0;
  #size = 0;
  #running = false;
  #closed = false;
  #finishing = false;
  /** Events dropped because a lossy observer fell behind. */
  dropped = 0;
  /** Events delivered. */
  delivered = 0;
  /** Whether a lossless observer fell `maxBacklog` behind and was detached. */
  detached = false;

  constructor(
    readonly observer: Observer,
    private readonly logger: Logger,
    limits: ObserverDispatcherLimits,
  ) {
    this.#types = observer.frameTypes;
    this.lossless = this.#types !== undefined;
    this.#limit = this.lossless ? limits.maxBacklog : limits.bufferSize;
    this.#buffer = new Array<FramePushedEvent | undefined>(this.lossless ? MIN_CAPACITY : this.#limit);
  }

  /** Events waiting for delivery. */
  get buffered(): number {
    return this.#size;
  }

  /** Whether the observer asked for `frame` (cheap: called for every push). */
  wants(frame: Frame): boolean {
    if (this.#closed || !this.observer.onPushFrame) return false;
    const types = this.#types;
    if (types === undefined) return true;
    // The answer depends on the frame's class only: worked out once per class (a WeakMap, so
    // nothing grows with the session), not with a list of instanceof checks on every push.
    const cls = frame.constructor;
    let wanted = this.#wantedByClass.get(cls);
    if (wanted === undefined) {
      wanted = types.some((type) => frame instanceof type);
      this.#wantedByClass.set(cls, wanted);
    }
    return wanted;
  }

  /** Queues an event. Never blocks, never throws. */
  push(event: FramePushedEvent): void {
    if (this.#closed) return;
    if (this.#size === this.#buffer.length) {
      if (this.lossless) {
        if (this.#size >= this.#limit) return this.#detach();
        this.#grow();
      } else {
        this.#buffer[this.#head] = undefined;
        this.#head = (this.#head + 1) % this.#buffer.length;
        this.#size--;
        if (this.dropped++ === 0) {
          this.logger.warn(
            `observer ${this.#name()} is falling behind; dropping its oldest events (declare frameTypes for lossless delivery)`,
            { observer: this.#name() },
          );
        }
      }
    }
    this.#buffer[(this.#head + this.#size) % this.#buffer.length] = event;
    this.#size++;
    this.#wake();
  }

  /**
   * The task has finished: a lossless observer still gets what is buffered, then
   * `onPipelineFinished`; a lossy one loses its buffer and gets `onPipelineFinished` at once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#finishing = true;
    if (!this.lossless) this.#clear();
    if (this.#running) return; // the delivery loop calls onPipelineFinished when it drains
    this.#finish();
  }

  async #deliver(): Promise<void> {
    // Start on a later turn: the push that woke us is inside a processor's call.
    await Promise.resolve();
    let burst = 0;
    while (this.#size > 0) {
      const event = this.#buffer[this.#head]!;
      this.#buffer[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#buffer.length;
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
    if (this.#finishing) this.#finish();
  }

  #wake(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#deliver();
  }

  #finish(): void {
    if (!this.#finishing) return;
    this.#finishing = false;
    this.#call(() => this.observer.onPipelineFinished?.());
  }

  #detach(): void {
    this.detached = true;
    this.#closed = true;
    this.#clear();
    this.logger.error(
      `observer ${this.#name()} fell ${this.#limit} events behind the frames it asked for and was detached; ` +
        "an observer must keep up with its frameTypes (or raise observerMaxBacklog)",
      { observer: this.#name() },
    );
  }

  #grow(): void {
    const old = this.#buffer;
    const next = new Array<FramePushedEvent | undefined>(Math.min(old.length * 2, this.#limit));
    for (let k = 0; k < this.#size; k++) next[k] = old[(this.#head + k) % old.length];
    this.#buffer = next;
    this.#head = 0;
  }

  #clear(): void {
    this.#buffer = new Array<FramePushedEvent | undefined>(this.lossless ? MIN_CAPACITY : this.#limit);
    this.#head = 0;
    this.#size = 0;
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
