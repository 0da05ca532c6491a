/**
 * Every field of every text message Deepgram's `/v1/speak` sends, replaced one at a time by a
 * hostile value (test/support/hostile-json.ts), sent by the loopback server between two
 * sentences: the service's message handler never throws (the socket counts a throw in
 * `handlerErrors`), each problem is said once, and the sentence after them plays exactly.
 */
import { afterEach, describe, expect, it } from "vitest";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { DeepgramTTSService } from "../../../src/services/deepgram/tts.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { speechSample } from "../openai-audio/fake-openai-audio.js";
import { endTTS, startTTS, waitFor } from "../openai-audio/tts-session.js";
import { fakeDeepgramSpeak } from "./fake-deepgram-speak.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const MESSAGES: readonly unknown[] = [
  {
    type: "Metadata",
    request_id: "req-1",
    model_name: "aura-2-thalia-en",
    model_version: "1",
    model_uuid: "u",
  },
  { type: "Flushed", sequence_id: 0 },
  { type: "Cleared", sequence_id: 0 },
  { type: "Warning", description: "Flush rate limit exceeded", code: "W1" },
  { err_code: "INVALID_INPUT", err_msg: "bad text", request_id: "req-2" },
  { type: "Error", description: "something failed", code: "E1" },
];

describe("DeepgramTTSService reads hostile values without throwing", () => {
  it("every field of every text message, replaced by each hostile value, between two sentences", async () => {
    const server = await fakeDeepgramSpeak();
    cleanups.push(() => server.close());
    const tts = new DeepgramTTSService({ apiKey: "test-key", baseUrl: server.baseUrl, env: {} });
    const s = await startTTS(tts);
    s.answer("Hi.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the first sentence");
    // Between sentences, where a stray Flushed or Cleared has nothing to end.
    const variants = MESSAGES.flatMap((m) => hostileVariants(m).map((v) => v.text));
    for (const text of variants) server.connections[0]!.socket.send(text);
    await waitFor(s, () => (tts.socketStats?.received ?? 0) >= variants.length, "the variants read");
    s.answer("Yo.");
    await endTTS(s);
    expect(variants.length).toBeGreaterThan(200);
    const speech = Int16Array.from({ length: 3 * 240 }, (_, i) => speechSample(i));
    expect(s.samples()).toEqual(Int16Array.from([...speech, ...speech]));
    expect(s.lines.filter((l) => l.message.includes("handler threw")).map((l) => l.message)).toEqual([]);
    expect(tts.socketStats?.handlerErrors).toBe(0);
    expect(s.errors().length).toBeLessThanOrEqual(8);
  });
});
