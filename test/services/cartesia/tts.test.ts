import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../../../src/clock/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../../src/frames/llm.js";
import { LLMTextFrame } from "../../../src/frames/text.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStartedFrame, TTSStoppedFrame } from "../../../src/frames/tts.js";
import { CartesiaTTSService, type CartesiaTTSOptions } from "../../../src/services/cartesia/tts.js";
import { tcpHandles, until } from "../websocket/loopback-provider.js";
import { describeFrames } from "../tts/support.js";
import { expectNothingPending, samplesOf, startStreamingSession } from "../tts/streaming-session.js";
import { type FakeCartesia, type FakeCartesiaOptions, fakeCartesia, sampleFor } from "./fake-cartesia.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  const server = await fakeCartesia(options);
  cleanups.push(() => server.close());
  return server;
}

function service(server: FakeCartesia, options: CartesiaTTSOptions = {}): CartesiaTTSService {
  return new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl, ...options });
}

/** The samples the fake makes for `text` at 24 kHz and 10 ms a character. */
function expected(text: string): number[] {
  return [...text].flatMap((c) => new Array<number>(240).fill(sampleFor(c)));
}

const parsed = (server: FakeCartesia) =>
  server.connections.flatMap((c) => c.texts.map((t) => JSON.parse(t) as Record<string, unknown>));

describe("CartesiaTTSService on a loopback /tts/websocket", () => {
  it("speaks a response on one context: continue + flush per sentence, continue:false at the end; words with pts", async () => {
    const server = await fake();
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("Hello there. ", "How are you?");
    await s.until(() => s.down.ofType(LLMFullResponseEndFrame).length === 1, "the response's end");
    await s.until(() => parsed(server).length === 5, "the context finished");
    expect(server.upgrades[0]!.headers["x-api-key"]).toBe("test-key");
    expect(server.upgrades[0]!.headers["cartesia-version"]).toBe("2025-04-16");
    const sent = parsed(server);
    const ids = new Set(sent.map((m) => m["context_id"]));
    expect(ids.size).toBe(1); // one context for the whole response
    expect(sent.map((m) => [m["transcript"], m["continue"], m["flush"] ?? false])).toEqual([
      ["Hello there. ", true, false],
      ["", true, true],
      ["How are you?", true, false],
      ["", true, true],
      ["", false, false],
    ]);
    expect(sent[0]).toMatchObject({
      model_id: "sonic-2",
      voice: { mode: "id", id: "a0e99841-438c-4a64-b679-ae501e7d6091" },
      language: "en",
      output_format: { container: "raw", encoding: "pcm_s16le", sample_rate: 24_000 },
      add_timestamps: true,
    });
    expect(describeFrames(s.down.frames.filter((f) => f.constructor.name !== "StartFrame"))).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSTextFrame(Hello)",
      "TTSTextFrame(there.)",
      "TTSAudioRawFrame*",
      "TTSTextFrame(How)",
      "TTSTextFrame(are)",
      "TTSTextFrame(you?)",
      "TTSAudioRawFrame*",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    expect(samplesOf(s.down.frames)).toEqual([...expected("Hello there. "), ...expected("How are you?")]);
    // Word pts: from the response's first audio; Cartesia's times count from the context's start.
    const words = s.down.ofType(TTSTextFrame);
    const t0 = words[0]!.pts!;
    expect(words.map((w) => Math.round(w.pts! - t0))).toEqual([0, 60, 130, 170, 210]);
    const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(metrics.filter((m) => m.kind === "tts_usage").map((m) => m.value)).toEqual([13, 12]);
    expect(metrics.find((m) => m.kind === "ttfb")).toMatchObject({ processor: tts.name, model: "sonic-2" });
    const stopped = s.down.ofType(TTSStoppedFrame)[0]!;
    expect(stopped.contextId).toBe(s.down.ofType(TTSStartedFrame)[0]!.contextId);
    expect((await s.finish()).how).toBe("ended");
    expect(s.up.ofType(ErrorFrame)).toEqual([]);
    expect(tts.stats).toMatchObject({ sentences: 2, droppedAfterCancel: 0, malformed: 0 });
    expectNothingPending(s.clock);
  });

  it("carries an odd trailing byte of a base64 chunk over to the next chunk (no sample shifted)", async () => {
    const server = await fake({ chunkBytes: 961 });
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("Odd bytes here.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    expect(samplesOf(s.down.frames)).toEqual(expected("Odd bytes here."));
    expect(tts.stats.oddBytesDropped).toBe(0);
    await s.finish();
  });

  it("an interruption cancels the context; chunks still coming for it are dropped, and the next turn's audio is its own", async () => {
    // Held answers are real waits: a virtual clock would wait for them before the test could release them.
    const server = await fake({ holdAnswers: true, chunksAfterCancel: 3 });
    const tts = service(server);
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("First one. Second one. Third"));
    await s.until(() => server.held.length === 1, "the first sentence sent");
    server.release();
    await s.until(
      () => server.held.length === 1 && s.down.ofType(TTSTextFrame).length === 2,
      "the second sentence sent",
    );
    const before = s.down.frames.length;
    s.queue(new InterruptionFrame());
    await s.until(() => parsed(server).some((m) => m["cancel"] === true), "the cancel");
    const cancelledId = (): string =>
      parsed(server).find((m) => m["cancel"] === true)!["context_id"] as string;
    server.release(); // the second sentence's answer comes anyway: cancelled, not sent by the fake
    await s.until(() => tts.stats.droppedAfterCancel === 3, "the late chunks dropped");
    s.respond("New turn.");
    await s.until(() => server.held.length === 1, "the new turn sent");
    // More of the old context's audio while the new turn's sentence is being read: still dropped.
    server.sendLate(cancelledId(), 2);
    await s.until(() => tts.stats.droppedAfterCancel === 5, "the later chunks dropped");
    server.release();
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the new turn spoken");
    const after = s.down.frames.slice(before);
    // Nothing of the first turn (its "Second one." audio, the late chunks) came after the interruption.
    expect(samplesOf(after)).toEqual(expected("New turn."));
    const contexts = parsed(server).map((m) => m["context_id"]);
    const cancelled = parsed(server).find((m) => m["cancel"] === true)!["context_id"];
    expect(contexts.at(-1)).not.toBe(cancelled);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  it("an interruption between sentences (none in flight) still cancels the response's context", async () => {
    const server = await fake();
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("First one. Half a sen"));
    await s.until(() => s.down.ofType(TTSTextFrame).length === 2, "the first sentence spoken");
    const context = parsed(server)[0]!["context_id"];
    s.queue(new InterruptionFrame());
    await s.until(() => parsed(server).some((m) => m["cancel"] === true), "the cancel");
    expect(parsed(server).at(-1)).toEqual({ context_id: context, cancel: true });
    expect((await s.finish()).how).toBe("ended");
    // Nothing more was sent for the interrupted response (no continue:false, no half sentence).
    expect(parsed(server).filter((m) => m["context_id"] === context)).toHaveLength(3);
  });

  it("a bad key: the 401 is one fatal error naming CARTESIA_API_KEY and quoting Cartesia", async () => {
    const server = await fake({ apiKey: "right" });
    const s = await startStreamingSession([service(server, { apiKey: "wrong" })]);
    const outcome = await s.finished;
    expect(outcome.how).toBe("failed");
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error.message).toMatch(/CARTESIA_API_KEY/);
    expect(errors[0]!.error.message).toMatch(/Invalid API key/);
    expect(server.upgrades).toHaveLength(1); // a 401 is not retried
  });

  it("no key at all: one fatal error naming CARTESIA_API_KEY, no connection tried", async () => {
    const server = await fake();
    const saved = process.env["CARTESIA_API_KEY"];
    delete process.env["CARTESIA_API_KEY"];
    try {
      const s = await startStreamingSession([new CartesiaTTSService({ baseUrl: server.baseUrl })]);
      expect((await s.finished).how).toBe("failed");
      expect(s.up.ofType(ErrorFrame)[0]!.error.message).toMatch(/set CARTESIA_API_KEY/);
      expect(server.upgrades).toHaveLength(0);
    } finally {
      if (saved !== undefined) process.env["CARTESIA_API_KEY"] = saved;
    }
  });

  it("reads the key and base URL from CARTESIA_API_KEY and CARTESIA_BASE_URL", () => {
    const saved = { ...process.env };
    process.env["CARTESIA_API_KEY"] = "env-key";
    process.env["CARTESIA_BASE_URL"] = "wss://eu.example.test/";
    try {
      expect(new CartesiaTTSService().url).toBe("wss://eu.example.test/tts/websocket");
    } finally {
      process.env["CARTESIA_API_KEY"] = saved["CARTESIA_API_KEY"];
      process.env["CARTESIA_BASE_URL"] = saved["CARTESIA_BASE_URL"];
      if (saved["CARTESIA_API_KEY"] === undefined) delete process.env["CARTESIA_API_KEY"];
      if (saved["CARTESIA_BASE_URL"] === undefined) delete process.env["CARTESIA_BASE_URL"];
    }
  });

  it("the server closing mid-sentence: that sentence is abandoned and said once; the next is spoken on a new connection", async () => {
    const server = await fake({ closeMidStreamOn: (t) => t.startsWith("Boom") });
    const tts = service(server);
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    s.respond("Boom goes this. ");
    await s.until(() => s.up.ofType(ErrorFrame).length === 1, "the error");
    expect(s.up.ofType(ErrorFrame)[0]!.error.message).toMatch(/connection to Cartesia was lost \(code 1011/);
    expect(s.up.ofType(ErrorFrame)[0]!.fatal).toBe(false);
    s.respond("Still here.");
    await s.until(() => s.down.ofType(TTSTextFrame).some((f) => f.text === "here."), "the next sentence");
    expect(server.connections).toHaveLength(2);
    expect((await s.finish()).how).toBe("ended");
  });

  it("a malformed message is said once and counted; the audio goes on", async () => {
    const server = await fake({ malformedFirst: true });
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("One. ", "Two.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    expect(samplesOf(s.down.frames)).toEqual([...expected("One. "), ...expected("Two.")]);
    expect(tts.stats.malformed).toBeGreaterThanOrEqual(4);
    const said = s.lines.filter((l) => /Cartesia sent/.test(l.message));
    expect(said.length).toBe(2); // one per kind (not an object, not JSON), not one per message
    await s.finish();
  });

  it("a provider error for a sentence is reported with Cartesia's words; the next sentence is spoken", async () => {
    const server = await fake({ errorOn: (t) => (t.startsWith("Bad") ? "invalid voice id" : undefined) });
    const tts = service(server);
    const s = await startStreamingSession([tts]);
    s.respond("Bad one. ", "Good one.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/Cartesia refused "Bad one\.": invalid voice id/);
    expect(samplesOf(s.down.frames)).toEqual(expected("Good one."));
    await s.finish();
  });

  it("a stall: no audio for a sentence is abandoned within stallTimeoutMs, said once, its context cancelled", async () => {
    const server = await fake({ stallOn: (t) => t.startsWith("Stuck") });
    const tts = service(server, { stallTimeoutMs: 150 });
    const s = await startStreamingSession([tts], { clock: new SystemClock() });
    const t0 = performance.now();
    s.respond("Stuck one. ", "Fine. ", "Stuck two. ", "Fine again.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the response");
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(2_000); // two stalls of 150 ms, not the 5 s default
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1); // the second stall is counted, not said again
    expect(errors[0]!.error.message).toMatch(/stallTimeoutMs/);
    expect(parsed(server).filter((m) => m["cancel"] === true)).toHaveLength(2);
    expect(samplesOf(s.down.frames)).toEqual([...expected("Fine. "), ...expected("Fine again.")]);
    await s.finish();
  });

  it("a slow close (the server never answers the close): end still finishes, the socket destroyed within the bound", async () => {
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

  for (const point of ["connecting", "mid-sentence", "between sentences", "after the response"] as const) {
    it(`cancel ${point}: the task stops, nothing is left running`, async () => {
      const server = await fake({ holdAnswers: true });
      const handles = tcpHandles();
      const tts = service(server);
      const s = await startStreamingSession([tts], { clock: new SystemClock() });
      if (point !== "connecting") {
        s.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("One. Two. Three"));
        await s.until(() => server.held.length === 1, "the first sentence");
        if (point !== "mid-sentence") {
          server.release();
          await s.until(() => server.held.length === 1, "the second sentence");
          if (point === "after the response") {
            server.release();
            s.queue(new LLMFullResponseEndFrame());
            await s.until(() => server.held.length === 1, "the last sentence");
            server.release();
            await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the end");
          }
        }
      }
      expect((await s.finish("cancel")).how).toBe("cancelled");
      expectNothingPending(s.clock);
      await server.close();
      await new Promise((r) => setTimeout(r, 20)); // a socket opened late would show by now
      // The sockets' handles go as their closes are processed: waited for past the 20 ms (which
      // alone assumed they had gone by then), bounded; a handle left open fails here.
      await until(() => tcpHandles() <= handles, "the TCP handles back");
      expect(s.down.ofType(TTSAudioRawFrame).length).toBeGreaterThanOrEqual(0);
    });
  }

  it("refuses bad options at construction, naming the option", () => {
    expect(() => new CartesiaTTSService({ apiKey: "k", sampleRate: 11_025 })).toThrow(InvalidOptionError);
    expect(() => new CartesiaTTSService({ apiKey: "k", sampleRate: 11_025 })).toThrow(/sampleRate 11025 Hz/);
    expect(() => new CartesiaTTSService({ apiKey: "k", voiceId: "has space" })).toThrow(/voiceId must be/);
    expect(() => new CartesiaTTSService({ apiKey: "k", model: "" })).toThrow(/model must be/);
    expect(() => new CartesiaTTSService({ apiKey: "k", language: "English" })).toThrow(/language must be/);
    expect(() => new CartesiaTTSService({ apiKey: "k", baseUrl: "api.cartesia.ai" })).toThrow(
      /baseUrl \(or CARTESIA_BASE_URL\)/,
    );
    expect(() => new CartesiaTTSService({ apiKey: "k", version: "latest" })).toThrow(/version must be/);
  });
});
