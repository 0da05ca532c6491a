import { afterEach, describe, expect, it } from "vitest";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../src/frames/speaking.js";
import { TranscriptionFrame } from "../../src/frames/text.js";
import { STTEndOfTurnFrame } from "../../src/frames/turn.js";
import { DeepgramSTTService } from "../../src/services/deepgram/stt.js";
import { STTEndOfTurnStopStrategy } from "../../src/turns/index.js";
import { type FakeDeepgram, fakeDeepgramListen, results } from "../services/deepgram/fake-deepgram-listen.js";
import { speechChunk } from "../services/deepgram/stt-session.js";
import { until } from "../services/websocket/loopback-provider.js";
import { turnHarness } from "./support.js";

const servers: FakeDeepgram[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe("DeepgramSTTService end of turn → STTEndOfTurnStopStrategy, on a loopback /v1/listen", () => {
  it("speech_final then UtteranceEnd for the same words: one STTEndOfTurnFrame after the final, which ends the turn", async () => {
    let sent = false;
    const server = await fakeDeepgramListen({
      onAudio: (conn, totalMs) => {
        // After 300 ms of audio Deepgram's endpointing hears the pause: a final with speech_final,
        // then (utterance_end_ms later) an UtteranceEnd for the same words.
        if (totalMs < 300 || sent) return;
        sent = true;
        conn.ws.send(JSON.stringify(results(conn.pending.join(" "), { isFinal: true, speechFinal: true })));
        conn.pending = [];
        conn.ws.send(JSON.stringify({ type: "UtteranceEnd", channel: [0, 1], last_word_end: 0.3 }));
      },
    });
    servers.push(server);
    const stt = new DeepgramSTTService({ apiKey: "test-key", baseUrl: server.baseUrl, utteranceEndMs: 1000 });
    const h = await turnHarness({ stopStrategies: [new STTEndOfTurnStopStrategy()] }, [stt]);
    await h.send(new VADUserStartedSpeakingFrame());
    for (let t = 0; t < 300; t += 20) {
      await h.send(speechChunk(20, 16_000, 1, t));
      await h.advance(20);
    }
    await h.send(new VADUserStoppedSpeakingFrame());
    await until(() => h.down.frames.some((f) => f instanceof STTEndOfTurnFrame), "the end of turn");
    await until(() => !h.turns.inTurn, "the turn to end");
    // The UtteranceEnd may still be on its way: give it time, then check it added nothing.
    await new Promise((r) => setTimeout(r, 100));
    await h.clock.settle();
    const names = h.down.frames.map((f) => f.constructor.name);
    expect(names.filter((n) => n === "STTEndOfTurnFrame")).toHaveLength(1);
    expect(names.indexOf("TranscriptionFrame")).toBeLessThan(names.indexOf("STTEndOfTurnFrame"));
    expect(names.indexOf("STTEndOfTurnFrame")).toBeLessThan(names.indexOf("UserStoppedSpeakingFrame"));
    expect((h.down.frames.find((f) => f instanceof STTEndOfTurnFrame) as STTEndOfTurnFrame).cause).toBe(
      "speech_final",
    );
    expect(h.down.frames.find((f) => f instanceof TranscriptionFrame)).toMatchObject({
      text: "book a table",
    });
    expect(h.events.map((e) => [e.kind, e.strategy])).toEqual([
      ["start", "VADStartStrategy"],
      ["stop", "STTEndOfTurnStopStrategy"],
    ]);
    await h.finish();
  });

  it("UtteranceEnd alone (no speech_final) ends the turn too", async () => {
    let sent = false;
    const server = await fakeDeepgramListen({
      onAudio: (conn, totalMs) => {
        if (totalMs < 200 || sent) return;
        sent = true;
        conn.ws.send(JSON.stringify(results(conn.pending.join(" "), { isFinal: true })));
        conn.pending = [];
        conn.ws.send(JSON.stringify({ type: "UtteranceEnd", channel: [0, 1], last_word_end: 0.2 }));
      },
    });
    servers.push(server);
    const stt = new DeepgramSTTService({ apiKey: "test-key", baseUrl: server.baseUrl, utteranceEndMs: 1000 });
    const h = await turnHarness({ stopStrategies: [new STTEndOfTurnStopStrategy()] }, [stt]);
    await h.send(new VADUserStartedSpeakingFrame());
    for (let t = 0; t < 200; t += 20) {
      await h.send(speechChunk(20, 16_000, 1, t));
      await h.advance(20);
    }
    await h.send(new VADUserStoppedSpeakingFrame());
    await until(() => !h.turns.inTurn, "the turn to end");
    expect((h.down.frames.find((f) => f instanceof STTEndOfTurnFrame) as STTEndOfTurnFrame).cause).toBe(
      "utterance_end",
    );
    await h.finish();
  });
});
