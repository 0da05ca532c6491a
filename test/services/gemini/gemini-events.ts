import type { SseWriter } from "../http/loopback-sse.js";

/**
 * Gemini `streamGenerateContent?alt=sse` chunks, as documented: each event is `data:` holding a
 * GenerateContentResponse (`candidates[].content.parts[]` with `text` or a whole `functionCall`,
 * `finishReason` on the last, `usageMetadata`); no [DONE]: the body ends. Google's servers end
 * lines with `\r\n`.
 */

const meta = { modelVersion: "gemini-test", responseId: "resp_1" };

export function textChunk(text: string, finishReason?: string): object {
  return {
    candidates: [
      {
        content: { role: "model", parts: [{ text }] },
        ...(finishReason ? { finishReason } : {}),
        index: 0,
      },
    ],
    usageMetadata: { promptTokenCount: 21, totalTokenCount: 21 },
    ...meta,
  };
}

export function partsChunk(parts: object[], finishReason?: string): object {
  return {
    candidates: [{ content: { role: "model", parts }, ...(finishReason ? { finishReason } : {}), index: 0 }],
    ...meta,
  };
}

export function usageChunk(prompt: number, candidates: number, extra: object = {}): object {
  return {
    candidates: [{ content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: {
      promptTokenCount: prompt,
      candidatesTokenCount: candidates,
      totalTokenCount: prompt + candidates,
      ...extra,
    },
    ...meta,
  };
}

/** A whole answer: the texts, the last with finishReason STOP and the usage; then the body ends. */
export function answer(sse: SseWriter, texts: readonly string[], usage: [number, number] = [21, 4]): void {
  texts.forEach((t, i) => {
    const last = i === texts.length - 1;
    const chunk = textChunk(t, last ? "STOP" : undefined) as Record<string, unknown>;
    if (last) {
      chunk["usageMetadata"] = {
        promptTokenCount: usage[0],
        candidatesTokenCount: usage[1],
        totalTokenCount: usage[0] + usage[1],
      };
    }
    sse.data(chunk, "\r\n");
  });
  sse.end();
}

/** An HTTP error in Google's shape. */
export function httpError(
  sse: SseWriter,
  code: number,
  status: string,
  message: string,
  details: object[] = [],
  headers: Record<string, string> = {},
): void {
  sse.error(code, { error: { code, message, status, ...(details.length ? { details } : {}) } }, headers);
}
