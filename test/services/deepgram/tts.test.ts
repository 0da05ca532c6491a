import { describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../../src/pipeline/task.js";
import { DeepgramTTSService } from "../../../src/services/deepgram/tts.js";
import { endTTS, expectNothingPending, finishTTS, startTTS, waitFor } from "../openai-audio/tts-session.js";
import { describeFrames } from "../tts/support.js";
import { tcpHandles, until } from "../websocket/loopback-provider.js";
import { STALE_SAMPLE } from "./fake-deepgram-speak.js";
import { expected, fake, service } from "./speak-kit.js";

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const types = (texts: readonly string[]) => texts.map((t) => (JSON.parse(t) as { type: string }).type);

describe("DeepgramTTSService on a loopback /v1/speak", () => {
  it("sends the documented query and key, Speak + Flush per sentence, and pushes the audio exactly", async () => {
    const server = await fake();
    const tts = service(server, { model: "aura-2-thalia-en", query: { speed: "1.1" } });
    const s = await startTTS(tts);
    s.answer("Hello there. ", "Bye.");
    await endTTS(s);
    expect(server.provider.upgrades[0]!.headers.authorization).toBe("Token test-key");
    const conn = server.connections[0]!;
    expect(conn.path).toBe("/v1/speak");
    expect(Object.fromEntries(conn.query)).toEqual({
      model: "aura-2-thalia-en",
      encoding: "linear16",
      sample_rate: "24000",
      speed: "1.1",
    });
    expect(conn.texts).toEqual([
      '{"type":"Speak","text":"Hello there. "}',
      '{"type":"Flush"}',
      '{"type":"Speak","text":"Bye."}',
      '{"type":"Flush"}',
      '{"type":"Close"}',
    ]);
    expect(s.samples()).toEqual(concat(expected("Hello there. "), expected("Bye.")));
    expect(describeFrames(s.down.frames).filter((n) => n !== "StartFrame" && n !== "EndFrame")).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Hello there. )",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Bye.)",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(metrics.filter((m) => m.kind === "tts_usage").map((m) => m.value)).toEqual([13, 4]);
    expect(metrics.filter((m) => m.kind === "ttfb")).toHaveLength(1);
    expect(metrics.every((m) => m.model === "aura-2-thalia-en")).toBe(true);
    expect(s.errors()).toEqual([]);
    expect(tts.stats).toMatchObject({
      flushes: 2,
      clears: 0,
      audioDroppedUnexpected: 0,
      malformedMessages: 0,
    });
    await until(() => server.closed === 1, "the socket to close");
    expectNothingPending(s.clock);
  });

  it("asks for the task's rate when Deepgram has it, else 24 kHz resampled", async () => {
    const server = await fake();
    const s16 = await startTTS(service(server), new VirtualClock(), {
      params: { audioOutSampleRate: 16_000 },
    });
    s16.answer("Hi.");
    await endTTS(s16);
    const s22 = await startTTS(service(server), new VirtualClock(), {
      params: { audioOutSampleRate: 22_050 },
    });
    s22.answer("Hi.");
    await endTTS(s22);
    expect(server.connections.map((c) => c.query.get("sample_rate"))).toEqual(["16000", "24000"]);
    expect(s22.down.ofType(TTSAudioRawFrame).every((f) => f.sampleRate === 22_050)).toBe(true);
  });

  it("an interruption mid-sentence sends Clear; the audio before Cleared is dropped, the next answer waits for it", async () => {
    const server = await fake({ onFlush: (n) => (n === 1 ? "stall" : "ok") });
    const tts = service(server);
    const s = await startTTS(tts);
    s.answer("A long first sentence. ", "Never spoken.");
    await waitFor(s, () => s.down.ofType(TTSAudioRawFrame).length > 0, "the first audio");
    await until(() => s.samples().length === Math.floor((23 * 240 * 2) / 2 / 2), "the first half");
    s.queue(new InterruptionFrame());
    s.answer("Next.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the next answer");
    await endTTS(s);
    const conn = server.connections[0]!;
    expect(types(conn.texts)).toEqual(["Speak", "Flush", "Clear", "Speak", "Flush", "Close"]);
    const after = s.down.frames.slice(s.down.frames.findIndex((f) => f instanceof InterruptionFrame));
    const samples = concat(
      ...after.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame).map((f) => f.audio),
    );
    // Exactly the next answer's audio: none of the cleared text's tail (STALE_SAMPLE) got in.
    expect(samples).toEqual(expected("Next."));
    expect(tts.stats).toMatchObject({ clears: 1, cleared: 1, audioDroppedAfterClear: 2 * 333 });
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Next."]);
    expect(s.errors()).toEqual([]);
    expectNothingPending(s.clock);
  });

  it("no key: one fatal error at start naming DEEPGRAM_API_KEY, and no connection", async () => {
    const server = await fake();
    const s = await startTTS(new DeepgramTTSService({ baseUrl: server.baseUrl, env: {} }));
    const outcome = await finishTTS(s);
    expect(outcome.how).not.toBe("ended");
    expect(s.errors().map((e) => [e.fatal, e.error.message])).toEqual([
      [true, expect.stringMatching(/no API key: set DEEPGRAM_API_KEY/)],
    ]);
    expect(server.provider.upgrades).toEqual([]);
  });

  it("a rejected key (401 on the upgrade): one fatal error naming DEEPGRAM_API_KEY, not retried", async () => {
    const server = await fake({ key: "right" });
    const s = await startTTS(service(server, { env: { DEEPGRAM_API_KEY: "x" } }));
    await finishTTS(s);
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error.message).toMatch(/DEEPGRAM_API_KEY/);
    expect(errors[0]!.error.message).toMatch(/401/);
    expect(server.provider.upgrades).toHaveLength(1);
  });

  it("takes the key and base URL from the environment", async () => {
    const server = await fake({ key: "env-key" });
    const tts = new DeepgramTTSService({
      env: { DEEPGRAM_API_KEY: "env-key", DEEPGRAM_BASE_URL: `${server.baseUrl}/` },
    });
    expect(tts.speakUrl(24_000)).toBe(
      `${server.baseUrl}/v1/speak?model=aura-2-helena-en&encoding=linear16&sample_rate=24000`,
    );
    const s = await startTTS(tts);
    s.answer("Hi.");
    await endTTS(s);
    expect(s.samples()).toEqual(expected("Hi."));
  });

  it("the server dropping the connection mid-sentence: reported once, the socket reconnects, the next sentence is spoken", async () => {
    const server = await fake({ onFlush: (n) => (n === 1 ? "cut" : "ok") });
    const tts = service(server);
    const s = await startTTS(tts, new SystemClock());
    s.answer("First one. ", "Second.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    await endTTS(s);
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/the connection closed \(1006.*cut short/),
    ]);
    expect(server.connections).toHaveLength(2);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Second."]);
    const half = Math.floor((Math.floor((11 * 240 * 2) / 2) | 1) / 2);
    expect(s.samples()).toEqual(concat(expected("First one. ").subarray(0, half), expected("Second.")));
  });

  it("a stall is abandoned within stallTimeoutMs, reported once, cleared; the next sentence is spoken", async () => {
    const server = await fake({ onFlush: (n) => (n <= 2 ? "stall" : "ok") });
    const tts = service(server, { stallTimeoutMs: 150 });
    const s = await startTTS(tts, new SystemClock());
    const t0 = performance.now();
    s.answer("One. ", "Two. ", "Three.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/gave no audio for 150 ms \(stallTimeoutMs\)/),
    ]);
    expect(types(server.connections[0]!.texts)).toEqual([
      "Speak",
      "Flush",
      "Clear",
      "Speak",
      "Flush",
      "Clear",
      "Speak",
      "Flush",
    ]);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Three."]);
    await endTTS(s);
  });

  // Before, the waiting sentence was abandoned at the stall and the gate lifted with the Clear still
  // unanswered, so the cleared text's audio (sent before a late Cleared) was played in the next
  // sentence (test/adversary/tts-services.test.ts). The connection is reopened instead.
  it("a Clear never answered: the next sentence waits half the stall bound, the connection is reopened, and it is spoken there", async () => {
    const server = await fake({ onFlush: (n) => (n === 1 ? "stall" : "ok"), answerClear: false });
    const tts = service(server, { stallTimeoutMs: 150 });
    const s = await startTTS(tts, new SystemClock());
    s.answer("One. ", "Two. ");
    await waitFor(
      s,
      () => s.down.ofType(TTSAudioRawFrame).length > 0 && s.errors().length === 1,
      "the first stall",
    );
    s.answer("Three.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 2, "the last answer");
    await endTTS(s);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Two. ", "Three."]);
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/gave no audio for 150 ms/),
      expect.stringMatching(/did not answer Clear with Cleared within 75 ms; the connection was reopened/),
    ]);
    expect(types(server.connections[0]!.texts)).toEqual(["Speak", "Flush", "Clear"]);
    expect(types(server.connections[1]!.texts)).toEqual(["Speak", "Flush", "Speak", "Flush", "Close"]);
    expect(tts.stats.reconnectsForClear).toBe(1);
    expect(Array.from(s.samples()).filter((v) => v === STALE_SAMPLE)).toEqual([]);
  });

  it("malformed messages and warnings are said once each, counted, and the audio still plays", async () => {
    const server = await fake({
      greet: [
        "{not json",
        '{"foo":1}',
        "[1]",
        '{"type":"Mystery"}',
        '{"type":"Mystery"}',
        '{"type":"Warning","description":"Flush rate limit exceeded","code":"W1"}',
      ],
    });
    const tts = service(server);
    const s = await startTTS(tts);
    s.answer("Hi.");
    await endTTS(s);
    expect(s.samples()).toEqual(expected("Hi."));
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/Deepgram sent a message that is not JSON \(\{not json\)/),
      expect.stringMatching(/without a "type"/),
      expect.stringMatching(/not an object/),
      expect.stringMatching(/of type "Mystery"/),
    ]);
    expect(tts.stats.malformedMessages).toBe(5);
    expect(
      s.lines.filter(
        (l) => l.level === "warn" && /Deepgram warned: Flush rate limit exceeded/.test(l.message),
      ),
    ).toHaveLength(1);
  });

  it("keeps under Deepgram's flush limit: a sentence past it waits for a slot (said once)", async () => {
    const server = await fake();
    // A window of 1 s: the three sentences of one answer certainly reach their flushes within it,
    // however loaded the machine (300 ms could pass before the third on a slow one: no wait then).
    const tts = service(server, { flushLimit: { count: 2, windowMs: 1_000 } });
    const s = await startTTS(tts, new SystemClock());
    const t0 = performance.now();
    s.answer("One. ", "Two. ", "Three.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
    expect(tts.stats).toMatchObject({ flushes: 3, flushWaits: 1 });
    expect(s.lines.filter((l) => /allows 2 Flush messages per 1000 ms/.test(l.message))).toHaveLength(1);
    expect(s.samples()).toEqual(concat(expected("One. "), expected("Two. "), expected("Three.")));
    await endTTS(s);
  });

  it("a wait for a flush slot longer than stallTimeoutMs is not a stall: the sentence is spoken, no error", async () => {
    const server = await fake();
    const tts = service(server, { flushLimit: { count: 1, windowMs: 800 }, stallTimeoutMs: 300 });
    const s = await startTTS(tts, new SystemClock());
    const t0 = performance.now();
    s.answer("One. ", "Two.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(790);
    expect(tts.stats).toMatchObject({ flushes: 2, flushWaits: 1 });
    expect(s.lines.filter((l) => l.level === "error")).toEqual([]);
    expect(s.samples()).toEqual(concat(expected("One. "), expected("Two.")));
    await endTTS(s);
  });

  for (const point of ["mid-sentence", "waiting for Cleared", "idle"] as const) {
    it(`cancel ${point}: the socket is closed and nothing is left`, async () => {
      const handles = tcpHandles();
      const server = await fake({
        onFlush: () => (point === "idle" ? "ok" : "stall"),
        answerClear: false,
      });
      const tts = service(server);
      const clock = new SystemClock();
      const s = await startTTS(tts, clock);
      s.answer("Hello there. ", "More.");
      if (point === "idle") await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
      else await waitFor(s, () => s.down.ofType(TTSAudioRawFrame).length > 0, "audio");
      if (point === "waiting for Cleared") {
        s.queue(new InterruptionFrame());
        s.answer("Next.");
        await until(() => tts.stats.clears === 1, "the Clear");
      }
      void s.task.cancel("test");
      const outcome = await finishTTS(s);
      expect(outcome.how).toBe("cancelled");
      await until(() => server.closed === 1, "the socket to close");
      expect(s.errors()).toEqual([]);
      await server.close();
      await until(() => tcpHandles() <= handles, "no TCP handle left");
    });
  }

  it("cancel while connecting (the upgrade never answered): the attempt is abandoned, nothing is left", async () => {
    const handles = tcpHandles();
    const server = await fake({ upgrade: () => "hang" });
    const tts = service(server);
    const clock = new SystemClock();
    const task = new PipelineTask(new Pipeline([tts]), { clock, idleTimeoutMs: null });
    const finished = task.run();
    await until(() => server.provider.upgrades.length === 1, "the upgrade");
    void task.cancel("test");
    const outcome = await finished;
    expect(outcome.how).toBe("cancelled");
    await server.close();
    await until(() => tcpHandles() <= handles, "no TCP handle left");
  });

  it("checks its options where they are written", () => {
    expect(() => new DeepgramTTSService({ env: {}, baseUrl: "api.deepgram.com" })).toThrow(
      /baseUrl \(or DEEPGRAM_BASE_URL\) must be a ws:\/\//,
    );
    expect(() => new DeepgramTTSService({ env: { DEEPGRAM_BASE_URL: "nope" } })).toThrow(
      /\(or DEEPGRAM_BASE_URL\) must be/,
    );
    expect(() => new DeepgramTTSService({ env: {}, model: "" })).toThrow(/model must be a non-empty string/);
    expect(() => new DeepgramTTSService({ env: {}, maxSentenceChars: 3000 })).toThrow(/at most 2000/);
    expect(() => new DeepgramTTSService({ env: {}, flushLimit: { count: 0, windowMs: 1 } })).toThrow(
      /flushLimit/,
    );
    expect(() => new DeepgramTTSService({ env: {}, socket: { connectTimeoutMs: -1 } })).toThrow(
      /connectTimeoutMs/,
    );
  });
});
