import { type JsonObject, isJsonObjectValue } from "../../context/json.js";
import type { LLMStreamEvent, LLMUsage } from "../llm/llm-stream.js";
import { EventStreamError } from "../http/http-errors.js";
import type { ServerSentEvent } from "../http/event-stream.js";

/** An `error` event in an Anthropic stream (e.g. `overloaded_error`, what HTTP 529 means). */
export class AnthropicStreamErrorEvent extends Error {
  override readonly name = "AnthropicStreamErrorEvent";
  constructor(
    /** The error's `type`, e.g. `overloaded_error`, `api_error`. */
    readonly type: string,
    /** The provider's own words. */
    readonly providerMessage: string,
  ) {
    super(`${type}: ${providerMessage}`);
  }
}

interface ToolBlock {
  /** The call's index for the tool-call assembler: tool blocks numbered 0, 1… in stream order. */
  readonly index: number;
  /** Whether any `input_json_delta` carried text. */
  sawInput: boolean;
  /** The `input` of `content_block_start`, used only when no delta carries the input. */
  readonly startInput: JsonObject | undefined;
}

/**
 * Turns the events of an Anthropic Messages stream (docs/design/llm-services.md, "Anthropic")
 * into {@link LLMStreamEvent}s: `text_delta` → text; a `tool_use` block → a tool call whose
 * argument text is its `input_json_delta` fragments; `message_start`/`message_delta` usage →
 * one usage event at `message_stop`. `ping`, thinking and citation deltas and unknown event types
 * are ignored (Anthropic may add event types). An `error` event throws
 * {@link AnthropicStreamErrorEvent}; an event that is not a JSON object with a `type`, or a tool
 * delta for a block that is not a tool, throws `EventStreamError`. One per request.
 */
export class AnthropicStreamTranslator {
  readonly #tools = new Map<number, ToolBlock>();
  #finished = false;
  #inputTokens = 0;
  #outputTokens = 0;
  #cacheReadTokens: number | undefined;
  #cacheCreationTokens = 0;

  /** `message_stop` arrived: the answer is complete. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The stream events one server-sent event stands for (often none). */
  *translate(sse: ServerSentEvent): Generator<LLMStreamEvent> {
    const event = parse(sse);
    switch (event["type"]) {
      case "message_start":
        this.#usage(field(event["message"], "usage"));
        return;
      case "content_block_start":
        yield* this.#blockStart(event);
        return;
      case "content_block_delta":
        yield* this.#delta(event);
        return;
      case "content_block_stop":
        yield* this.#blockStop(event);
        return;
      case "message_delta": {
        this.#usage(event["usage"]);
        const stop = field(event["delta"], "stop_reason");
        if (stop === "max_tokens") yield { type: "cut-short", reason: "max-tokens" };
        if (stop === "refusal") yield { type: "cut-short", reason: "filtered" };
        return;
      }
      case "message_stop":
        this.#finished = true;
        yield { type: "usage", usage: this.#totals() };
        return;
      case "error": {
        const error = field(event, "error");
        throw new AnthropicStreamErrorEvent(
          text(field(error, "type")) ?? "unknown_error",
          text(field(error, "message")) ?? JSON.stringify(event).slice(0, 200),
        );
      }
      default:
        return; // ping, and event types added after this was written
    }
  }

  *#blockStart(event: JsonObject): Generator<LLMStreamEvent> {
    const index = blockIndex(event);
    const block = field(event, "content_block");
    const type = text(field(block, "type"));
    if (type === "text") {
      const initial = text(field(block, "text"));
      if (initial) yield { type: "text", text: initial };
    } else if (type === "tool_use") {
      const input = field(block, "input");
      const tool: ToolBlock = {
        index: this.#tools.size,
        sawInput: false,
        startInput: isJsonObjectValue(input) && Object.keys(input).length > 0 ? input : undefined,
      };
      this.#tools.set(index, tool);
      yield {
        type: "tool-call",
        index: tool.index,
        id: text(field(block, "id")),
        name: text(field(block, "name")),
      };
    }
  }

  *#delta(event: JsonObject): Generator<LLMStreamEvent> {
    const index = blockIndex(event);
    const delta = field(event, "delta");
    const type = text(field(delta, "type"));
    if (type === "text_delta") {
      const piece = text(field(delta, "text"));
      if (piece) yield { type: "text", text: piece };
    } else if (type === "input_json_delta") {
      const tool = this.#tools.get(index);
      if (!tool) {
        throw new EventStreamError(
          `an input_json_delta arrived for content block ${index}, which did not start as a tool_use block`,
        );
      }
      const piece = text(field(delta, "partial_json"));
      if (piece) {
        tool.sawInput = true;
        yield { type: "tool-call", index: tool.index, arguments: piece };
      }
    }
    // thinking_delta, signature_delta, citations_delta: not part of what is spoken.
  }

  *#blockStop(event: JsonObject): Generator<LLMStreamEvent> {
    const tool = this.#tools.get(blockIndex(event));
    if (tool && !tool.sawInput && tool.startInput) {
      yield { type: "tool-call", index: tool.index, arguments: JSON.stringify(tool.startInput) };
    }
  }

  /** Usage counts are cumulative: the latest value of each field counts. */
  #usage(usage: unknown): void {
    if (!isJsonObjectValue(usage)) return;
    this.#inputTokens = count(usage["input_tokens"]) ?? this.#inputTokens;
    this.#outputTokens = count(usage["output_tokens"]) ?? this.#outputTokens;
    this.#cacheReadTokens = count(usage["cache_read_input_tokens"]) ?? this.#cacheReadTokens;
    this.#cacheCreationTokens = count(usage["cache_creation_input_tokens"]) ?? this.#cacheCreationTokens;
  }

  /** Anthropic's `input_tokens` leaves out cached tokens; the prompt is all three together. */
  #totals(): LLMUsage {
    const prompt = this.#inputTokens + (this.#cacheReadTokens ?? 0) + this.#cacheCreationTokens;
    return {
      promptTokens: prompt,
      completionTokens: this.#outputTokens,
      totalTokens: prompt + this.#outputTokens,
      cachedTokens: this.#cacheReadTokens,
    };
  }
}

function parse(sse: ServerSentEvent): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(sse.data);
  } catch {
    throw new EventStreamError(
      `an event${sse.event ? ` (${sse.event})` : ""} was not valid JSON: ${JSON.stringify(sse.data.slice(0, 80))}`,
    );
  }
  if (!isJsonObjectValue(value) || typeof value["type"] !== "string") {
    throw new EventStreamError(
      `an event${sse.event ? ` (${sse.event})` : ""} was not a JSON object with a type: ${JSON.stringify(sse.data.slice(0, 80))}`,
    );
  }
  return value;
}

function blockIndex(event: JsonObject): number {
  const index = event["index"];
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0) {
    throw new EventStreamError(
      `a ${String(event["type"])} event has index ${JSON.stringify(index)}; it must be a whole number ≥ 0`,
    );
  }
  return index;
}

function field(value: unknown, name: string): unknown {
  return isJsonObjectValue(value) ? value[name] : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A token count: a whole number ≥ 0 (1e308 is a finite number, but no count; the totals would overflow). */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
