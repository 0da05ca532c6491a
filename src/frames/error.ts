import { SystemFrame } from "./frame.js";

/**
 * An error, pushed upstream to the task. `fatal` errors end the task (it is cancelled); others
 * are reported through the task's `pipelineError` event and the pipeline keeps running.
 */
export class ErrorFrame extends SystemFrame {
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
