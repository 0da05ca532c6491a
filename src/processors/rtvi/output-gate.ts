import type { TimerHandle } from "../../clock/clock.js";
import { type Frame, FrameDirection, SystemFrame } from "../../frames/frame.js";
import { type CancelFrame, EndFrame, type StartFrame } from "../../frames/lifecycle.js";
import { RTVIClientReadyFrame } from "../../frames/rtvi.js";
import { InvalidOptionError } from "../../errors.js";
import { FrameProcessor, type FrameProcessorOptions } from "../frame-processor.js";

/** Options of {@link RTVIOutputGate}. */
export interface RTVIOutputGateOptions extends FrameProcessorOptions {
  /**
   * Longest time output is held, in ms from the pipeline's start: if the client has not said
   * `client-ready` by then, the gate opens anyway (one warning). @default 10000
   */
  timeoutMs?: number;
}

/**
 * Holds the bot's output back until the client is ready (docs/design/rtvi.md): the official
 * client resolves `connect()` only on `bot-ready`, and a greeting played before it would reach a
 * client that is not listening yet. Put it just before the output transport.
 *
 * Until an `RTVIClientReadyFrame` passes (pushed by the RTVI processor after `bot-ready`), the
 * ordered lane waits, so audio, text and every data or control frame stay queued, in order; system
 * frames (speaking events, urgent messages, interruptions) pass at once. An interruption drops
 * what is held, as anywhere else. The gate opens for good on that frame, on an `EndFrame` (the end
 * drains), or at `timeoutMs`, whichever comes first; it never closes again.
 *
 * Does not guarantee: order between held upstream frames and held downstream ones (they share the
 * ordered lane, so an upstream data frame waits with them).
 */
export class RTVIOutputGate extends FrameProcessor {
  readonly #timeoutMs: number;
  #open = false;
  #opened: Promise<void>;
  #openNow!: () => void;
  #timer: TimerHandle | undefined;
  #openedBy: "client-ready" | "end" | "timeout" | undefined;

  constructor(options: RTVIOutputGateOptions = {}) {
    super(options);
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 1) {
      throw new InvalidOptionError(
        `RTVIOutputGate: timeoutMs must be a finite number of ms, at least 1 (got ${String(timeoutMs)})`,
      );
    }
    this.#timeoutMs = timeoutMs;
    this.#opened = new Promise<void>((resolve) => {
      this.#openNow = resolve;
    });
  }

  /** Whether output flows. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** What opened the gate: `"client-ready"`, `"end"` or `"timeout"`; undefined while closed. */
  get openedBy(): "client-ready" | "end" | "timeout" | undefined {
    return this.#openedBy;
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    // Seen on arrival, not at the head of the held lane: the end must not wait for the timeout.
    if (frame instanceof EndFrame) this.#openGate("end");
    return super.queueFrame(frame, direction);
  }

  protected override start(_frame: StartFrame): void {
    if (this.#open) return;
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      if (this.#open) return;
      this.logger.warn(
        `${this.name}: no client-ready within ${this.#timeoutMs} ms; letting output through. ` +
          "Is an RTVIProcessor upstream of this gate, and does the client speak RTVI?",
        { processor: this.name },
      );
      this.#openGate("timeout");
    }, this.#timeoutMs);
  }

  protected override cancel(_frame: CancelFrame): void {
    this.#clearTimer();
  }

  protected override cleanup(): void {
    this.#clearTimer();
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (frame instanceof RTVIClientReadyFrame) this.#openGate("client-ready");
    if (this.#open || frame instanceof SystemFrame) return super.processFrame(frame, direction);
    return waitOrAbort(this.#opened, signal).then(() => super.processFrame(frame, direction));
  }

  #openGate(by: "client-ready" | "end" | "timeout"): void {
    if (this.#open) return;
    this.#open = true;
    this.#openedBy = by;
    this.#clearTimer();
    this.#openNow();
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/** Resolves with `promise`, or rejects with `signal.reason` when it aborts first (listener removed either way). */
function waitOrAbort(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
