/**
 * Every field of every message Cartesia's `/tts/websocket` sends, replaced one at a time by a
 * hostile value (test/support/hostile-json.ts), sent by the loopback server while a sentence is
 * being spoken and after: the service's message handler never throws (the socket counts a throw
 * in `handlerErrors`), no word gets a time that is not a number, each problem is said once, and the
 * next sentence is still spoken.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../../../src/clock/index.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { CartesiaTTSService } from "../../../src/services/cartesia/tts.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { startStreamingSession } from "../tts/streaming-session.js";
import { fakeCartesia } from "./fake-cartesia.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const chunk = (id: string) => ({
  type: "chunk",
  context_id: id,
  status_code: 206,
  done: false,
  data: Buffer.alloc(480, 7).toString("base64"),
  step_time: 1,
  flush_id: 1,
});
const timestamps = (id: string) => ({
  type: "timestamps",
  context_id: id,
  status_code: 206,
  done: false,
  word_timestamps: { words: ["Hello", "there"], start: [0, 0.5], end: [0.4, 0.9] },
});
const phonemes = (id: string) => ({
  type: "phoneme_timestamps",
  context_id: id,
  status_code: 206,
  done: false,
  phoneme_timestamps: { phonemes: ["h"], start: [0], end: [0.1] },
});
const ending = (id: string) => [
  { type: "flush_done", context_id: id, status_code: 206, done: false, flush_id: 1, flush_done: true },
  { type: "done", context_id: id, status_code: 206, done: true },
  { type: "error", context_id: id, status_code: 400, done: true, error: "bad voice" },
  { type: "error", status_code: 500, done: true, message: "internal" },
];

describe("CartesiaTTSService reads hostile values without throwing", () => {
  it("every field of every message, replaced by each hostile value, during a sentence and after it", async () => {
    const server = await fakeCartesia({ holdAnswers: true });
    cleanups.push(() => server.close());
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Hello there.");
    await s.until(() => server.held.length === 1, "the sentence sent");
    const conn = server.connections[0]!;
    const id = [...conn.contexts.keys()][0]!;
    let sent = 0;
    // While the sentence is spoken: what a context carries before its end.
    for (const message of [chunk(id), timestamps(id), phonemes(id)]) {
      for (const variant of hostileVariants(message)) {
        conn.ws.send(variant.text);
        sent++;
      }
    }
    server.release();
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the sentence's end");
    // What ends a context, for the one just spoken and for none.
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
    expect(sent).toBeGreaterThan(500);
    expect(s.lines.filter((l) => l.message.includes("handler threw")).map((l) => l.message)).toEqual([]);
    expect(tts.socketStats?.handlerErrors).toBe(0);
    const times = s.down.ofType(TTSTextFrame).map((f) => f.pts);
    expect(times.filter((t) => t !== undefined && !Number.isFinite(t))).toEqual([]);
    // Said once per cause, not once per message.
    expect(s.lines.filter((l) => l.level === "warn" || l.level === "error").length).toBeLessThanOrEqual(12);
    expect((await s.finish()).how).toBe("ended");
  });
});
