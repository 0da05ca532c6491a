import { parseLLMMessage } from "../message-parse.js";
import { type LLMMessage, type LLMToolMessage, contentText } from "../messages.js";

/** The tool message made for a call that has no result in the messages. */
export const MISSING_RESULT_TEXT = "No result was recorded for this call.";

/**
 * Puts the messages in the order every provider requires around function calls: each assistant
 * message with `tool_calls` is followed at once by exactly one tool message per call, in call
 * order. A call with no result gets one saying so (`MISSING_RESULT_TEXT`); a tool message that
 * answers no call just before it becomes a user message quoting it. Messages an `LLMContext`
 * builds are already in this order and come back unchanged (the same objects).
 */
export function pairToolResults(messages: readonly LLMMessage[]): readonly LLMMessage[] {
  if (isPaired(messages)) return messages;
  const out: LLMMessage[] = [];
  let i = 0;
  while (i < messages.length) {
    const message = messages[i]!;
    i += 1;
    if (message.role === "tool") {
      out.push(orphan(message));
      continue;
    }
    out.push(message);
    if (message.role !== "assistant" || !message.tool_calls?.length) continue;
    const group: LLMToolMessage[] = [];
    while (i < messages.length && messages[i]!.role === "tool") group.push(messages[i++] as LLMToolMessage);
    const orphans: LLMMessage[] = [];
    const byId = new Map<string, LLMToolMessage>();
    for (const result of group) {
      if (byId.has(result.tool_call_id) || !message.tool_calls.some((c) => c.id === result.tool_call_id))
        orphans.push(orphan(result));
      else byId.set(result.tool_call_id, result);
    }
    for (const call of message.tool_calls)
      out.push(
        byId.get(call.id) ??
          parseLLMMessage({ role: "tool", tool_call_id: call.id, content: MISSING_RESULT_TEXT }),
      );
    out.push(...orphans);
  }
  return out;
}

function orphan(message: LLMToolMessage): LLMMessage {
  return parseLLMMessage({
    role: "user",
    content: `Result of tool call ${message.tool_call_id}: ${contentText(message.content)}`,
  });
}

function isPaired(messages: readonly LLMMessage[]): boolean {
  let expected: readonly string[] = [];
  for (const message of messages) {
    if (message.role === "tool") {
      if (expected[0] !== message.tool_call_id) return false;
      expected = expected.slice(1);
      continue;
    }
    if (expected.length > 0) return false;
    if (message.role === "assistant") expected = message.tool_calls?.map((c) => c.id) ?? [];
  }
  return expected.length === 0;
}
