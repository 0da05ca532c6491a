import type { ErrorFrame } from "./error.js";
import { ControlFrame, FrameFlags, SystemFrame } from "./frame.js";
import type { OutputTransportMessageUrgentFrame } from "./transport-messages.js";

/** Pipeline-wide settings carried by {@link StartFrame}. */
export interface StartParams {
  /** Sample rate of audio entering the pipeline, in Hz. @default 16000 */
  audioInSampleRate: number;
  /** Sample rate of audio leaving the pipeline, in Hz. @default 24000 */
  audioOutSampleRate: number;
}

/** The default {@link StartParams}. */
export const DEFAULT_START_PARAMS: Readonly<StartParams> = Object.freeze({
  audioInSampleRate: 16_000,
  audioOutSampleRate: 24_000,
});

/**
 * The first frame every processor handles; nothing else is handled before it. Sent by the
 * task; never create one yourself.
 */
export class StartFrame extends SystemFrame {
  static override readonly kindFlags: number = FrameFlags.START;
  constructor(readonly params: Readonly<StartParams> = DEFAULT_START_PARAMS) {
    super();
  }
}

/**
 * Graceful end: travels in order behind everything queued, so each processor finishes its
 * work (the output transport plays what it has) before it passes on. Queued by
 * `PipelineTask.stopWhenDone()`.
 */
export class EndFrame extends ControlFrame {
  static override readonly uninterruptible = true;
  static override readonly kindFlags: number = FrameFlags.END;
}

/** Most messages a {@link CancelFrame} carries as last words. */
export const MAX_LAST_WORDS = 8;

/**
 * Immediate stop: every processor drops what it has and passes this on. Sent by `cancel()`.
 *
 * When a fatal error made the task cancel, {@link error} holds it, and the frame carries the
 * client's **last words** (docs/design/rtvi.md): a processor that speaks the client's protocol
 * adds a message in its `cancel` hook ({@link addLastWords}), and the output transport, which
 * the frame reaches after every processor before it, writes them to the client before it closes
 * (bounded by its `closeTimeoutMs`). This is the one path that reaches the client whatever state
 * the pipeline is in: a fatal error while the pipeline starts leaves processors that never opened
 * their lanes between the one that failed and the output, and nothing pushed through them arrives.
 */
export class CancelFrame extends SystemFrame {
  static override readonly kindFlags: number = FrameFlags.CANCEL;
  /** The fatal error that made the task cancel, when one did. */
  readonly error: ErrorFrame | undefined;
  readonly #lastWords: OutputTransportMessageUrgentFrame[] = [];

  constructor(
    readonly reason?: string,
    options: { error?: ErrorFrame } = {},
  ) {
    super();
    this.error = options.error;
  }

  /**
   * Adds a message for the client, written by the output transport before it closes. Call it
   * from a `cancel` hook (the output transport comes after). At most {@link MAX_LAST_WORDS};
   * returns false (and keeps nothing) past that.
   */
  addLastWords(message: OutputTransportMessageUrgentFrame): boolean {
    if (this.#lastWords.length >= MAX_LAST_WORDS) return false;
    this.#lastWords.push(message);
    return true;
  }

  /** The messages added with {@link addLastWords}, in order. */
  get lastWords(): readonly OutputTransportMessageUrgentFrame[] {
    return this.#lastWords;
  }
}

/**
 * The user barged in: every processor drops queued interruptible frames and aborts the
 * frame it is handling (unless uninterruptible); the output transport drops queued audio.
 */
export class InterruptionFrame extends SystemFrame {
  static override readonly kindFlags: number = FrameFlags.INTERRUPTION;
}

/** A processor asks the task to end gracefully (the task queues an {@link EndFrame}). */
export class EndTaskFrame extends ControlFrame {
  static override readonly uninterruptible = true;
  static override readonly kindFlags: number = FrameFlags.TASK;
  constructor(readonly reason?: string) {
    super();
  }
}

/**
 * A processor asks the task to cancel (the task calls `cancel()`). Never dropped by a full lane:
 * a request lost behind a stuck processor would leave the task running.
 */
export class CancelTaskFrame extends SystemFrame {
  static override readonly uninterruptible = true;
  static override readonly kindFlags: number = FrameFlags.TASK;
  constructor(readonly reason?: string) {
    super();
  }
}

/** A processor asks the task to interrupt (the task pushes an {@link InterruptionFrame} downstream from the head). */
export class InterruptionTaskFrame extends SystemFrame {
  static override readonly kindFlags: number = FrameFlags.TASK;
}

/**
 * Sent periodically by the task when heartbeats are on. A control frame, so it travels the
 * ordered lanes and detects a lane that has stalled.
 */
export class HeartbeatFrame extends ControlFrame {
  constructor(readonly timestampMs: number) {
    super();
  }
}
