import type { Clock } from "../clock/clock.js";
import type { Frame, FrameDirection } from "../frames/frame.js";
import type { Logger } from "../logger.js";
import type { FrameProcessor } from "./frame-processor.js";

/**
 * What a task hands every processor before `StartFrame` (one clock per task: docs/design/clock.md).
 * Created by `PipelineTask`; the test kit makes one for you.
 */
export interface ProcessorContext {
  /** The task's clock. Read time and schedule waits only through it. */
  readonly clock: Clock;
  /** Where to log. */
  readonly logger: Logger;
  /** Name of the task, for logs. */
  readonly taskName: string;
  /**
   * Called for every frame any processor pushes (observers, idle detection, end progress).
   * Must be cheap and must not throw.
   */
  readonly onPush: ((source: FrameProcessor, frame: Frame, direction: FrameDirection) => void) | undefined;
  /**
   * Tells the task that the pipeline's end is still making progress (e.g. the output transport
   * played a chunk), so `endTimeoutMs` counts from now.
   */
  reportProgress(): void;
  /**
   * Settles when the pipeline has started (every processor ready, `StartFrame` through): true;
   * or false if the task finished without starting. A source that produces on its own (a file
   * played at clock pace) waits for it, so nothing is produced into a pipeline still starting.
   */
  readonly pipelineStarted: Promise<boolean>;
}
