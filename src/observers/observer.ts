import type { Frame, FrameDirection } from "../frames/frame.js";
import type { FrameProcessor } from "../processors/frame-processor.js";

/** A frame pushed from one processor to the next. */
export interface FramePushedEvent {
  /** The processor that pushed it. */
  readonly source: FrameProcessor;
  /** The processor it went to, when known. */
  readonly destination: FrameProcessor | undefined;
  readonly frame: Frame;
  readonly direction: FrameDirection;
  /** When it was pushed, in ms on the task clock. */
  readonly timestampMs: number;
}

/**
 * Watches a task from the side: it sees every frame pushed between processors, but cannot
 * change or delay them. Events reach an observer asynchronously through a bounded buffer
 * (see {@link ObserverDispatcher}): a slow or hung observer loses events (counted), never
 * blocks the pipeline and never makes memory grow.
 */
export interface Observer {
  /** Name for logs. */
  readonly name?: string;
  /** A frame was pushed. May return a promise; the next event waits for it. */
  onPushFrame?(event: FramePushedEvent): void | Promise<void>;
  /** The task has finished; no more events follow. */
  onPipelineFinished?(): void | Promise<void>;
}
