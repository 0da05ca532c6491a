/**
 * Adversarial probes: provider services through their public entry points, against the loopback
 * servers of test/services/**: the LLMSwitcher (docs/design/resilience.md) when every service
 * fails, CartesiaTTSService (docs/design/tts-services.md) under floods, huge frames and
 * interruption storms, and SmartTurnAnalyzer under concurrency and release mid-analysis.
 */
import { getEventListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMSwitcher,
  TTSAudioRawFrame,
  SystemClock,
  TTSStoppedFrame,
  VirtualClock,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { CartesiaTTSService } from "../../src/services/cartesia/index.js";
import { ElevenLabsTTSService } from "../../src/services/elevenlabs/index.js";
import { DeepgramTTSService } from "../../src/services/deepgram/index.js";
import { fakeElevenLabs } from "../services/elevenlabs/fake-elevenlabs.js";
import { fakeDeepgramSpeak } from "../services/deepgram/fake-deepgram-speak.js";
import { SmartTurnAnalyzer, SmartTurnWorker } from "../../src/audio/turn/smart-turn/index.js";
import { type LoopbackOpenAI, type Responder, loopbackOpenAI } from "../services/llm/loopback-openai.js";
import { runProcessor } from "../services/http/run-llm.js";
import { type FakeCartesia, fakeCartesia } from "../services/cartesia/fake-cartesia.js";
import { expectNothingPending, samplesOf, startStreamingSession } from "../services/tts/streaming-session.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function openai(respond: Responder): Promise<LoopbackOpenAI> {
  const s = await loopbackOpenAI(respond);
  cleanups.push(() => s.close());
  return s;
}

function llm(srv: LoopbackOpenAI, name: string): OpenAILLMService {
  return new OpenAILLMService({
    name,
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: name,
    retryBackoffMs: 0,
  });
}

describe("LLMSwitcher when every service fails, turn after turn", () => {
  it("held: 30 turns against two 500-ing services: requests, errors and switches grow by a bounded amount per turn, nothing spins", async () => {
    const a = await openai((sse) => sse.error(500, "down"));
    const b = await openai((sse) => sse.error(500, "down too"));
    const switcher = new LLMSwitcher([llm(a, "primary"), llm(b, "backup")], { name: "switcher" });
    let switches = 0;
    switcher.on("switched", () => void switches++);
    const clock = new VirtualClock();
    const t = runProcessor(switcher, { clock });
    const perTurn: number[] = [];
    for (let turn = 1; turn <= 30; turn++) {
      const before = a.requests.length + b.requests.length;
      t.task.queueFrame(
        new LLMContextFrame(new LLMContext({ messages: [{ role: "user", content: `turn ${turn}` }] })),
      );
      await clock.runUntil(() => a.requests.length + b.requests.length - before >= 4, { maxMs: 60_000 });
      await clock.runUntil(() => [...a.requests, ...b.requests].every((r) => r.closed), { maxMs: 60_000 });
      perTurn.push(a.requests.length + b.requests.length - before);
    }
    await t.finish();
    // Each turn: at most one try (plus its one retry) per service; never a loop between them.
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(4);
    expect(Math.min(...perTurn)).toBeGreaterThanOrEqual(1);
    expect(switches).toBeLessThanOrEqual(30 * 2);
    // Errors said once per service, repeats counted (not once per turn or retry).
    expect(t.errors.length).toBeLessThanOrEqual(2);
    expect(t.down.ofType(LLMFullResponseEndFrame).length).toBeLessThanOrEqual(30);
    expect(clock.pendingTimers).toBe(0);
  });
});

async function cartesia(options: Parameters<typeof fakeCartesia>[0] = {}): Promise<FakeCartesia> {
  const s = await fakeCartesia(options);
  cleanups.push(() => s.close());
  return s;
}
const parsed = (server: FakeCartesia) =>
  server.connections.flatMap((c) => c.texts.map((t) => JSON.parse(t) as Record<string, unknown>));

describe("CartesiaTTSService under hostile servers", () => {
  it("held: 3000 chunks flooded for a finished/cancelled context are dropped, none reaches the pipeline, the next turn is clean", async () => {
    const server = await cartesia();
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    s.respond("Hello there.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the first turn");
    const ctx = parsed(server)[0]!["context_id"] as string;
    s.queue(new InterruptionFrame());
    const before = s.down.frames.length;
    server.sendLate(ctx, 3000);
    await s.until(
      () =>
        tts.stats.droppedAfterCancel + tts.stats.malformed >= 3000 ||
        s.down.frames.slice(before).some((f) => f instanceof TTSAudioRawFrame),
      "the flood handled",
    );
    expect(s.down.frames.slice(before).filter((f) => f instanceof TTSAudioRawFrame)).toEqual([]);
    s.respond("Next.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 2, "the second turn");
    expect(samplesOf(s.down.frames.slice(before)).length).toBe(5 * 240);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  // HOLE. Root cause: a sentence that arrives while the provider socket is reopening after a drop
  // (here: the client's own 1009 refusal of a 50 MB frame, between turns) is not queued for the
  // new connection: ProviderSocket drops sends while (re)opening (stats.droppedSends) and the
  // service logs "the connection to Cartesia closed before "Again." could be sent; the sentence was
  // skipped", so the whole next turn is silent. No log line names the oversize frame either.
  it("fixed: a turn right after the server sent a 50 MB frame (between turns) is spoken on the new connection", async () => {
    const server = await cartesia();
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts], { clock: new SystemClock() }); // the reconnect is real I/O
    cleanups.push(async () => void (await s.finish("cancel")));
    s.respond("Hi.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the first turn");
    const before = s.down.frames.length;
    server.connections[0]!.ws.send("x".repeat(50 * 1024 * 1024));
    await s.until(() => server.connections[0]!.ws.readyState !== 1, "the big frame refused");
    s.respond("Again.");
    await s.until(() => samplesOf(s.down.frames.slice(before)).length === 6 * 240, "the second turn spoken");
  });

  it("held: after the 50 MB frame's drop, a turn that comes once the socket has reopened is spoken", async () => {
    const server = await cartesia();
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    s.respond("Hi.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the first turn");
    server.connections[0]!.ws.send("x".repeat(50 * 1024 * 1024));
    await s.until(() => server.connections.length === 2, "the reconnect");
    const before = s.down.frames.length;
    s.respond("Again.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 2, "the second turn");
    expect(samplesOf(s.down.frames.slice(before)).length).toBe(6 * 240);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  it("held: 100 interruptions in a row while speaking: at most one cancel per context, the next turn is its own", async () => {
    const server = await cartesia({ msPerChar: 200 });
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    s.respond("A long sentence being spoken. And another.");
    await s.until(() => s.down.ofType(TTSAudioRawFrame).length > 0, "speaking");
    for (let i = 0; i < 100; i++) s.queue(new InterruptionFrame());
    const before = s.down.frames.length;
    s.respond("Fresh.");
    await s.until(
      () =>
        s.down.ofType(TTSStoppedFrame).length >= 1 &&
        samplesOf(s.down.frames.slice(before)).length >= 6 * 200 * 24,
      "the fresh turn",
    );
    const cancels = parsed(server)
      .filter((m) => m["cancel"] === true)
      .map((m) => m["context_id"]);
    expect(cancels.length).toBe(new Set(cancels).size);
    expect(cancels.length).toBeLessThanOrEqual(1);
    expect(server.connections.length).toBe(1);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });
});

describe("ElevenLabs / Deepgram TTS: interruption storms, cancel mid-reconnect", () => {
  it("held: ElevenLabs, 100 interruptions while speaking: one connection, each context closed at most once, the next turn spoken", async () => {
    const server = await fakeElevenLabs({ msPerChar: 200 });
    cleanups.push(() => server.close());
    const s = await startStreamingSession([
      new ElevenLabsTTSService({ apiKey: "test-key", baseUrl: server.baseUrl }),
    ]);
    s.respond("A long sentence being spoken. And another.");
    await s.until(() => s.down.ofType(TTSAudioRawFrame).length > 0, "speaking");
    for (let i = 0; i < 100; i++) s.queue(new InterruptionFrame());
    s.respond("Fresh.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length >= 1, "the fresh turn");
    const closes = server.connections
      .flatMap((c) => c.received)
      .filter((m) => m["close_context"] === true || m["closeContext"] === true)
      .map((m) => m["context_id"] ?? m["contextId"]);
    expect(closes.length).toBe(new Set(closes).size);
    expect(closes.length).toBeLessThanOrEqual(3); // the interrupted context, the fresh one at its end, at most one more: never one per interruption
    expect(server.connections.length).toBe(1);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  it("held: Deepgram, 100 interruptions while speaking: a bounded number of Clear messages, the next turn spoken", async () => {
    const server = await fakeDeepgramSpeak({ samplesPerChar: 4800 });
    cleanups.push(() => server.close());
    const tts = new DeepgramTTSService({ apiKey: "test-key", baseUrl: server.baseUrl, env: {} });
    const s = await startStreamingSession([tts]);
    s.respond("A long sentence being spoken. And another.");
    await s.until(() => s.down.ofType(TTSAudioRawFrame).length > 0, "speaking");
    for (let i = 0; i < 100; i++) s.queue(new InterruptionFrame());
    s.respond("Fresh.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length >= 1, "the fresh turn");
    const clears = server.connections.flatMap((c) => c.texts).filter((t) => t.includes('"Clear"'));
    expect(clears.length).toBeLessThanOrEqual(2);
    expect((await s.finish()).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  it("held: Cartesia, cancelling the task while the socket reopens (after the 50 MB drop) ends it with nothing pending", async () => {
    const server = await cartesia();
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const s = await startStreamingSession([tts]);
    s.respond("Hi.");
    await s.until(() => s.down.ofType(TTSStoppedFrame).length === 1, "the first turn");
    server.connections[0]!.ws.send("x".repeat(50 * 1024 * 1024));
    await s.until(() => server.connections[0]!.ws.readyState !== 1, "the big frame refused");
    expect((await s.finish("cancel")).how).toBe("cancelled");
    expectNothingPending(s.clock);
  });
});

const MODEL = fileURLToPath(new URL("../fixtures/smart-turn-test.onnx", import.meta.url));
const never = new AbortController().signal;
function noise(n: number): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7919) % 2001) - 1000;
  return a;
}

describe("SmartTurnAnalyzer under concurrency and misuse", () => {
  it("held: 20 concurrent analyze() calls on a cold analyzer: all settle, one hold on the model, released by one release()", async () => {
    // Holds, not speed: a deadline far past the model's load and 20 queued runs on a loaded machine
    // (the default 2 s was missed with another test suite running beside this one).
    const a = new SmartTurnAnalyzer({ modelPath: MODEL, timeoutMs: 30_000 });
    a.appendAudio(noise(16_000), true);
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => a.analyze(never)));
    expect(verdicts.every((v) => v.probability >= 0 && v.probability <= 1)).toBe(true);
    const worker = SmartTurnWorker.shared(a.runtime);
    expect(worker.held().get(MODEL)).toBe(1);
    await a.release();
    expect(worker.held().has(MODEL)).toBe(false);
  });

  it("held: 40 analyses (20 at a time) on one long-lived signal leave no abort listener on it", async () => {
    const a = new SmartTurnAnalyzer({ modelPath: MODEL, timeoutMs: 30_000 }); // listeners, not speed
    cleanups.push(() => a.release());
    const session = new AbortController().signal;
    a.appendAudio(noise(16_000), true);
    for (let round = 0; round < 2; round++) {
      await Promise.all(Array.from({ length: 20 }, () => a.analyze(session)));
    }
    expect(getEventListeners(session, "abort").length).toBe(0);
  });

  it("held: release() during analyze(): the analysis settles (verdict or clear error), the next analyze reloads", async () => {
    const a = new SmartTurnAnalyzer({ modelPath: MODEL });
    cleanups.push(() => a.release());
    a.appendAudio(noise(16_000), true);
    await a.analyze(never);
    const pending = a.analyze(never).then(
      (v) => `ok ${v.probability}`,
      (e: unknown) => `err ${String(e)}`,
    );
    await a.release();
    const outcome = await pending;
    expect(outcome).toMatch(/^(ok|err .*Smart ?Turn)/);
    a.appendAudio(noise(8_000), true);
    const v = await a.analyze(never);
    expect(v.probability).toBeGreaterThanOrEqual(0);
  });

  it("held: appendAudio with odd sizes and a 10-minute chunk keeps at most 8 s", async () => {
    const a = new SmartTurnAnalyzer({ modelPath: MODEL });
    cleanups.push(() => a.release());
    for (const n of [0, 1, 3, 7, 319, 321, 1]) a.appendAudio(noise(n), true);
    a.appendAudio(noise(16_000 * 600), true);
    expect(a.bufferedSamples).toBeLessThanOrEqual(16_000 * 8);
    for (let i = 0; i < 1000; i++) a.appendAudio(noise(13), i % 2 === 0);
    expect(a.bufferedSamples).toBeLessThanOrEqual(16_000 * 8);
    const v = await a.analyze(never);
    expect(v.probability).toBeGreaterThanOrEqual(0);
  });
});
