import { ControlFrame, DataFrame, SystemFrame } from "./frame.js";

/** Identifies one call of a tool. */
export interface FunctionCallInfo {
  readonly functionName: string;
  readonly toolCallId: string;
  readonly arguments: Record<string, unknown>;
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

/** A function call's result. Survives interruptions: a result is never lost. */
export class FunctionCallResultFrame extends DataFrame {
  static override readonly uninterruptible = true;
  constructor(
    readonly call: FunctionCallInfo,
    readonly result: unknown,
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
