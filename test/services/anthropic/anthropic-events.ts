import type { SseWriter } from "../http/loopback-sse.js";

/**
 * Anthropic Messages streaming events, as documented: each SSE event is named by `event:` and
 * its data carries the same `type`; a stream is message_start, content blocks (start, deltas,
 * stop), message_delta (usage, cumulative), message_stop; `ping` anywhere; `error` mid-stream.
 */

export function messageStart(sse: SseWriter, inputTokens = 25, cacheRead = 0): void {
  sse.event("message_start", {
    type: "message_start",
    message: {
      id: "msg_01",
      type: "message",
      role: "assistant",
      content: [],
      model: "claude-test",
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: inputTokens,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cacheRead,
      },
    },
  });
}

export function textBlockStart(sse: SseWriter, index: number): void {
  sse.event("content_block_start", {
    type: "content_block_start",
    index,
    content_block: { type: "text", text: "" },
  });
}

export function textDelta(sse: SseWriter, index: number, text: string): void {
  sse.event("content_block_delta", {
    type: "content_block_delta",
    index,
    delta: { type: "text_delta", text },
  });
}

export function toolBlockStart(sse: SseWriter, index: number, id: string, name: string): void {
  sse.event("content_block_start", {
    type: "content_block_start",
    index,
    content_block: { type: "tool_use", id, name, input: {} },
  });
}

export function jsonDelta(sse: SseWriter, index: number, partial: string): void {
  sse.event("content_block_delta", {
    type: "content_block_delta",
    index,
    delta: { type: "input_json_delta", partial_json: partial },
  });
}

export function blockStop(sse: SseWriter, index: number): void {
  sse.event("content_block_stop", { type: "content_block_stop", index });
}

export function messageDelta(sse: SseWriter, stopReason: string, outputTokens: number): void {
  sse.event("message_delta", {
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens },
  });
}

export function messageStop(sse: SseWriter): void {
  sse.event("message_stop", { type: "message_stop" });
}

export function ping(sse: SseWriter): void {
  sse.event("ping", { type: "ping" });
}

export function errorEvent(sse: SseWriter, type: string, message: string): void {
  sse.event("error", { type: "error", error: { type, message } });
}

/** A whole text answer: message_start, one text block with the pieces, end_turn, message_stop. */
export function answer(sse: SseWriter, texts: readonly string[], usage: [number, number] = [25, 5]): void {
  messageStart(sse, usage[0]);
  textBlockStart(sse, 0);
  ping(sse);
  for (const t of texts) textDelta(sse, 0, t);
  blockStop(sse, 0);
  messageDelta(sse, "end_turn", usage[1]);
  messageStop(sse);
  sse.end();
}

/** An HTTP error in Anthropic's shape. */
export function httpError(
  sse: SseWriter,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sse.error(status, { type: "error", error: { type, message } }, { "request-id": "req_test", ...headers });
}

/** A thinking block opens, as Anthropic streams it: empty, its text and signature follow in deltas. */
export function thinkingBlockStart(sse: SseWriter, index: number): void {
  sse.event("content_block_start", {
    type: "content_block_start",
    index,
    content_block: { type: "thinking", thinking: "" },
  });
}

export function thinkingDelta(sse: SseWriter, index: number, thinking: string): void {
  sse.event("content_block_delta", {
    type: "content_block_delta",
    index,
    delta: { type: "thinking_delta", thinking },
  });
}

/** The signature of a thinking block: one delta, just before its content_block_stop. */
export function signatureDelta(sse: SseWriter, index: number, signature: string): void {
  sse.event("content_block_delta", {
    type: "content_block_delta",
    index,
    delta: { type: "signature_delta", signature },
  });
}

/** A redacted thinking block: whole in its content_block_start, no delta. */
export function redactedThinkingBlock(sse: SseWriter, index: number, data: string): void {
  sse.event("content_block_start", {
    type: "content_block_start",
    index,
    content_block: { type: "redacted_thinking", data },
  });
  blockStop(sse, index);
}
