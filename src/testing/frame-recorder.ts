import { type Frame, FrameDirection } from "../frames/frame.js";
import { FrameProcessor } from "../processors/frame-processor.js";

/**
 * A pass-through processor (direct mode) that records every frame travelling in `direction`
 * past it, lifecycle frames included. Put one anywhere in a pipeline to see what flows there.
 */
export class FrameRecorder extends FrameProcessor {
  /** Frames seen, in order. */
  readonly frames: Frame[] = [];

  constructor(
    readonly direction: FrameDirection = FrameDirection.DOWNSTREAM,
    options: { name?: string } = {},
  ) {
    super({ name: options.name, direct: true });
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    if (direction === this.direction) this.frames.push(frame);
    return super.queueFrame(frame, direction);
  }

  /** Recorded frames that are instances of `type`. */
  ofType<T extends Frame>(type: abstract new (...args: never[]) => T): T[] {
    return this.frames.filter((f): f is T => f instanceof type);
  }
}
