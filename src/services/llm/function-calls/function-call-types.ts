import type { Clock } from "../../../clock/clock.js";
import type { JsonValue } from "../../../context/json.js";
import type { LLMContext } from "../../../context/llm-context.js";
import type { FunctionSchema, ToolArguments } from "../../../context/tools.js";
import type { FunctionCallInfo } from "../../../frames/function-calls.js";
import type { Logger } from "../../../logger.js";

/**
 * What a function handler gets besides its arguments (docs/design/function-calls.md).
 */
export interface FunctionCallContext {
  /** The call: function name, tool call id, and the arguments as the model sent them. */
  readonly call: FunctionCallInfo;
  /**
   * Aborted when the call must stop: its timeout passed, an interruption cancelled it (only with
   * `cancelOnInterruption`), the pipeline was cancelled, or it ended and the call outlived the
   * end's wait. Hand it to every request the handler makes. Whatever the handler returns after
   * it aborted is dropped.
   */
  readonly signal: AbortSignal;
  /** The conversation the call was made in (read it; the result is recorded by the assistant aggregator). */
  readonly context: LLMContext;
  /**
   * The task's clock. Under a `VirtualClock`, wrap real I/O in `clock.track()` (or
   * `deadline(…, { io: true })`) so the call's timeout does not fire in virtual time while it runs.
   */
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Runs one call of a tool: gets the arguments, checked against the tool's schema and typed from
 * it, and returns the result as JSON data (a string is given to the model as it is, anything else
 * as its JSON text). Throwing answers the model with the error's message (never its stack).
 */
export type FunctionHandler<T extends FunctionSchema = FunctionSchema> = (
  args: ToolArguments<T>,
  call: FunctionCallContext,
) => JsonValue | Promise<JsonValue>;

/** Options of one registered function. */
export interface RegisterFunctionOptions {
  /**
   * Longest run of one call, in ms. Past it the handler's signal aborts and the model gets a
   * result saying the function timed out, so it can tell the user.
   * @default the service's `functionCalls.timeoutMs` (10000)
   */
  timeoutMs?: number;
  /**
   * Cancel a running call when the user interrupts: its signal aborts, a `FunctionCallCancelFrame`
   * is sent both ways, and what it returns later is dropped. `false` for calls whose result
   * matters after the conversation moved on (a booking): the result is pushed when it comes.
   * @default true
   */
  cancelOnInterruption?: boolean;
  /** Whether the LLM should answer once the call's group has its results. @default true */
  runLlm?: boolean;
  /**
   * Add the tool's schema to the service's context (replacing a tool of the same name), so the
   * model is offered it. `false` when the tools are set some other way (`LLMSetToolsFrame`, the
   * context's constructor).
   * @default true
   */
  addToContext?: boolean;
}

/** The service-wide function-call settings (`functionCalls` in the LLM service's options). */
export interface FunctionCallSettings {
  /** Timeout of a call whose function sets none, in ms. @default 10000 */
  timeoutMs?: number;
  /** Run the calls one at a time, in the order the model made them, instead of all at once. @default false */
  sequential?: boolean;
  /**
   * Most calls unsettled at once (running or waiting their turn). A call past it is answered at
   * once with a result saying too many calls are running, and its handler is not run.
   * @default 64
   */
  maxInFlight?: number;
  /**
   * At the end of the pipeline (`EndFrame`), longest wait for running calls to settle, in ms.
   * Calls still running then are aborted and cancelled (`FunctionCallCancelFrame`). Keep it
   * under the task's `endTimeoutMs`.
   * @default 5000
   */
  endWaitMs?: number;
}
