import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { LLMFullResponseStartFrame } from "../../../src/frames/llm.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { LLMTextFrame, TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { ElevenLabsTTSService, type ElevenLabsTTSOptions } from "../../../src/services/elevenlabs/tts.js";
import { tcpHandles, until } from "../websocket/loopback-provider.js";
import { expectNothingPending, samplesOf, startStreamingSession } from "../tts/streaming-session.js";
import {
  type FakeElevenLabs,
  type FakeElevenLabsOptions,
  elevenSample,
  fakeElevenLabs,
} from "./fake-elevenlabs.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const server = await fakeElevenLabs(options);
  cleanups.push(() => server.close());
  return server;
}

function service(server: FakeElevenLabs, options: ElevenLabsTTSOptions = {}): ElevenLabsTTSService {
  return new ElevenLabsTTSService({ apiKey: "test-key", baseUrl: server.baseUrl, ...options });
}

/** The samples the fake makes for `text` (trailing space dropped) at 24 kHz, 10 ms a character. */
function expected(text: string): number[] {
  return [...text.trimEnd()].flatMap((c) => new Array<number>(240).fill(elevenSample(c)));
}

const received = (server: FakeElevenLabs) => server.connections.flatMap((c) => c.received);

describe("ElevenLabsTTSService on a loopback multi-stream-input", () => {
  for (const spelling of ["camel", "snake"] as const) {
    it(`speaks each sentence on a context of its own; alignment → words with pts (${spelling} spellings)`, async () => {
      const server = await fake({ spelling, chunkBytes: 2_000 });
      const tts = service(server, { voiceSettings: { stability: 0.5, similarityBoost: 0.8 } });
      const s = await startStreamingSession([tts]);
      s.respond("Hello there. ", "How are you?");
      await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
      const url = server.connections[0]!.url;
      expect(url.pathname).toBe("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input");
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        model_id: "eleven_flash_v2_5",
        output_format: "pcm_24000",
        inactivity_timeout: "180",
      });
      expect(server.upgrades[0]!.headers["xi-api-key"]).toBe("test-key");
      const sent = received(server);
      const [a, b] = [sent[0]!["context_id"], sent[3]!["context_id"]];
      expect(a).not.toBe(b);
      expect(sent).toEqual([
        { text: " ", context_id: a, voice_settings: { stability: 0.5, similarity_boost: 0.8 } },
        { text: "Hello there. ", context_id: a, flush: true },
        { context_id: a, close_context: true },
        { text: " ", context_id: b, voice_settings: { stability: 0.5, similarity_boost: 0.8 } },
        { text: "How are you? ", context_id: b, flush: true },
        { context_id: b, close_context: true },
      ]);
      expect(samplesOf(s.down.frames)).toEqual([...expected("Hello there."), ...expected("How are you?")]);
      const words = s.down.ofType(TTSTextFrame);
      expect(words.map((w) => w.text)).toEqual(["Hello", "there.", "How", "are", "you?"]);
      const t0 = words[0]!.pts!;
      // Alignment times count from each message (2000 bytes ≈ 41.7 ms); the words from the sentence.
      expect(words.map((w) => Math.round(w.pts! - t0))).toEqual([0, 60, 120, 160, 200]);
      const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
      expect(metrics.find((m) => m.kind === "ttfb")).toMatchObject({ model: "eleven_flash_v2_5" });
      expect((await s.finish()).how).toBe("ended");
      expect(received(server).at(-1)).toEqual({ close_socket: true });
      expect(s.up.ofType(ErrorFrame)).toEqual([]);
      expectNothingPending(s.clock);
    });
  }

  it("carries an odd trailing byte of a base64 chunk over to the next", async () => {
    const server = await fake({ chunkBytes: 333 });
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("Odd bytes.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    expect(samplesOf(s.down.frames)).toEqual(expected("Odd bytes."));
    await s.finish();
  });

  it("an interruption: the sentence's late audio is dropped and counted; the next turn's audio is its own", async () => {
    const server = await fake({ holdAnswers: true });
    const tts = service(server);
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("First one. Second"));
    await s.until(() => server.held.length === 1, "the first sentence");
    const before = s.down.frames.length;
    s.queue(new InterruptionFrame());
    const first = received(server)[0]!["context_id"] as string;
    await s.until(() => tts.stats.sentences === 1 && s.down.frames.length > before, "the interruption");
    server.release(); // its whole answer comes after the interruption
    await s.until(() => tts.stats.droppedAfterCancel >= 1, "the late audio dropped");
    const dropped = tts.stats.droppedAfterCancel;
    s.respond("New turn.");
    await s.until(() => server.held.length === 1, "the new turn sent");
    // More of the old context's audio while the new turn's sentence is being read: still dropped.
    server.sendLate(first, 2);
    await s.until(() => tts.stats.droppedAfterCancel === dropped + 2, "the later audio dropped");
    server.release();
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the new turn spoken");
    expect(samplesOf(s.down.frames.slice(before))).toEqual(expected("New turn."));
    expect(s.down.ofType(TTSTextFrame).map((w) => w.text)).toEqual(["New", "turn."]);
    expect((await s.finish()).how).toBe("ended");
  });

  it("a bad key answered with a 401: one fatal error naming ELEVENLABS_API_KEY", async () => {
    const server = await fake({ apiKey: "right" });
    const s = await startStreamingSession([service(server, { apiKey: "wrong" })]);
    expect((await s.finished).how).toBe("failed");
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/ELEVENLABS_API_KEY/);
    expect(errors[0]!.error.message).toMatch(/Invalid API key/);
  });

  it("a bad key answered after the upgrade (an error message, then close 1008): one fatal error quoting ElevenLabs", async () => {
    const server = await fake({ apiKey: "right", keyErrorAfterOpen: true });
    const s = await startStreamingSession([service(server, { apiKey: "wrong" })], {
      clock: new SystemClock(),
    });
    await s.until(() => s.up.ofType(ErrorFrame).some((e) => e.fatal), "the fatal error");
    const fatal = s.up.ofType(ErrorFrame).filter((e) => e.fatal);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.error.message).toMatch(/1008/);
    expect(fatal[0]!.error.message).toMatch(
      /ElevenLabs said: "invalid_api_key: Invalid API key"; check the key in ELEVENLABS_API_KEY/,
    );
    expect((await s.finished).how).toBe("failed");
    expect(server.upgrades).toHaveLength(1);
  });

  it("no key: one fatal error naming ELEVENLABS_API_KEY, no connection tried", async () => {
    const server = await fake();
    const saved = process.env["ELEVENLABS_API_KEY"];
    delete process.env["ELEVENLABS_API_KEY"];
    try {
      const s = await startStreamingSession([new ElevenLabsTTSService({ baseUrl: server.baseUrl })]);
      expect((await s.finished).how).toBe("failed");
      expect(s.up.ofType(ErrorFrame)[0]!.error.message).toMatch(/set ELEVENLABS_API_KEY/);
      expect(server.upgrades).toHaveLength(0);
    } finally {
      if (saved !== undefined) process.env["ELEVENLABS_API_KEY"] = saved;
    }
  });

  it("the server closing mid-sentence: the sentence is abandoned, said once; the next is spoken after the reconnect", async () => {
    const server = await fake({ closeMidStreamOn: (t) => t.startsWith("Boom") });
    const tts = service(server);
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Boom here. ");
    await s.until(() => s.up.ofType(ErrorFrame).length === 1, "the error");
    expect(s.up.ofType(ErrorFrame)[0]!.error.message).toMatch(
      /connection to ElevenLabs was lost \(code 1011/,
    );
    s.respond("Still here.");
    await s.until(() => s.down.ofType(TTSTextFrame).some((f) => f.text === "here."), "the next sentence");
    expect(server.connections).toHaveLength(2);
    expect((await s.finish()).how).toBe("ended");
  });

  it("malformed messages are said once per kind and counted; a provider error names the sentence", async () => {
    const server = await fake({
      malformedFirst: true,
      errorOn: (t) => (t.startsWith("Bad") ? "voice_settings are invalid" : undefined),
    });
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("Bad one. ", "Good one. ", "Good two.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    expect(samplesOf(s.down.frames)).toEqual([...expected("Good one."), ...expected("Good two.")]);
    expect(tts.stats.malformed).toBe(6);
    expect(s.lines.filter((l) => /ElevenLabs sent/.test(l.message))).toHaveLength(2);
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(
      /ElevenLabs refused "Bad one\.": invalid_request: voice_settings are invalid/,
    );
    await s.finish();
  });

  it("a stall is abandoned within stallTimeoutMs and said once; the next sentence is spoken", async () => {
    const server = await fake({ stallOn: (t) => t.startsWith("Stuck") });
    const tts = service(server, { stallTimeoutMs: 150 });
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Stuck. ", "Fine. ", "Stuck again. ", "Fine again.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    expect(s.up.ofType(ErrorFrame)).toHaveLength(1);
    expect(s.up.ofType(ErrorFrame)[0]!.error.message).toMatch(/stallTimeoutMs/);
    expect(samplesOf(s.down.frames)).toEqual([...expected("Fine."), ...expected("Fine again.")]);
    await s.finish();
  });

  it("sends a keep-alive ({text:''}) after keepAliveIntervalMs without input, on the virtual clock", async () => {
    const server = await fake();
    const tts = service(server, { keepAliveIntervalMs: 10_000 });
    const clock = new VirtualClock();
    const s = await startStreamingSession([tts], { clock });
    await clock.advance(25_000);
    await s.until(() => received(server).length >= 2, "two keep-alives");
    expect(received(server).slice(0, 2)).toEqual([{ text: "" }, { text: "" }]);
    await s.finish();
  });

  it("a slow close: end finishes anyway, the socket destroyed within the bound", async () => {
    const server = await fake({ slowClose: true });
    const tts = service(server, { socket: { closeTimeoutMs: 150 } });
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Bye.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    const t0 = performance.now();
    expect((await s.finish()).how).toBe("ended");
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(tts.socketStats?.terminatedAtClose).toBe(1);
  });

  for (const point of ["connecting", "mid-sentence", "between sentences"] as const) {
    it(`cancel ${point}: the task stops, nothing is left running`, async () => {
      const server = await fake({ holdAnswers: true });
      const handles = tcpHandles();
      const tts = service(server);
      const s = await startStreamingSession([tts], { clock: new SystemClock() });
      if (point !== "connecting") {
        s.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("One. Two. Three"));
        await s.until(() => server.held.length === 1, "the first sentence");
        if (point === "between sentences") {
          server.release();
          await s.until(() => server.held.length === 1, "the second sentence");
        }
      }
      expect((await s.finish("cancel")).how).toBe("cancelled");
      await server.close();
      await new Promise((r) => setTimeout(r, 20)); // a socket opened late would show by now
      // The sockets' handles go as their closes are processed: waited for past the 20 ms (which
      // alone assumed they had gone by then), bounded; a handle left open fails here.
      await until(() => tcpHandles() <= handles, "the TCP handles back");
    });
  }

  it("refuses bad options at construction, naming the option", () => {
    const make = (o: ElevenLabsTTSOptions) => () => new ElevenLabsTTSService({ apiKey: "k", ...o });
    expect(make({ sampleRate: 48_000 })).toThrow(InvalidOptionError);
    expect(make({ sampleRate: 48_000 })).toThrow(/sampleRate 48000 Hz/);
    expect(make({ model: "eleven_v3" })).toThrow(/not served by ElevenLabs' multi-context websocket/);
    expect(make({ voiceId: "a/b" })).toThrow(/voiceId must be/);
    expect(make({ voiceSettings: { stability: 2 } })).toThrow(
      /voiceSettings.stability must be a number from 0 to 1/,
    );
    expect(make({ inactivityTimeoutS: 600 })).toThrow(/inactivityTimeoutS must be/);
    expect(make({ baseUrl: "elevenlabs" })).toThrow(/ELEVENLABS_BASE_URL/);
  });
});
