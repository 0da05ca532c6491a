import type { LLMContext } from "../../context/llm-context.js";
import { LLMContextError } from "../../errors.js";
import type { LLMSetToolsFrame } from "../../frames/llm.js";
import { LLMMessagesAppendFrame, LLMMessagesUpdateFrame } from "../../frames/llm.js";

/** The frames that change a context's messages or tools. */
export type ContextChangeFrame = LLMMessagesAppendFrame | LLMMessagesUpdateFrame | LLMSetToolsFrame;

/**
 * Applies `frame` to `context`. Returns the reason when the context refused it (a malformed
 * message or tool: the context is unchanged), so the caller can say it once and drop the frame
 * instead of failing once per frame.
 */
export function applyContextChange(
  context: LLMContext,
  frame: ContextChangeFrame,
): LLMContextError | undefined {
  try {
    if (frame instanceof LLMMessagesAppendFrame) context.addMessages(frame.messages);
    else if (frame instanceof LLMMessagesUpdateFrame) context.setMessages(frame.messages);
    else {
      context.setTools(frame.tools);
      if (frame.toolChoice !== undefined) context.setToolChoice(frame.toolChoice);
    }
    return undefined;
  } catch (error) {
    if (error instanceof LLMContextError) return error;
    throw error;
  }
}

/** What a processor says the first time the context refuses a kind of frame. */
export function refusedChange(
  processor: string,
  frame: ContextChangeFrame,
  error: LLMContextError,
): LLMContextError {
  return new LLMContextError(
    `${processor}: ${frame.constructor.name} was dropped: ${error.message} (later refusals of this kind are counted, not said)`,
  );
}
