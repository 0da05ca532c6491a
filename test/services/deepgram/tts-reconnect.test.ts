/**
 * Deepgram TTS through reconnects, driven through the public API against the loopback
 * `/v1/speak` server: the server closing mid-sentence, right after a sentence, between turns;
 * refusing the reconnect (401) or accepting it after failures or a hung upgrade; an interrupted
 * sentence's connection lost before `Cleared`; end and cancel while it reconnects.
 */
import { describe, expect, it } from "vitest";
import { SystemClock } from "../../../src/clock/index.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import {
  endTTS,
  finishTTS,
  joinedSamples,
  startTTS,
  waitFor,
  type TTSSession,
} from "../openai-audio/tts-session.js";
import { tcpHandles, until } from "../websocket/loopback-provider.js";
import { STALE_SAMPLE } from "./fake-deepgram-speak.js";
import { expected, fake, service } from "./speak-kit.js";

/** The samples of the audio frames pushed after the `from`th frame. */
function samplesAfter(s: TTSSession, from: number): Int16Array {
  return joinedSamples(
    s.down.frames.slice(from).filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame),
  );
}

const stops = (s: TTSSession): number => s.down.ofType(TTSStoppedFrame).length;
const spoken = (s: TTSSession): string[] => s.down.ofType(TTSTextFrame).map((f) => f.text);

describe("DeepgramTTSService reconnects (loopback /v1/speak)", () => {
  it("the server closes right after a sentence: the next sentence waits for the reconnect and is spoken, nothing lost or said", async () => {
    const server = await fake({ onFlush: (n) => (n === 1 ? "ok-then-close" : "ok") });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("First. ", "Second. ", "Third.");
    await waitFor(s, () => stops(s) === 1, "the answer");
    await endTTS(s);
    expect(s.errors().map((e) => e.error.message)).toEqual([]);
    expect(spoken(s)).toEqual(["First. ", "Second. ", "Third."]);
    expect(server.connections).toHaveLength(2);
    expect(s.samples()).toEqual(
      Int16Array.from([...expected("First. "), ...expected("Second. "), ...expected("Third.")]),
    );
  });

  it("the server closes between turns: the next turn is spoken on a new connection, with nothing said", async () => {
    const server = await fake();
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("Hello.");
    await waitFor(s, () => stops(s) === 1, "the first turn");
    server.connections[0]!.socket.close(1011, "idle");
    await until(() => server.connections.length === 2, "the reconnect");
    const mark = s.down.frames.length;
    s.answer("Again.");
    await waitFor(s, () => stops(s) === 2, "the second turn");
    await endTTS(s);
    expect(s.errors()).toEqual([]);
    expect(samplesAfter(s, mark)).toEqual(expected("Again."));
    expect(tts.socketStats).toMatchObject({ reconnects: 1 });
  });

  it("cut mid-sentence, the reconnect accepted after two refusals (503): the cut sentence is said once, the next turn is spoken with no stale audio", async () => {
    const server = await fake({
      onFlush: (n) => (n === 1 ? "cut" : "ok"),
      upgrade: (n) => (n === 2 || n === 3 ? { status: 503, body: '{"err_code":"UNAVAILABLE"}' } : "accept"),
    });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("A sentence cut in two.");
    await waitFor(s, () => stops(s) === 1, "the cut answer");
    const mark = s.down.frames.length;
    s.answer("Next turn.");
    await waitFor(s, () => stops(s) === 2, "the next turn");
    await endTTS(s);
    expect(server.provider.upgrades).toHaveLength(4);
    expect(s.errors().map((e) => [e.fatal, e.error.message])).toEqual([
      [false, expect.stringMatching(/the connection closed \(1006.*cut short/)],
    ]);
    expect(samplesAfter(s, mark)).toEqual(expected("Next turn."));
    expect(spoken(s)).toEqual(["Next turn."]);
  });

  it("a hung reconnect is abandoned at connectTimeoutMs and the next attempt speaks the next turn", async () => {
    const server = await fake({
      onFlush: (n) => (n === 1 ? "cut" : "ok"),
      upgrade: (n) => (n === 2 ? "hang" : "accept"),
    });
    const tts = service(server, {
      socket: { backoff: { initialDelayMs: 10, maxDelayMs: 20 }, connectTimeoutMs: 150 },
    });
    const s = await startTTS(tts, new SystemClock());
    s.answer("Cut here.");
    await waitFor(s, () => stops(s) === 1, "the cut answer");
    s.answer("Spoken.");
    await waitFor(s, () => stops(s) === 2, "the next turn");
    await endTTS(s);
    expect(server.provider.upgrades).toHaveLength(3);
    expect(spoken(s)).toEqual(["Spoken."]);
  });

  it("the reconnect refused with 401 while idle: one fatal error naming DEEPGRAM_API_KEY at once, no retry, the service unusable", async () => {
    const server = await fake({
      upgrade: (n) => (n === 1 ? "accept" : { status: 401, body: '{"err_code":"INVALID_AUTH"}' }),
    });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("Hello.");
    await waitFor(s, () => stops(s) === 1, "the first turn");
    server.connections[0]!.socket.close(1011, "idle");
    await waitFor(s, () => s.errors().length === 1, "the error");
    const [error] = s.errors();
    expect(error!.fatal).toBe(true);
    expect(error!.error.message).toMatch(/401/);
    expect(error!.error.message).toMatch(/DEEPGRAM_API_KEY/);
    expect(tts.usable).toBe(false);
    expect(server.provider.upgrades).toHaveLength(2);
    await finishTTS(s);
  });

  it("the reconnect refused with 401 mid-answer: the cut sentence and the 401 are each said once; the rest is not tried", async () => {
    const server = await fake({
      onFlush: (n) => (n === 1 ? "cut" : "ok"),
      upgrade: (n) => (n === 1 ? "accept" : { status: 401, body: '{"err_code":"INVALID_AUTH"}' }),
    });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("Cut here. ", "Two. ", "Three. ", "Four.");
    await waitFor(s, () => s.errors().some((e) => e.fatal), "the fatal error");
    await finishTTS(s);
    const errors = s.errors().map((e) => [e.fatal, e.error.message]);
    expect(errors).toEqual([
      [false, expect.stringMatching(/cut short/)],
      [true, expect.stringMatching(/401.*DEEPGRAM_API_KEY|DEEPGRAM_API_KEY.*401/)],
    ]);
    expect(server.provider.upgrades).toHaveLength(2);
    expect(spoken(s)).toEqual([]);
  });

  it("an interrupted sentence whose connection drops before Cleared: the next turn's audio is its own, none of the cleared text", async () => {
    const server = await fake({ onFlush: (n) => (n === 1 ? "stall" : "ok"), answerClear: false });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("A long sentence to interrupt.");
    await waitFor(s, () => s.down.ofType(TTSAudioRawFrame).length > 0, "the first audio");
    s.queue(new InterruptionFrame());
    await until(() => tts.stats.clears === 1, "the Clear");
    server.connections[0]!.socket.terminate();
    const mark = s.down.frames.length;
    s.answer("Fresh.");
    await waitFor(s, () => stops(s) === 1 && spoken(s).length === 1, "the next turn");
    await endTTS(s);
    const after = samplesAfter(s, mark);
    expect(after).toEqual(expected("Fresh."));
    expect(after.includes(STALE_SAMPLE)).toBe(false);
    expect(server.connections).toHaveLength(2);
  });

  it("no reconnect once stopping: the server closing as the task ends opens no new connection", async () => {
    const server = await fake();
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("Bye.");
    await waitFor(s, () => stops(s) === 1, "the answer");
    const ending = endTTS(s);
    server.connections[0]!.socket.terminate();
    await ending;
    await new Promise((r) => setTimeout(r, 100)); // well past the 10-20 ms backoff
    expect(server.provider.upgrades).toHaveLength(1);
    expect(s.errors()).toEqual([]);
  });

  for (const how of ["end", "cancel"] as const) {
    it(`${how} while it waits to reconnect (every attempt refused with 503): it stops at once, no new attempt, nothing left`, async () => {
      const handles = tcpHandles();
      const server = await fake({
        upgrade: (n) => (n === 1 ? "accept" : { status: 503, body: '{"err_code":"UNAVAILABLE"}' }),
      });
      const tts = service(server, {
        socket: { backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAttempts: 3 } },
      });
      const s = await startTTS(tts, new SystemClock());
      s.answer("Hi.");
      await waitFor(s, () => stops(s) === 1, "the answer");
      server.connections[0]!.socket.terminate();
      await until(() => tts.socketStats?.disconnects === 1, "the drop");
      const t0 = performance.now();
      if (how === "end") await endTTS(s);
      else {
        void s.task.cancel("test");
        await finishTTS(s);
      }
      expect(performance.now() - t0).toBeLessThan(2_000); // not the 60 s backoff
      expect(server.provider.upgrades).toHaveLength(1);
      expect(s.errors()).toEqual([]);
      await server.close();
      await until(() => tcpHandles() <= handles, "no TCP handle left");
    });
  }
});
