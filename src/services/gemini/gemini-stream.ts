import { type JsonObject, isJsonObjectValue } from "../../context/json.js";
import { EventStreamError } from "../http/http-errors.js";
import type { ServerSentEvent } from "../http/event-stream.js";
import type { LLMStreamEvent, LLMUsage } from "../llm/llm-stream.js";

/** An error object sent in a Gemini stream instead of a response chunk. */
export class GeminiStreamErrorEvent extends Error {
  override readonly name = "GeminiStreamErrorEvent";
  constructor(
    /** The HTTP-like code the error carries (e.g. 503), when it has one. */
    readonly code: number | undefined,
    /** The status name, e.g. `UNAVAILABLE`. */
    readonly status: string | undefined,
    readonly providerMessage: string,
  ) {
    super(`${status ?? code ?? "error"}: ${providerMessage}`);
  }
}

/** Gemini refused the prompt itself (`promptFeedback.blockReason`), so no candidate came. */
export class GeminiPromptBlockedError extends Error {
  override readonly name = "GeminiPromptBlockedError";
  constructor(readonly blockReason: string) {
    super(`Gemini blocked the prompt (blockReason ${blockReason})`);
  }
}

/** A function call of the answer, with what must go back to Gemini with it. */
export interface GeminiCallSignature {
  readonly id: string;
  readonly thoughtSignature: string;
}

/**
 * Turns the chunks of a Gemini `streamGenerateContent?alt=sse` stream (each a
 * `GenerateContentResponse`; docs/design/llm-services.md, "Gemini") into {@link LLMStreamEvent}s.
 * Text parts → text (thought summaries left out); each `functionCall` part → one whole tool call
 * (Gemini does not fragment them) with the part's id, or `<idPrefix>_<n>` when it has none;
 * `usageMetadata` → the usage at the end ({@link usage}). An `error` object throws
 * {@link GeminiStreamErrorEvent}; a blocked prompt {@link GeminiPromptBlockedError}; a chunk that
 * is not a JSON object `EventStreamError`. One per request.
 */
export class GeminiStreamTranslator {
  readonly #idPrefix: string;
  #calls = 0;
  #finished = false;
  #usage: JsonObject | undefined;
  /** Thought signatures of this answer's calls, to be sent back with them. */
  readonly signatures: GeminiCallSignature[] = [];

  constructor(idPrefix: string) {
    this.#idPrefix = idPrefix;
  }

  /** A candidate carried a `finishReason`: the answer is complete. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The stream events one server-sent event stands for. */
  *translate(sse: ServerSentEvent): Generator<LLMStreamEvent> {
    const chunk = parse(sse.data);
    const error = chunk["error"];
    if (isJsonObjectValue(error)) {
      const code = error["code"];
      throw new GeminiStreamErrorEvent(
        typeof code === "number" ? code : undefined,
        typeof error["status"] === "string" ? error["status"] : undefined,
        typeof error["message"] === "string" ? error["message"] : JSON.stringify(error).slice(0, 200),
      );
    }
    if (isJsonObjectValue(chunk["usageMetadata"])) this.#usage = chunk["usageMetadata"];
    const candidates = chunk["candidates"];
    const candidate = Array.isArray(candidates)
      ? (candidates as unknown[]).find((c) => isJsonObjectValue(c) && (c["index"] ?? 0) === 0)
      : undefined;
    if (!isJsonObjectValue(candidate)) {
      const feedback = chunk["promptFeedback"];
      const reason = isJsonObjectValue(feedback) ? feedback["blockReason"] : undefined;
      if (typeof reason === "string") throw new GeminiPromptBlockedError(reason);
      return; // a chunk with only usage
    }
    const content = candidate["content"];
    const parts = isJsonObjectValue(content) ? content["parts"] : undefined;
    for (const part of Array.isArray(parts) ? (parts as unknown[]) : []) {
      if (!isJsonObjectValue(part) || part["thought"] === true) continue;
      if (typeof part["text"] === "string" && part["text"] !== "") {
        yield { type: "text", text: part["text"] };
      }
      const call = part["functionCall"];
      if (isJsonObjectValue(call)) yield this.#call(call, part["thoughtSignature"]);
    }
    const reason = candidate["finishReason"];
    if (typeof reason === "string") this.#finished = true;
    if (reason === "MAX_TOKENS") yield { type: "cut-short", reason: "max-tokens" };
    if (reason === "SAFETY" || reason === "PROHIBITED_CONTENT" || reason === "BLOCKLIST")
      yield { type: "cut-short", reason: "filtered" };
  }

  /** The token counts of the last `usageMetadata`, when one came. */
  usage(): LLMUsage | undefined {
    const u = this.#usage;
    if (!u) return undefined;
    const prompt = count(u["promptTokenCount"]) ?? 0;
    const thoughts = count(u["thoughtsTokenCount"]);
    // Like OpenAI's completion_tokens, the completion counts the thinking too.
    const completion = (count(u["candidatesTokenCount"]) ?? 0) + (thoughts ?? 0);
    return {
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: count(u["totalTokenCount"]) ?? prompt + completion,
      cachedTokens: count(u["cachedContentTokenCount"]),
      reasoningTokens: thoughts,
    };
  }

  #call(call: JsonObject, signature: unknown): LLMStreamEvent {
    const index = this.#calls++;
    const id =
      typeof call["id"] === "string" && call["id"] !== "" ? call["id"] : `${this.#idPrefix}_${index}`;
    if (typeof signature === "string" && signature !== "") {
      this.signatures.push({ id, thoughtSignature: signature });
    }
    const args = call["args"];
    return {
      type: "tool-call",
      index,
      id,
      name: typeof call["name"] === "string" ? call["name"] : undefined,
      arguments: JSON.stringify(args ?? {}),
    };
  }
}

function parse(data: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new EventStreamError(`a chunk was not valid JSON: ${JSON.stringify(data.slice(0, 80))}`);
  }
  if (!isJsonObjectValue(value)) {
    throw new EventStreamError(`a chunk was not a JSON object: ${JSON.stringify(data.slice(0, 80))}`);
  }
  return value;
}

/** A token count: a whole number ≥ 0 (1e308 is a finite number, but no count; the totals would overflow). */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
