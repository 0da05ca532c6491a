import type { JsonValue } from "./json.js";
import type { LLMMessage, LLMToolCall, LLMToolCallStatus, LLMToolMessage } from "./messages.js";

/**
 * The texts the model reads for a call that has no result yet, or never will. They are plain
 * sentences rather than codes so a model that was never told about them still understands.
 */
export const TOOL_CALL_IN_PROGRESS_TEXT =
  "The function is still running; its result will be added here when it arrives.";
/** The tool message text of a cancelled call. */
export const TOOL_CALL_CANCELLED_TEXT = "The function call was cancelled; there is no result.";

/** The system note appended when a result arrives after the conversation moved past its call. */
export function lateResultNote(name: string, id: string): string {
  return `The result of the earlier ${name} call (${id}) has arrived; it is now in that call's tool message above.`;
}

/** A result as the text of a tool message: a string as it is, anything else as JSON. */
export function resultText(result: JsonValue): string {
  return typeof result === "string" ? result : JSON.stringify(result);
}

/** Where a call's tool message sits, and what else is known about it. */
export interface ToolCallLocation {
  /** Index of the tool message holding the call's result or placeholder. */
  readonly resultIndex: number;
  readonly message: LLMToolMessage;
  readonly call: LLMToolCall;
  /**
   * Whether a user or assistant message follows the call's results: the conversation moved on. A
   * system or developer message does not count: the note saying another call's late result
   * arrived is one, and it must not make the calls after it late too.
   */
  readonly movedOn: boolean;
}

/** The status a tool message records (absent means it holds a result). */
export function statusOf(message: LLMToolMessage): LLMToolCallStatus {
  return message.status ?? "completed";
}

/**
 * Finds the tool message for call `id`, and the call it answers, searching from the end (the call
 * is most likely recent). O(messages); contexts are short or bounded by `maxMessages`.
 */
export function findToolCall(messages: readonly LLMMessage[], id: string): ToolCallLocation | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role !== "tool" || message.tool_call_id !== id) continue;
    let movedOn = false;
    for (let j = i + 1; j < messages.length && !movedOn; j++) movedOn = movesOn(messages[j]!);
    for (let k = i - 1; k >= 0; k--) {
      const owner = messages[k]!;
      if (owner.role === "tool") continue;
      const call = owner.role === "assistant" ? owner.tool_calls?.find((c) => c.id === id) : undefined;
      return call ? { resultIndex: i, message, call, movedOn } : undefined;
    }
    return undefined;
  }
  return undefined;
}

/** A user's words or an assistant's answer: the conversation went on past what came before. */
function movesOn(message: LLMMessage): boolean {
  return message.role === "user" || message.role === "assistant";
}

/** Whether any message already uses tool call id `id`. */
export function hasToolCallId(messages: readonly LLMMessage[], id: string): boolean {
  return messages.some(
    (m) =>
      (m.role === "tool" && m.tool_call_id === id) ||
      (m.role === "assistant" && m.tool_calls?.some((c) => c.id === id)),
  );
}

/**
 * The index of the assistant message whose tool calls end the context, when that answer had no
 * text and none of its calls has a result yet (every tool message after it is `in_progress`):
 * text the assistant aggregator commits then is what was said before those calls. Otherwise -1.
 */
export function wordlessPendingToolCalls(messages: readonly LLMMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === "tool") {
      if (message.status !== "in_progress") return -1;
      continue;
    }
    const wordless = message.content === null || message.content === "";
    return message.role === "assistant" && (message.tool_calls?.length ?? 0) > 0 && wordless ? i : -1;
  }
  return -1;
}
