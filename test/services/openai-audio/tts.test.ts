import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStartedFrame, TTSStoppedFrame } from "../../../src/frames/tts.js";
import { httpFetch } from "../../../src/services/http/http-fetch.js";
import { OpenAITTSService, type OpenAITTSServiceOptions } from "../../../src/services/openai-audio/tts.js";
import { describeFrames } from "../tts/support.js";
import {
  type FakeOpenAIAudio,
  type FakeOpenAIAudioOptions,
  fakeOpenAIAudio,
  speechSample,
} from "./fake-openai-audio.js";
import { endTTS, expectNothingPending, finishTTS, startTTS, waitFor } from "./tts-session.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: FakeOpenAIAudioOptions = {}): Promise<FakeOpenAIAudio> {
  const server = await fakeOpenAIAudio(options);
  cleanups.push(() => server.close());
  return server;
}

function service(server: FakeOpenAIAudio, options: OpenAITTSServiceOptions = {}): OpenAITTSService {
  return new OpenAITTSService({ apiKey: "test-key", baseURL: server.baseURL, env: {}, ...options });
}

/** The samples the fake speaks for `text`: 240 per character, from index 0. */
function expected(text: string, fraction = 1): Int16Array {
  const n = Math.floor(text.length * 240 * fraction);
  return Int16Array.from({ length: n }, (_, i) => speechSample(i));
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const speechRequests = (server: FakeOpenAIAudio) =>
  server.requests.filter((r) => r.path === "/v1/audio/speech");

describe("OpenAITTSService on a loopback /v1/audio/speech", () => {
  it("sends through httpFetch by default: its shared pool's idle connection serves both sentences (with Node's fetch, it cannot)", async () => {
    const connections: number[] = [];
    for (const fetch of [undefined, globalThis.fetch]) {
      const server = await fake();
      // httpFetch leaves one idle connection to the server; only a request sent through it reuses that.
      await (await httpFetch(`${server.baseURL}/warm-up`, { method: "POST", body: "{}" })).text();
      const s = await startTTS(service(server, fetch ? { fetch } : {}));
      s.answer("Hello there. ", "Bye.");
      await endTTS(s);
      expect(s.errors()).toEqual([]);
      expect(speechRequests(server)).toHaveLength(2);
      connections.push(server.connections);
    }
    expect(connections[0]).toBe(1);
    expect(connections[1]).toBeGreaterThan(1);
  });

  it("sends the documented request and pushes the streamed PCM exactly, samples split across odd chunks", async () => {
    const server = await fake({ chunkBytes: 333 });
    const tts = service(server, { voice: "marin", instructions: "Warm.", speed: 1.25 });
    const s = await startTTS(tts);
    s.answer("Hello there. ", "Bye.");
    await endTTS(s);
    const requests = speechRequests(server);
    expect(requests.map((r) => r.json)).toEqual([
      {
        model: "gpt-4o-mini-tts",
        input: "Hello there. ",
        voice: "marin",
        response_format: "pcm",
        instructions: "Warm.",
        speed: 1.25,
      },
      {
        model: "gpt-4o-mini-tts",
        input: "Bye.",
        voice: "marin",
        response_format: "pcm",
        instructions: "Warm.",
        speed: 1.25,
      },
    ]);
    expect(requests[0]!.authorization).toBe("Bearer test-key");
    expect(requests[0]!.contentType).toBe("application/json");
    // The task's rate is 24 kHz, the engine's too: the audio is the server's, sample for sample.
    expect(s.samples()).toEqual(concat(expected("Hello there. "), expected("Bye.")));
    expect(s.down.ofType(TTSAudioRawFrame).every((f) => f.sampleRate === 24_000)).toBe(true);
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
    expect(metrics.every((m) => m.model === "gpt-4o-mini-tts" && m.processor === tts.name)).toBe(true);
    expect(s.errors()).toEqual([]);
    expectNothingPending(s.clock);
  });

  it("reads a body that arrives one byte at a time (every sample split)", async () => {
    const server = await fake({ chunkBytes: 1, samplesPerChar: 24 });
    const s = await startTTS(service(server));
    s.answer("Hi.");
    await endTTS(s);
    expect(s.samples()).toEqual(Int16Array.from({ length: 72 }, (_, i) => speechSample(i)));
  });

  it("resamples to the task's rate when it is not 24 kHz", async () => {
    const server = await fake();
    const s = await startTTS(service(server), new VirtualClock(), { params: { audioOutSampleRate: 16_000 } });
    s.answer("Hello.");
    await endTTS(s);
    const audio = s.down.ofType(TTSAudioRawFrame);
    expect(audio.every((f) => f.sampleRate === 16_000)).toBe(true);
    // 6 characters × 10 ms, plus the resampler's tail at most a few ms.
    const ms = audio.reduce((n, f) => n + f.durationMs, 0);
    expect(ms).toBeGreaterThanOrEqual(60);
    expect(ms).toBeLessThan(66);
  });

  it("no key: one fatal error at start that names OPENAI_API_KEY, and no request", async () => {
    const server = await fake();
    const tts = new OpenAITTSService({ baseURL: server.baseURL, env: {} });
    const s = await startTTS(tts);
    const outcome = await finishTTS(s);
    expect(outcome.how).not.toBe("ended");
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error.message).toMatch(/no API key: set OPENAI_API_KEY/);
    expect(server.requests).toEqual([]);
  });

  it("takes the key and the endpoint from the environment", async () => {
    const server = await fake({ key: "env-key" });
    const tts = new OpenAITTSService({
      env: { OPENAI_API_KEY: "env-key", OPENAI_BASE_URL: `${server.baseURL}/` },
    });
    expect(tts.baseURL).toBe(server.baseURL);
    const s = await startTTS(tts);
    s.answer("Hi.");
    await endTTS(s);
    expect(speechRequests(server)[0]!.authorization).toBe("Bearer env-key");
    expect(s.samples().length).toBe(3 * 240);
  });

  it("a rejected key (401): one fatal error naming OPENAI_API_KEY; the service is unusable, later sentences ask nothing", async () => {
    const server = await fake({ key: "the-right-key" });
    const s = await startTTS(service(server));
    s.answer("One. ", "Two. ", "Three.");
    await endTTS(s);
    expect(speechRequests(server)).toHaveLength(1);
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/rejected the API key \(HTTP 401: Incorrect API key provided/);
    expect(errors[0]!.error.message).toMatch(/set OPENAI_API_KEY/);
    expect(errors[0]!.error).toMatchObject({ code: "VP_OPENAI_AUDIO_AUTH", status: 401 });
    // A voice with a rejected key cannot speak until the key changes: the session is told so, once.
    expect(errors[0]!.fatal).toBe(true);
    expect(s.down.ofType(TTSAudioRawFrame)).toEqual([]);
  });

  it("a 500 is tried once more at once: the sentence is spoken, a warning said once", async () => {
    const server = await fake({
      speech: (n) => (n === 1 || n === 3 ? { status: 500, message: "boom" } : "ok"),
    });
    const s = await startTTS(service(server));
    s.answer("One. ", "Two.");
    await endTTS(s);
    expect(speechRequests(server).map((r) => r.json!["input"])).toEqual(["One. ", "One. ", "Two.", "Two."]);
    expect(s.samples()).toEqual(concat(expected("One. "), expected("Two.")));
    expect(s.errors()).toEqual([]);
    // Said once; the second retry is only counted (in the summary at the end).
    const warnings = s.lines.filter((l) => l.level === "warn" && /HTTP 500: boom/.test(l.message));
    expect(warnings[0]!.message).toMatch(/trying once more/);
    expect(warnings.slice(1).every((l) => /1 more time/.test(l.message))).toBe(true);
  });

  it("a 500 twice: the sentence is reported once, the next is still spoken; repeats counted, not said", async () => {
    const server = await fake({ speech: (n) => (n <= 4 ? { status: 503, message: "overloaded" } : "ok") });
    const s = await startTTS(service(server));
    s.answer("One. ", "Two. ", "Three.");
    await endTTS(s);
    expect(speechRequests(server)).toHaveLength(5);
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/failed \(HTTP 503: overloaded\)/);
    expect(s.samples()).toEqual(expected("Three."));
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Three."]);
  });

  it("a 429 is reported, not retried at once", async () => {
    const server = await fake({ speech: (n) => (n === 1 ? { status: 429, message: "slow down" } : "ok") });
    const s = await startTTS(service(server));
    s.answer("One. ", "Two.");
    await endTTS(s);
    expect(speechRequests(server)).toHaveLength(2);
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/rate limited .*HTTP 429: slow down/),
    ]);
    expect(s.samples()).toEqual(expected("Two."));
  });

  it("the server closing mid-body: the audio before it is played, the break reported, the next sentence spoken", async () => {
    const server = await fake({ speech: (n) => (n === 1 ? "cut" : "ok") });
    const s = await startTTS(service(server));
    s.answer("First one. ", "Second.");
    await endTTS(s);
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/the answer from .* broke off/);
    // Half of the first sentence's bytes (odd, the dangling byte dropped), then all of the second.
    const half = Math.floor((Math.floor(("First one. ".length * 240 * 2) / 2) | 1) / 2);
    expect(s.samples()).toEqual(concat(expected("First one. ").subarray(0, half), expected("Second.")));
    // The cut sentence is not reported as spoken.
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Second."]);
  });

  it("a 200 that is not audio (a JSON body) is reported clearly, not played as noise", async () => {
    const server = await fake({ speech: () => "json" });
    const s = await startTTS(service(server));
    s.answer("Hello.");
    await endTTS(s);
    expect(s.errors().map((e) => e.error.message)).toEqual([
      expect.stringMatching(/answered with application\/json, not raw PCM/),
    ]);
    expect(s.down.ofType(TTSAudioRawFrame)).toEqual([]);
  });

  it("a stall (audio, then nothing) is abandoned within stallTimeoutMs, reported once, the request closed", async () => {
    const server = await fake({ speech: (n) => (n <= 2 ? "stall" : "ok") });
    const s = await startTTS(service(server, { stallTimeoutMs: 150 }), new SystemClock());
    const t0 = performance.now();
    s.answer("One. ", "Two. ", "Three.");
    await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
    const elapsed = performance.now() - t0;
    // Two stalls of 150 ms each, then the third sentence: well under a second.
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    const errors = s.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/gave no audio for 150 ms \(stallTimeoutMs\)/);
    await waitFor(s, () => server.abandoned === 2, "the stalled requests to be closed");
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Three."]);
    await endTTS(s);
  });

  it("an interruption mid-sentence aborts the request at once; nothing stale is pushed; the next answer plays", async () => {
    const server = await fake({ speech: (n) => (n === 1 ? "stall" : "ok") });
    const s = await startTTS(service(server));
    s.answer("A long first sentence. ", "Never sent.");
    await waitFor(s, () => s.down.ofType(TTSAudioRawFrame).length > 0, "the first audio");
    const before = s.down.ofType(TTSAudioRawFrame).length;
    s.queue(new InterruptionFrame());
    await waitFor(s, () => server.abandoned === 1, "the request to be aborted");
    s.answer("Next.");
    await endTTS(s);
    expect(speechRequests(server).map((r) => r.json!["input"])).toEqual(["A long first sentence. ", "Next."]);
    const audio = s.down.ofType(TTSAudioRawFrame);
    const interruptedAt = s.down.frames.findIndex((f) => f instanceof InterruptionFrame);
    // Nothing of the first request after the interruption: what follows is the next answer's.
    expect(s.down.frames.slice(interruptedAt).filter((f) => f instanceof TTSAudioRawFrame).length).toBe(
      audio.length - before,
    );
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["Next."]);
    expect(s.down.ofType(TTSStartedFrame)).toHaveLength(2);
    expect(s.errors()).toEqual([]);
    expectNothingPending(s.clock);
  });

  for (const point of ["waiting for the answer", "mid-body", "idle"] as const) {
    it(`cancel ${point}: the request is closed and nothing is left on the clock`, async () => {
      const server = await fake({
        speech: () => (point === "mid-body" ? "stall" : point === "idle" ? "ok" : "hang"),
      });
      const s = await startTTS(service(server));
      s.answer("Hello there.");
      if (point === "mid-body") await waitFor(s, () => s.down.ofType(TTSAudioRawFrame).length > 0, "audio");
      else if (point === "waiting for the answer")
        await waitFor(s, () => server.requests.length === 1, "the request");
      else await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
      void s.task.cancel("test");
      const outcome = await finishTTS(s);
      expect(outcome.how).toBe("cancelled");
      if (point !== "idle") await waitFor(s, () => server.abandoned === 1, "the server to see the client go");
      expect(s.errors()).toEqual([]);
      expectNothingPending(s.clock);
    });
  }

  it("checks its options where they are written", () => {
    expect(() => new OpenAITTSService({ env: {}, speed: 5 })).toThrow(
      /speed must be a number from 0.25 to 4.0 \(got 5\)/,
    );
    expect(() => new OpenAITTSService({ env: {}, voice: "" })).toThrow(InvalidOptionError);
    expect(() => new OpenAITTSService({ env: {}, baseURL: "ftp://x" })).toThrow(/baseURL must be an http/);
    expect(() => new OpenAITTSService({ env: { OPENAI_BASE_URL: "nope" } })).toThrow(
      /OPENAI_BASE_URL must be an http/,
    );
    expect(() => new OpenAITTSService({ env: {}, stallTimeoutMs: -1 })).toThrow(/stallTimeoutMs/);
    expect(
      () => new OpenAITTSService({ env: {}, fetch: "https://proxy" as unknown as typeof globalThis.fetch }),
    ).toThrow(/fetch must be a function with fetch's signature, such as globalThis.fetch \(got string\)/);
  });
});
