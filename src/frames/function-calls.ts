import type { JsonObject, JsonValue } from "../context/json.js";
import { ControlFrame, DataFrame, SystemFrame } from "./frame.js";

/** Identifies one call of a tool. */
export interface FunctionCallInfo {
  readonly functionName: string;
  readonly toolCallId: string;
  /** The arguments the model sent, parsed (checked against the tool's schema by the function-call runner). */
  readonly arguments: JsonObject;
}

/** The LLM asked for these calls. */
export class FunctionCallsStartedFrame extends SystemFrame {
  constructor(readonly calls: readonly FunctionCallInfo[]) {
    super();
  }
}

/** A function call is running. Survives interruptions so the context stays consistent. */
export class FunctionCallInProgressFrame extends ControlFrame {
  static override readonly uninterruptible = true;
  constructor(
    readonly call: FunctionCallInfo,
    readonly cancelOnInterruption = true,
  ) {
    super();
  }
}

/**
 * A function call's result. Survives interruptions: a result is never lost. The result is JSON
 * data; a string is recorded in the context as it is, anything else as its JSON text.
 * `runLlm`: whether the LLM should answer once every call of its group has a result (false for
 * a result the conversation need not react to).
 */
export class FunctionCallResultFrame extends DataFrame {
  static override readonly uninterruptible = true;
  constructor(
    readonly call: FunctionCallInfo,
    readonly result: JsonValue,
    readonly runLlm = true,
  ) {
    super();
  }
}

/** A function call was cancelled (by an interruption or a timeout). */
export class FunctionCallCancelFrame extends SystemFrame {
  constructor(readonly call: FunctionCallInfo) {
    super();
  }
}
