/**
 * Every field of every message Deepgram's `/v1/listen` sends, replaced one at a time by a value
 * JSON can carry but a careless reader chokes on (test/support/hostile-json.ts), sent by the
 * loopback server to a running DeepgramSTTService: the service's message handler never throws
 * (the socket counts a throw in `handlerErrors`), each problem is said once, and a good result
 * after them all still becomes a transcript.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorFrame } from "../../../src/frames/error.js";
import { TranscriptionFrame } from "../../../src/frames/text.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { until } from "../websocket/loopback-provider.js";
import { fakeDeepgramListen, results } from "./fake-deepgram-listen.js";
import { finish, startSession } from "./stt-session.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One of each message `/v1/listen` sends, shaped as documented. */
const MESSAGES: readonly unknown[] = [
  { ...results("book a table", { isFinal: true, speechFinal: true }), from_finalize: false },
  {
    ...results("book", { isFinal: false }),
    channel: { alternatives: [{ transcript: "book", confidence: 0.9, words: [], languages: ["en"] }] },
  },
  {
    type: "Metadata",
    request_id: "req-1",
    sha256: "0",
    created: "2025-01-01T00:00:00.000Z",
    duration: 1.5,
    channels: 1,
  },
  { type: "UtteranceEnd", channel: [0, 1], last_word_end: 2.5 },
  { type: "SpeechStarted", channel: [0, 1], timestamp: 0.5 },
  { err_code: "INVALID_QUERY", err_msg: "bad query", request_id: "req-2" },
  { type: "Warning", description: "a warning", code: "W1" },
];

describe("DeepgramSTTService reads hostile values without throwing", () => {
  it("every field of every message, replaced by each hostile value", async () => {
    const server = await fakeDeepgramListen();
    cleanups.push(() => server.close());
    const s = await startSession({ baseUrl: server.baseUrl });
    await until(() => server.connections.length === 1, "the connection");
    const ws = server.connections[0]!.ws;
    let sent = 0;
    for (const message of MESSAGES) {
      for (const variant of hostileVariants(message)) {
        ws.send(variant.text);
        sent++;
      }
    }
    ws.send(JSON.stringify(results("still listening", { isFinal: true })));
    await until(
      () => s.down.ofType(TranscriptionFrame).some((f) => f.text === "still listening"),
      "the good result after the hostile ones",
    );
    expect(sent).toBeGreaterThan(500);
    expect(s.stt.socketStats?.received).toBe(sent + 1);
    const handlerErrors = s.lines.filter((l) => l.message.includes("handler threw"));
    expect(handlerErrors.map((l) => l.message)).toEqual([]);
    expect(s.stt.socketStats?.handlerErrors).toBe(0);
    // Said once per cause: a handful of non-fatal errors, not one per message.
    const errors = s.up.ofType(ErrorFrame);
    expect(errors.every((e) => !e.fatal)).toBe(true);
    expect(errors.length).toBeLessThanOrEqual(8);
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
  });
});
