/**
 * Every field of every message ElevenLabs' `multi-stream-input` sends, replaced one at a time by a
 * hostile value (test/support/hostile-json.ts), sent by the loopback server while a sentence is
 * being spoken and after: the service's message handler never throws (the socket counts a throw
 * in `handlerErrors`), no word gets a time that is not a number, each problem is said once, and
 * the next sentence is still spoken.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../../../src/clock/index.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { ElevenLabsTTSService } from "../../../src/services/elevenlabs/tts.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { startStreamingSession } from "../tts/streaming-session.js";
import { fakeElevenLabs } from "./fake-elevenlabs.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const alignment = { chars: ["H", "i"], charStartTimesMs: [0, 10], charDurationsMs: [10, 10] };
const audio = (contextId: string) => ({
  audio: Buffer.alloc(480, 9).toString("base64"),
  isFinal: false,
  alignment,
  normalizedAlignment: alignment,
  contextId,
});
const ending = (contextId: string) => [
  { isFinal: true, contextId },
  { is_final: true, context_id: contextId },
  { type: "flush_done", contextId },
  { error: "invalid_request", message: "bad voice", contextId },
  { error: { message: "quota exceeded", code: 1 } },
];

describe("ElevenLabsTTSService reads hostile values without throwing", () => {
  it("every field of every message, replaced by each hostile value, during a sentence and after it", async () => {
    const server = await fakeElevenLabs({ holdAnswers: true });
    cleanups.push(() => server.close());
    const tts = new ElevenLabsTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Hello there.");
    await s.until(() => server.held.length === 1, "the sentence sent");
    const conn = server.connections[0]!;
    const id = conn.received.find((m) => typeof m["context_id"] === "string")!["context_id"] as string;
    let sent = 0;
    for (const variant of hostileVariants(audio(id))) {
      conn.ws.send(variant.text);
      sent++;
    }
    server.release();
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the sentence's end");
    for (const message of ending(id)) {
      for (const variant of hostileVariants(message)) {
        conn.ws.send(variant.text);
        sent++;
      }
    }
    s.respond("Still here.");
    await s.until(() => server.held.length === 1, "the next sentence sent");
    server.release();
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 2, "the next sentence spoken");
    expect(sent).toBeGreaterThan(400);
    expect(s.lines.filter((l) => l.message.includes("handler threw")).map((l) => l.message)).toEqual([]);
    expect(tts.socketStats?.handlerErrors).toBe(0);
    const times = s.down.ofType(TTSTextFrame).map((f) => f.pts);
    expect(times.filter((t) => t !== undefined && !Number.isFinite(t))).toEqual([]);
    expect(s.lines.filter((l) => l.level === "warn" || l.level === "error").length).toBeLessThanOrEqual(12);
    expect((await s.finish()).how).toBe("ended");
  });
});
