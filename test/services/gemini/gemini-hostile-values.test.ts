/**
 * Gemini streamGenerateContent streams (from a loopback server) whose chunks have one field at a
 * time replaced by a hostile value (test/support/hostile-json.ts): the service never throws,
 * every started response ends, and what it passes on is well typed.
 */
import { afterEach, describe, it } from "vitest";
import { GeminiLLMService } from "../../../src/services/gemini/index.js";
import { expectHostileStreamsSurvived, hostileBodies, variantOf } from "../http/hostile-llm.js";
import { type LoopbackSse, loopbackSse } from "../http/loopback-sse.js";

let srv: LoopbackSse | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const CHUNKS: readonly object[] = [
  {
    candidates: [{ content: { role: "model", parts: [{ text: "Hello" }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 21, totalTokenCount: 21 },
    modelVersion: "gemini-test",
  },
  {
    candidates: [
      {
        content: {
          role: "model",
          parts: [
            {
              functionCall: { id: "fc_1", name: "get_weather", args: { city: "Paris" } },
              thoughtSignature: "c2ln",
            },
          ],
        },
        index: 0,
      },
    ],
  },
  {
    candidates: [{ content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: {
      promptTokenCount: 21,
      candidatesTokenCount: 4,
      totalTokenCount: 30,
      cachedContentTokenCount: 0,
      thoughtsTokenCount: 5,
    },
  },
];

/** Other answers: an error object sent in the stream, a blocked prompt. */
const OTHERS: readonly object[] = [
  { error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } },
  { promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } },
];

describe("GeminiLLMService reads hostile chunks without throwing", () => {
  it("every field of every chunk, replaced by each hostile value", async () => {
    const data = (text: string) => `data: ${text}\r\n\r\n`;
    const { bodies } = hostileBodies(CHUNKS.map((json) => ({ json, write: data })));
    const others = OTHERS.flatMap((json) => hostileBodies([{ json, write: data }]).bodies);
    const all = [...bodies, ...others];
    srv = await loopbackSse(
      (url) => url.startsWith("/v1beta/models/gemini-test:streamGenerateContent"),
      (writer) => {
        writer.raw(all[variantOf(writer.request.body)]!);
        writer.end();
      },
    );
    const llm = new GeminiLLMService({
      apiKey: "AIza-test",
      baseUrl: srv.baseUrl,
      env: {},
      model: "gemini-test",
    });
    await expectHostileStreamsSurvived(llm, all.length, "Hello");
  });
});
