import type { LLMStreamEvent, LLMUsage } from "../llm-stream.js";

/**
 * Reads one chunk of an OpenAI chat-completions stream into {@link LLMStreamEvent}s
 * (docs/design/llm-services.md). The SDK hands chunks over as the server sent them, typed but
 * unchecked, and an OpenAI-compatible server can send anything JSON can carry: every field is
 * read for what it must be (a string, a whole number, a list, an object) and a field that is not
 * is left out, never converted. A tool-call fragment's `index` is passed on as sent: the
 * assembler refuses one that is not a whole number, in words.
 *
 * Only the first choice is read (one answer is asked for). `finished` says whether the chunk
 * carried a finish reason.
 */
export function readOpenAIChunk(chunk: unknown): { events: LLMStreamEvent[]; finished: boolean } {
  const events: LLMStreamEvent[] = [];
  if (!isObject(chunk)) return { events, finished: false };
  const usage = readUsage(chunk["usage"]);
  if (usage) events.push({ type: "usage", usage });
  let finished = false;
  const choices = chunk["choices"];
  for (const choice of Array.isArray(choices) ? (choices as unknown[]) : []) {
    if (!isObject(choice) || choice["index"] !== 0) continue;
    const delta = choice["delta"];
    if (isObject(delta)) {
      const content = delta["content"];
      if (typeof content === "string" && content !== "") events.push({ type: "text", text: content });
      const calls = delta["tool_calls"];
      for (const call of Array.isArray(calls) ? (calls as unknown[]) : []) {
        if (!isObject(call)) continue;
        const fn = isObject(call["function"]) ? call["function"] : {};
        events.push({
          type: "tool-call",
          // Not checked here: the assembler says what is wrong with it.
          index: call["index"] as number,
          id: text(call["id"]),
          name: text(fn["name"]),
          arguments: text(fn["arguments"]),
        });
      }
    }
    const reason = choice["finish_reason"];
    if (typeof reason === "string" && reason !== "") finished = true;
    if (reason === "length") events.push({ type: "cut-short", reason: "max-tokens" });
    if (reason === "content_filter") events.push({ type: "cut-short", reason: "filtered" });
  }
  return { events, finished };
}

/** The token counts, when the prompt's and the completion's are whole numbers ≥ 0. */
function readUsage(value: unknown): LLMUsage | undefined {
  if (!isObject(value)) return undefined;
  const prompt = count(value["prompt_tokens"]);
  const completion = count(value["completion_tokens"]);
  if (prompt === undefined || completion === undefined) return undefined;
  const promptDetails = value["prompt_tokens_details"];
  const completionDetails = value["completion_tokens_details"];
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: count(value["total_tokens"]) ?? prompt + completion,
    cachedTokens: isObject(promptDetails) ? count(promptDetails["cached_tokens"]) : undefined,
    reasoningTokens: isObject(completionDetails) ? count(completionDetails["reasoning_tokens"]) : undefined,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A token count: a whole number ≥ 0 (1e308 is a number, but no count; sums of it overflow). */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
