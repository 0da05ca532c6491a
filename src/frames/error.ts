import { FrameFlags, SystemFrame } from "./frame.js";

/**
 * An error, pushed upstream to the task. `fatal` errors end the task (it is cancelled); others
 * are reported through the task's `pipelineError` event and the pipeline keeps running. Never
 * dropped by a full lane (a fatal error lost behind a stuck processor would never end the task);
 * errors are said once and then counted, so they stay few.
 */
export class ErrorFrame extends SystemFrame {
  static override readonly uninterruptible = true;
  static override readonly kindFlags: number = FrameFlags.TASK;
  constructor(
    readonly error: Error,
    readonly options: { fatal?: boolean; processor?: string } = {},
  ) {
    super();
  }

  get fatal(): boolean {
    return this.options.fatal ?? false;
  }

  /** Name of the processor that reported it, when known. */
  get processor(): string | undefined {
    return this.options.processor;
  }
}
