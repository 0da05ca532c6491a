/**
 * voicepipe's error family. Every error has a literal `code` that callers match on
 * (it survives two copies of the package), a message that says what was wrong and what to do,
 * and a `cause` when it wraps another error.
 */
export abstract class VoicepipeError extends Error {
  abstract readonly code: string;

  /**
   * @param options.stack `false` for control-flow errors made by the thousand (every teardown,
   * every interruption) whose stack says nothing: capturing one costs more than the rest of the
   * teardown.
   */
  constructor(message: string, options?: { cause?: unknown; stack?: false }) {
    const limit = Error.stackTraceLimit;
    if (options?.stack === false) Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
    this.name = new.target.name;
  }
}

/** Work was offered to a task after `stopWhenDone()` or `cancel()`. */
export class TaskClosedError extends VoicepipeError {
  readonly code = "VP_TASK_CLOSED";
  constructor(
    readonly task: string,
    readonly how: "ending" | "cancelled" | "finished",
  ) {
    super(`${task} is ${how} and accepts no more frames; create a new PipelineTask for new work`);
  }
}

/** The lifecycle stage a deadline belongs to. */
export type TimeoutStage = "start" | "end" | "cancel" | "cleanup";

/** A lifecycle deadline fired. `processor` names who held the task up. */
export class LifecycleTimeoutError extends VoicepipeError {
  readonly code = "VP_LIFECYCLE_TIMEOUT";
  constructor(
    readonly stage: TimeoutStage,
    readonly processor: string | undefined,
    readonly waitedMs: number,
    then: string,
  ) {
    super(`${processor ?? "the pipeline"} did not finish the ${stage} stage within ${waitedMs} ms; ${then}`);
  }
}

/** The reason given to an `AbortSignal` when an interruption aborts in-flight work. */
export class InterruptedError extends VoicepipeError {
  readonly code = "VP_INTERRUPTED";
  constructor(readonly processor: string) {
    super(`${processor}: work aborted by an interruption`, { stack: false });
  }
}

/** The reason given to an `AbortSignal` when a processor is cancelled or cleaned up. */
export class CancelledError extends VoicepipeError {
  readonly code = "VP_CANCELLED";
  constructor(
    readonly processor: string,
    reason?: string,
  ) {
    super(`${processor}: cancelled${reason ? ` (${reason})` : ""}`, { stack: false });
  }
}

/** An exception thrown by a processor's frame handler or lifecycle hook. */
export class ProcessorError extends VoicepipeError {
  readonly code = "VP_PROCESSOR_ERROR";
  constructor(
    readonly processor: string,
    readonly during: string,
    cause: unknown,
  ) {
    super(`${processor} threw while ${during}: ${describe(cause)}`, { cause });
  }
}

/** A configuration value is out of range or of the wrong type. */
export class InvalidOptionError extends VoicepipeError {
  readonly code = "VP_INVALID_OPTION";
}

/** Linking processors went wrong (a processor used twice, a pipeline linked into itself…). */
export class PipelineLinkError extends VoicepipeError {
  readonly code = "VP_PIPELINE_LINK";
}

/**
 * The API was used in a way that cannot work: a processor pushing a lifecycle frame only the
 * task may send, a pipeline given to a second task, a frame queued where it has no meaning.
 * Thrown at the point of misuse; the message says what to do instead.
 */
export class MisuseError extends VoicepipeError {
  readonly code = "VP_MISUSE";
}

/**
 * An LLM context, message, tool schema or tool-call record is malformed, or cannot be expressed for
 * the provider it is converted for. The message names the message (by index) or tool and says
 * what to change.
 */
export class LLMContextError extends VoicepipeError {
  readonly code = "VP_LLM_CONTEXT";
}

/** A short text for any thrown value. */
export function describe(error: unknown): string {
  // What user code throws can be anything: a message that is not a string, an object whose
  // toString throws. Saying what failed must never fail itself.
  try {
    if (error instanceof Error)
      return typeof error.message === "string" ? error.message : String(error.message);
    return String(error);
  } catch {
    return "a value that cannot be shown as text";
  }
}
