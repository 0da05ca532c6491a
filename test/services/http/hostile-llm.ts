import { expect } from "vitest";
import {
  FunctionCallsStartedFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  VirtualClock,
} from "../../../src/index.js";
import { defineTool } from "../../../src/context/index.js";
import { isJsonObjectValue } from "../../../src/context/json.js";
import { LLMServiceError, type LLMService } from "../../../src/services/llm/index.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { runLLM, userContext } from "./run-llm.js";

/**
 * Drives an LLM service through hostile streams (test/support/hostile-json.ts): the provider's
 * documented answer, with one event at a time replaced by each of its hostile variants, one
 * request per variant. The loopback server finds the variant by the `variant <n>` the request's
 * user message carries (so a retried request gets the same stream).
 */

/** One event of a stream: its JSON, and how it is written as SSE. */
export interface StreamEvent {
  readonly json: object;
  readonly write: (text: string) => string;
  /** Paths not varied in this event (fields the reader never looks at, varied in another event already). */
  readonly skip?: (path: readonly (string | number)[]) => boolean;
}

/** The SSE bodies: the unchanged answer first, then every variant. */
export function hostileBodies(
  events: readonly StreamEvent[],
  end = "",
): { bodies: string[]; what: string[] } {
  const plain = events.map((e) => e.write(JSON.stringify(e.json)));
  const bodies = [plain.join("") + end];
  const what = ["(unchanged)"];
  events.forEach((event, i) => {
    for (const variant of hostileVariants(event.json, event.skip)) {
      bodies.push([...plain.slice(0, i), event.write(variant.text), ...plain.slice(i + 1)].join("") + end);
      what.push(`event ${i}: ${variant.what}`);
    }
  });
  return { bodies, what };
}

/** The variant a request asks for. */
export function variantOf(body: unknown): number {
  const match = /variant (\d+)/.exec(JSON.stringify(body));
  return match ? Number(match[1]) : 0;
}

export const weatherTool = defineTool({
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
});

/**
 * Runs every body through `llm`, one request after the other, then the unchanged answer once
 * more, and checks what must hold whatever the stream said: nothing throws out of the service
 * (every error is an `LLMServiceError`, said once per cause), every response that started ends,
 * text frames hold strings, usage holds finite numbers, calls hold ids, names and plain JSON
 * objects; and the answer after them all still comes through.
 */
export async function expectHostileStreamsSurvived(
  llm: LLMService,
  count: number,
  expectedText: string,
): Promise<void> {
  const clock = new VirtualClock();
  llm.registerFunction(weatherTool, async () => "sunny");
  const t = runLLM(llm, clock);
  let failsWithoutStart = 0;
  llm.on("completionFailed", () => {
    if (t.down.ofType(LLMFullResponseStartFrame).length === t.down.ofType(LLMFullResponseEndFrame).length)
      failsWithoutStart++;
  });
  // A request is over when its response ended, it failed before starting, or the service threw.
  const threw = (): number => t.errors.filter((e) => !(e.error instanceof LLMServiceError)).length;
  const settled = (): number => t.down.ofType(LLMFullResponseEndFrame).length + failsWithoutStart + threw();
  for (let i = 1; i <= count; i++) {
    const before = settled();
    t.task.queueFrame(new LLMContextFrame(userContext(`variant ${i % count}`)));
    await clock.runUntil(() => settled() > before, { maxMs: 60_000 });
  }
  await clock.settle();
  const thrown = t.errors.filter((e) => !(e.error instanceof LLMServiceError)).map((e) => e.error.message);
  expect(thrown).toEqual([]);
  expect(t.down.ofType(LLMFullResponseStartFrame).length).toBe(t.down.ofType(LLMFullResponseEndFrame).length);
  expect(t.down.ofType(LLMTextFrame).filter((f) => typeof f.text !== "string")).toEqual([]);
  for (const m of t.metrics().filter((m) => m.kind === "llm_usage")) {
    const values = Object.values(m.value as Record<string, unknown>);
    expect(values.filter((v) => typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)).toEqual([]);
  }
  for (const frame of t.down.ofType(FunctionCallsStartedFrame)) {
    for (const call of frame.calls) {
      expect(typeof call.functionName).toBe("string");
      expect(typeof call.toolCallId).toBe("string");
      expect(isJsonObjectValue(call.arguments)).toBe(true);
    }
  }
  // Said in words, not in the words of a TypeError or RangeError from deep inside.
  const garbled = /Cannot convert|call stack|is not (a function|iterable)|\[object Object\]|Cannot read prop/;
  expect(t.errors.map((e) => e.error.message).filter((m) => garbled.test(m))).toEqual([]);
  // Said once per cause, then counted: far fewer errors than bad streams.
  expect(t.errors.length).toBeLessThanOrEqual(16);
  // The last request was the unchanged answer.
  const lastStart = t.down.frames.lastIndexOf(t.down.ofType(LLMFullResponseStartFrame).at(-1)!);
  expect(t.textsAfter(lastStart).join("")).toBe(expectedText);
  await t.finish();
}
