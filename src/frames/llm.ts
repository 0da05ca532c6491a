import { ControlFrame, DataFrame } from "./frame.js";

/** An OpenAI-shaped chat message. */
export interface LLMMessage {
  role: "system" | "user" | "assistant" | "tool" | "developer";
  content: unknown;
  [key: string]: unknown;
}

/** Run the LLM on its current context. */
export class LLMRunFrame extends DataFrame {}

/** Append messages to the LLM context (and optionally run). */
export class LLMMessagesAppendFrame extends DataFrame {
  constructor(
    readonly messages: readonly LLMMessage[],
    readonly runLlm = false,
  ) {
    super();
  }
}

/** Replace the LLM context's messages (and optionally run). */
export class LLMMessagesUpdateFrame extends DataFrame {
  constructor(
    readonly messages: readonly LLMMessage[],
    readonly runLlm = false,
  ) {
    super();
  }
}

/** Set the tools the LLM may call. */
export class LLMSetToolsFrame extends DataFrame {
  constructor(readonly tools: readonly unknown[]) {
    super();
  }
}

/** A whole LLM context, for the LLM service to run. */
export class LLMContextFrame extends DataFrame {
  constructor(readonly context: unknown) {
    super();
  }
}

/** Marks the start of an LLM response. */
export class LLMFullResponseStartFrame extends ControlFrame {}

/** Marks the end of an LLM response. */
export class LLMFullResponseEndFrame extends ControlFrame {}
