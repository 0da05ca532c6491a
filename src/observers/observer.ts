import type { Frame, FrameDirection } from "../frames/frame.js";
import type { FrameProcessor } from "../processors/frame-processor.js";

/** A frame class, for {@link Observer.frameTypes}. */
export type ObservedFrameClass = abstract new (...args: never[]) => Frame;

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
 * Watches a task from the side: it sees the frames pushed between processors, but cannot change
 * or delay them. Events reach an observer asynchronously, in order, one at a time (the next waits
 * for the promise `onPushFrame` returns), so an observer never blocks the pipeline
 * (docs/design/observers.md).
 *
 * Two kinds, by what they declare:
 * - **Lossless**, with {@link frameTypes}: only frames of those classes are delivered, and every
 *   one of them is. A client protocol or a transcript follows frames this way. Memory stays
 *   bounded because the frames it asks for come at the pace of a conversation, not of audio; an
 *   observer that falls `observerMaxBacklog` events behind anyway is detached with an error (it
 *   is broken), never silently thinned out.
 * - **Lossy**, without it: every frame, audio included, through a ring of `observerBufferSize`
 *   events; an observer that falls behind loses the oldest (counted, logged once). For debugging
 *   and metrics sampling.
 */
export interface Observer {
  /** Name for logs. */
  readonly name?: string;
  /** The frame classes to deliver (checked with `instanceof`); declaring them makes delivery lossless. */
  readonly frameTypes?: readonly ObservedFrameClass[];
  /** A frame was pushed. May return a promise; the next event waits for it. */
  onPushFrame?(event: FramePushedEvent): void | Promise<void>;
  /** The task has finished; no more events follow (a lossless observer gets its backlog first). */
  onPipelineFinished?(): void | Promise<void>;
}
