import { ControlFrame, FrameFlags, SystemFrame } from "./frame.js";

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

/** Immediate stop: every processor drops what it has and passes this on. Sent by `cancel()`. */
export class CancelFrame extends SystemFrame {
  static override readonly kindFlags: number = FrameFlags.CANCEL;
  constructor(readonly reason?: string) {
    super();
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
