import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { type Frame, FrameDirection } from "../../../src/frames/frame.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../../src/frames/speaking.js";
import { TranscriptionFrame } from "../../../src/frames/text.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../../src/pipeline/task.js";
import { httpFetch } from "../../../src/services/http/http-fetch.js";
import { OpenAISTTService, type OpenAISTTServiceOptions } from "../../../src/services/openai-audio/stt.js";
import { FrameRecorder } from "../../../src/testing/frame-recorder.js";
import { memoryLogger } from "../../support/logger.js";
import { speechChunk } from "../deepgram/stt-session.js";
import { until } from "../websocket/loopback-provider.js";
import { type FakeOpenAIAudio, type FakeOpenAIAudioOptions, fakeOpenAIAudio } from "./fake-openai-audio.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: FakeOpenAIAudioOptions = {}): Promise<FakeOpenAIAudio> {
  const server = await fakeOpenAIAudio(options);
  cleanups.push(() => server.close());
  return server;
}

async function session(options: OpenAISTTServiceOptions, clock: Clock = new VirtualClock()) {
  const { logger, lines } = memoryLogger();
  const stt = new OpenAISTTService({ apiKey: "test-key", env: {}, ...options });
  const up = new FrameRecorder(FrameDirection.UPSTREAM, { name: "up" });
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const task = new PipelineTask(new Pipeline([up, stt, down]), { clock, logger, idleTimeoutMs: null });
  let started = false;
  task.on("pipelineStarted", () => void (started = true));
  const finished = task.run();
  await until(() => started || task.hasFinished(), "the task to start");
  const queue = (...frames: Frame[]) => frames.forEach((f) => task.queueFrame(f));
  return {
    stt,
    task,
    up,
    down,
    lines,
    clock,
    queue,
    /** One utterance: start, `ms` of speech in 20 ms frames, stop. */
    async utter(ms: number) {
      queue(new VADUserStartedSpeakingFrame());
      for (let t = 0; t < ms; t += 20) {
        queue(speechChunk(20, 16_000, 1, t));
        if (clock instanceof VirtualClock) await clock.advance(20);
      }
      queue(new VADUserStoppedSpeakingFrame());
    },
    async finish(how: "end" | "cancel" = "end") {
      if (how === "end") void task.stopWhenDone();
      else void task.cancel("test");
      if (clock instanceof VirtualClock) await clock.runUntil(finished, { maxMs: 60_000 });
      return finished;
    },
    transcripts: () => down.ofType(TranscriptionFrame).map((f) => f.text),
    errors: () => up.ofType(ErrorFrame),
  };
}

const transcriptionRequests = (server: FakeOpenAIAudio) =>
  server.requests.filter((r) => r.path === "/v1/audio/transcriptions");

describe("OpenAISTTService on a loopback /v1/audio/transcriptions", () => {
  it("sends through httpFetch by default: its shared pool's idle connection serves both utterances (with Node's fetch, it cannot)", async () => {
    const connections: number[] = [];
    for (const fetch of [undefined, globalThis.fetch]) {
      const server = await fake();
      // httpFetch leaves one idle connection to the server; only a request sent through it reuses that.
      await (await httpFetch(`${server.baseURL}/warm-up`, { method: "POST", body: "{}" })).text();
      const s = await session({ baseURL: server.baseURL, ...(fetch ? { fetch } : {}) });
      for (let i = 1; i <= 2; i++) {
        await s.utter(200);
        await until(() => s.transcripts().length === i, `transcript ${i}`);
      }
      await s.finish();
      expect(s.errors()).toEqual([]);
      connections.push(server.connections);
    }
    expect(connections[0]).toBe(1);
    expect(connections[1]).toBeGreaterThan(1);
  });

  it("posts each utterance as a WAV in the documented form and pushes its text, with usage and TTFB", async () => {
    const server = await fake({ transcript: (n) => (n === 1 ? "book a table" : "for two") });
    const s = await session({ baseURL: server.baseURL, language: "en-GB", prompt: "Restaurant talk" });
    await s.utter(400);
    await until(() => s.transcripts().length === 1, "the first transcript");
    await s.utter(200);
    await until(() => s.transcripts().length === 2, "the second transcript");
    const outcome = await s.finish();
    expect(outcome.how).toBe("ended");
    expect(s.transcripts()).toEqual(["book a table", "for two"]);
    expect(s.down.ofType(TranscriptionFrame)[0]).toMatchObject({ language: "en-GB" });
    const requests = transcriptionRequests(server);
    expect(requests).toHaveLength(2);
    expect(requests[0]!.authorization).toBe("Bearer test-key");
    expect(requests[0]!.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(requests[0]!.fields).toEqual({
      model: "gpt-4o-transcribe",
      response_format: "json",
      language: "en",
      prompt: "Restaurant talk",
    });
    // 400 ms of speech; no audio came before the start, so the preroll adds nothing.
    expect(requests[0]!.file).toEqual({
      name: "audio.wav",
      type: "audio/wav",
      sampleRate: 16_000,
      samples: 6_400,
    });
    const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
    const usage = metrics
      .filter((m) => m.kind === "stt_usage")
      .map((m) => m.value as { audioSeconds: number });
    expect(usage.reduce((n, u) => n + u.audioSeconds, 0)).toBeCloseTo(0.6, 5);
    expect(metrics.filter((m) => m.kind === "ttfb")).toHaveLength(2);
    expect(metrics.every((m) => m.model === "gpt-4o-transcribe")).toBe(true);
    expect(s.errors()).toEqual([]);
    const clock = s.clock as VirtualClock;
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  });

  it("no key: one fatal error at start naming OPENAI_API_KEY, and no request", async () => {
    const server = await fake();
    const s = await session({ apiKey: undefined, baseURL: server.baseURL });
    const outcome = await s.finish();
    expect(outcome.how).not.toBe("ended");
    expect(s.errors().map((e) => [e.fatal, e.error.message])).toEqual([
      [true, expect.stringMatching(/no API key: set OPENAI_API_KEY/)],
    ]);
    expect(server.requests).toEqual([]);
  });

  it("a rejected key: one error naming OPENAI_API_KEY, the service unusable, nothing more asked", async () => {
    const server = await fake({ key: "other" });
    const s = await session({ baseURL: server.baseURL, fatalOnFailure: false });
    await s.utter(200);
    await until(() => s.errors().length === 1, "the error");
    await s.utter(200);
    await s.finish();
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/rejected the API key \(HTTP 401.*set OPENAI_API_KEY/),
    ]);
    expect(s.stt.usable).toBe(false);
    expect(transcriptionRequests(server)).toHaveLength(1);
  });

  it("a 500 is tried once more at once and the utterance is transcribed", async () => {
    const server = await fake({
      transcription: (n) => (n === 1 ? { status: 502, message: "bad gateway" } : "ok"),
    });
    const s = await session({ baseURL: server.baseURL });
    await s.utter(200);
    await until(() => s.transcripts().length === 1, "the transcript");
    await s.finish();
    expect(transcriptionRequests(server)).toHaveLength(2);
    expect(s.errors()).toEqual([]);
    expect(
      s.lines.filter((l) => l.level === "warn" && /HTTP 502: bad gateway.*trying once more/.test(l.message)),
    ).toHaveLength(1);
  });

  it("a malformed answer fails that utterance, said once, repeats counted; the next good one is transcribed", async () => {
    const server = await fake({ transcription: (n) => (n <= 2 ? "json" : "ok") });
    const s = await session({ baseURL: server.baseURL });
    await s.utter(200);
    await s.utter(200);
    await s.utter(200);
    await until(() => s.transcripts().length === 1, "the transcript");
    await s.finish();
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(
        /transcription failed: .* is not a transcription \(expected JSON with a "text" string; it starts "\{not json"\)/,
      ),
    ]);
    expect(s.errors()[0]!.fatal).toBe(false);
  });

  it("a request that hangs is abandoned at requestTimeoutMs and reported once; the next utterance is transcribed", async () => {
    const server = await fake({ transcription: (n) => (n === 1 ? "hang" : "ok") });
    const s = await session({ baseURL: server.baseURL, requestTimeoutMs: 150 }, new SystemClock());
    await s.utter(100);
    await until(() => s.errors().length === 1, "the timeout");
    expect(s.errors()[0]!.error.message).toMatch(/a transcription request did not settle within 150 ms/);
    await until(() => server.abandoned === 1, "the request to be closed");
    await s.utter(100);
    await until(() => s.transcripts().length === 1, "the transcript");
    await s.finish();
  });

  it("cancel while a request is in flight aborts it; nothing is left", async () => {
    const server = await fake({ transcription: () => "hang" });
    const s = await session({ baseURL: server.baseURL });
    await s.utter(200);
    await until(() => transcriptionRequests(server).length === 1, "the request");
    const outcome = await s.finish("cancel");
    expect(outcome.how).toBe("cancelled");
    await until(() => server.abandoned === 1, "the server to see the client go");
    expect(s.stt.requestsInFlight).toBe(0);
    expect(s.errors()).toEqual([]);
    const clock = s.clock as VirtualClock;
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  });

  it("the end waits for the answer of the utterance in progress", async () => {
    const server = await fake();
    const s = await session({ baseURL: server.baseURL });
    s.queue(new VADUserStartedSpeakingFrame(), speechChunk(20, 16_000), speechChunk(20, 16_000, 1, 20));
    const outcome = await s.finish();
    expect(outcome.how).toBe("ended");
    expect(s.transcripts()).toEqual(["book a table for two"]);
  });

  it("checks its options where they are written", () => {
    expect(() => new OpenAISTTService({ env: {}, language: "english!" })).toThrow(
      /language must be a BCP-47 tag/,
    );
    expect(() => new OpenAISTTService({ env: {}, temperature: 2 })).toThrow(
      /temperature must be a number from 0 to 1/,
    );
    expect(() => new OpenAISTTService({ env: {}, model: "" })).toThrow(/model must be a non-empty string/);
    expect(() => new OpenAISTTService({ env: { OPENAI_BASE_URL: "ws://x" } })).toThrow(
      /OPENAI_BASE_URL must be an http/,
    );
    expect(() => new OpenAISTTService({ env: {}, requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs/);
  });
});
