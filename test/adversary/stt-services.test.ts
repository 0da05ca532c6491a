/**
 * Adversarial probes of the speech-to-text services (docs/design/stt-services.md): Deepgram live on
 * the loopback fake (test/services/deepgram/fake-deepgram-listen.ts), OpenAI transcription on the
 * loopback HTTP fake (test/services/openai-audio/fake-openai-audio.ts), PocketSphinx with the real
 * Debian program (and a stand-in program where the attack needs many runs), each in a real
 * `PipelineTask`. A test named `broken: …` exposes a defect and fails today (it states the
 * promise); `held: …` is an attack that broke nothing.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { type Server as HttpServer, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type Clock,
  EndFrame,
  ErrorFrame,
  type Frame,
  InputAudioRawFrame,
  MetricsFrame,
  Pipeline,
  PipelineTask,
  PocketsphinxSTTService,
  type SegmentInfo,
  SegmentedSTTService,
  type SegmentedSTTServiceOptions,
  STTEndOfTurnFrame,
  SystemClock,
  TranscriptionFrame,
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
  UserMuteStartedFrame,
  UserMuteStoppedFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  VirtualClock,
} from "../../src/index.js";
import { FrameDirection } from "../../src/frames/frame.js";
import { OpenAISTTService, type OpenAISTTServiceOptions } from "../../src/services/openai-audio/stt.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { memoryLogger } from "../support/logger.js";
import {
  type FakeDeepgram,
  type FakeDeepgramOptions,
  fakeDeepgramListen,
  results,
} from "../services/deepgram/fake-deepgram-listen.js";
import { finish, speechChunk, startSession } from "../services/deepgram/stt-session.js";
import { tcpHandles, until } from "../services/websocket/loopback-provider.js";

const cleanups: Array<() => Promise<void> | void> = [];
const unhandled: unknown[] = [];
const warnings: Error[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
const onWarning = (w: Error): void => void warnings.push(w);
beforeEach(() => {
  unhandled.length = 0;
  warnings.length = 0;
  process.on("unhandledRejection", onUnhandled);
  process.on("warning", onWarning);
});
afterEach(async () => {
  const errors: unknown[] = [];
  for (const c of cleanups.splice(0).reverse())
    await Promise.resolve()
      .then(c)
      .catch((e: unknown) => errors.push(e));
  process.off("unhandledRejection", onUnhandled);
  process.off("warning", onWarning);
  if (errors.length > 0) throw errors[0];
  expect(unhandled).toEqual([]);
  expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
});

// ------------------------------------------------------------------------------------- helpers

async function deepgram(options: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const server = await fakeDeepgramListen(options);
  cleanups.push(() => server.close());
  return server;
}

/** A task [up, stt, down] on `clock`, started (waited for in real time). */
async function segmentedSession<S extends SegmentedSTTService>(stt: S, clock: Clock = new VirtualClock()) {
  const { logger, lines } = memoryLogger();
  const up = new FrameRecorder(FrameDirection.UPSTREAM, { name: "up" });
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const task = new PipelineTask(new Pipeline([up, stt, down]), { clock, logger, idleTimeoutMs: null });
  let started = false;
  task.on("pipelineStarted", () => void (started = true));
  const finished = task.run();
  cleanups.push(async () => {
    if (!task.hasFinished()) {
      void task.cancel("cleanup");
      if (clock instanceof VirtualClock) await clock.runUntil(finished, { maxMs: 60_000 }).catch(() => {});
      else await finished;
    }
  });
  await until(() => started || task.hasFinished(), "the task to start", 10_000);
  const queue = (...frames: Frame[]): void => frames.forEach((f) => task.queueFrame(f));
  return {
    stt,
    task,
    up,
    down,
    lines,
    clock,
    finished,
    queue,
    /** One utterance: start, `ms` of speech in 20 ms frames, stop (virtual time moves 20 ms per frame). */
    async utter(ms: number, offsetMs = 0) {
      queue(new VADUserStartedSpeakingFrame());
      for (let t = 0; t < ms; t += 20) {
        queue(speechChunk(20, 16_000, 1, offsetMs + t));
        if (clock instanceof VirtualClock) await clock.advance(20);
      }
      queue(new VADUserStoppedSpeakingFrame());
    },
    async finish(how: "end" | "cancel" = "end") {
      if (how === "end") void task.stopWhenDone();
      else void task.cancel("test");
      if (clock instanceof VirtualClock) await clock.runUntil(finished, { maxMs: 120_000 });
      return finished;
    },
    transcripts: () => down.ofType(TranscriptionFrame).map((f) => f.text),
    errors: () => up.ofType(ErrorFrame),
  };
}

function openaiSession(options: OpenAISTTServiceOptions, clock: Clock = new VirtualClock()) {
  return segmentedSession(new OpenAISTTService({ apiKey: "test-key", env: {}, ...options }), clock);
}

/** A segmented service whose answers the test hands out: `gates[n]` answers request n (0-based). */
class GatedSTT extends SegmentedSTTService {
  readonly calls: Array<{ samples: number; answer: (text: string) => void; signal: AbortSignal }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(options: SegmentedSTTServiceOptions = {}) {
    super(options);
  }
  protected override transcribe(audio: Int16Array, { signal }: SegmentInfo): Promise<string> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<string>((resolve, reject) => {
      const done = (): void => void this.inFlight--;
      this.calls.push({ samples: audio.length, signal, answer: (t) => (done(), resolve(t)) });
      signal.addEventListener("abort", () => (done(), reject(signal.reason)), { once: true });
    });
  }
}

/** A loopback HTTP server; `answer` gets the 1-based arrival index of each request and its body. */
async function rawHttp(
  answer: (n: number, body: Buffer, response: ServerResponse) => Promise<void> | void,
): Promise<{ baseURL: string; requests: number; open: () => number }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const made = { baseURL: "", requests: 0, open: () => sockets.size };
  const http: HttpServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      made.requests = ++n;
      void Promise.resolve(answer(n, Buffer.concat(chunks), response)).catch(() => response.destroy());
    });
  });
  http.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  made.baseURL = `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`;
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return made;
}

// ------------------------------------------------------------------------ segmented: ordering

describe("adversary: segmented STT (OpenAI transcription, SegmentedSTTService)", () => {
  it("fixed: a server answering out of order reorders the transcripts (utterance 2's words pushed before utterance 1's)", async () => {
    // Utterance 1's answer is held until utterance 2 was answered.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let answered2 = false;
    const server = await rawHttp(async (n, _body, response) => {
      if (n === 1) await held;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ text: `utterance ${n}` }), () => void (answered2 ||= n === 2));
    });
    cleanups.push(() => release()); // the fake's close waits for it
    // SystemClock: a virtual clock's advance() waits for the held request (tracked real work).
    const s = await openaiSession({ baseURL: server.baseURL }, new SystemClock());
    await s.utter(200);
    await until(() => server.requests === 1, "request 1");
    await s.utter(200, 200);
    // Fix: wait on the server's answer 2 (its settled frame now waits behind utterance 1's).
    await until(() => answered2, "answer 2");
    await new Promise((r) => setTimeout(r, 100)); // the client reads it
    expect(s.transcripts()).toEqual([]); // held for utterance 1
    release();
    await until(() => s.transcripts().length === 2, "both transcripts");
    await s.finish();
    // Promise: transcripts are never lost or duplicated, and arrive in order (the user said 1 then 2).
    expect(s.transcripts()).toEqual(["utterance 1", "utterance 2"]);
  });

  it("fixed: a burst of 1,000 VAD segments runs 1,000 requests at once (no bound on concurrency or queue)", async () => {
    const stt = new GatedSTT({ prerollMs: 0, requestTimeoutMs: 60_000 });
    const s = await segmentedSession(stt);
    for (let i = 0; i < 1_000; i++) {
      s.queue(new VADUserStartedSpeakingFrame(), speechChunk(20, 16_000), new VADUserStoppedSpeakingFrame());
    }
    await until(
      () => s.down.ofType(TranscriptionPendingFrame).length === 1_000,
      "1,000 pending frames",
      20_000,
    );
    // Queued segments start as earlier ones are answered: answer each call as it comes (fix:
    // the original answered only the calls present once, which a bounded queue never completes).
    let answered = 0;
    await until(
      () => {
        while (answered < stt.calls.length) stt.calls[answered++]!.answer("x");
        return s.down.ofType(TranscriptionSettledFrame).length === 1_000;
      },
      "1,000 settled frames",
      20_000,
    );
    const inFlightAtPeak = stt.maxInFlight;
    const last = s.down.ofType(TranscriptionSettledFrame).at(-1)!;
    expect([last.requested, last.settled]).toEqual([1_000, 1_000]);
    await s.finish();
    // Promise (brief): bounded concurrency and queue. Measured: every segment is its own request, all in flight.
    expect(inFlightAtPeak).toBeLessThanOrEqual(16);
  });
});

describe("adversary: segmented STT at the end, under stalls and hostile answers", () => {
  it("fixed: at the end, a request still out when closeTimeoutMs runs out is announced pending and never settled", async () => {
    const stt = new GatedSTT({ prerollMs: 0, requestTimeoutMs: 60_000, closeTimeoutMs: 100 });
    const s = await segmentedSession(stt, new SystemClock());
    await s.utter(100);
    await until(() => stt.calls.length === 1, "the request");
    const t0 = performance.now();
    const outcome = await s.finish();
    expect(outcome.how).toBe("ended");
    expect(performance.now() - t0).toBeLessThan(2_000); // the end's wait is bounded: held
    expect(stt.requestsInFlight).toBe(0);
    const pending = s.down.ofType(TranscriptionPendingFrame);
    const settled = s.down.ofType(TranscriptionSettledFrame);
    expect(pending).toHaveLength(1);
    // Promise: every request announced pending is settled "whatever the answer: words, nothing, an
    // error, its deadline" (only cancel settles nothing). The end's own deadline aborts it and the
    // rejection handler returns early on the aborted stop signal: no TranscriptionSettledFrame.
    expect(settled.at(-1)?.settled).toBe(1);
  });

  it("held: 200 OK with a 10 MB non-JSON body, and 200 with text that is not a string: one error per kind, each utterance settled, the next transcribed", async () => {
    const server = await rawHttp((n, _body, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      if (n === 1) response.end(Buffer.alloc(10 * 1024 * 1024, 0x41));
      else if (n === 2) response.end('{"text": 5}');
      else if (n === 3) response.end("<html>gateway</html>");
      else response.end('{"text":"fine"}');
    });
    const s = await openaiSession({ baseURL: server.baseURL }, new SystemClock());
    for (let i = 0; i < 4; i++) {
      await s.utter(100);
      await until(() => s.down.ofType(TranscriptionSettledFrame).length === i + 1, `answer ${i + 1}`, 10_000);
    }
    await s.finish();
    expect(s.transcripts()).toEqual(["fine"]);
    const errors = s.errors();
    expect(errors).toHaveLength(1); // one kind: malformed
    expect(errors[0]!.fatal).toBe(false);
    expect(errors[0]!.error.message).toMatch(/over 1048576 bytes/);
  });

  it("held: a 200 whose body stalls after the headers is abandoned at requestTimeoutMs; its connection is closed; the next utterance is transcribed", async () => {
    const server = await rawHttp((n, _body, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      if (n === 1)
        response.write('{"text":"par'); // then nothing
      else response.end('{"text":"second"}');
    });
    const s = await openaiSession({ baseURL: server.baseURL, requestTimeoutMs: 200 }, new SystemClock());
    await s.utter(100);
    await until(() => s.down.ofType(TranscriptionSettledFrame).length === 1, "the deadline", 5_000);
    expect(s.errors()[0]!.error.message).toMatch(/did not settle within 200 ms/);
    await s.utter(100);
    await until(() => s.transcripts().length === 1, "the second transcript", 5_000);
    await s.finish();
    expect(s.transcripts()).toEqual(["second"]);
    await until(() => server.open() <= 1, "the stalled connection to close", 5_000); // the pool may keep one
  });
});

// ---------------------------------------------------------------------------- audio intake

describe("adversary: audio intake (Deepgram live on the loopback fake)", () => {
  it("fixed: 1-sample frames at 48 kHz: usage (stt_usage) and audioSentMs count a third of the audio the provider got", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    // 960 frames of one sample at 48 kHz = 20 ms; 10 rounds = 200 ms.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 960; i++)
        s.queue(new InputAudioRawFrame(new Int16Array([((i * 37) % 2000) - 1000]), 48_000));
      await (s.clock as VirtualClock).advance(20);
    }
    const conn = () => server.connections[0]!;
    await until(() => conn().audioBytes >= 2 * 16 * 190, "≈ 200 ms at the provider", 10_000);
    const providerMs = conn().audioBytes / 32;
    void s.task.stopWhenDone();
    await finish(s);
    const usage = s.down
      .ofType(MetricsFrame)
      .flatMap((m) => m.data)
      .filter((d) => d.kind === "stt_usage")
      .reduce((sum, d) => sum + (d.value as { audioSeconds: number }).audioSeconds * 1000, 0);
    const stats = s.stt.stats;
    // Promise: stats say where the audio went (sent + dropped + muted = what came in); usage = audio the socket accepted.
    expect(providerMs).toBeGreaterThan(190);
    expect(stats.audioSentMs + stats.audioDroppedMs + stats.audioMutedMs).toBeCloseTo(200, 0);
    expect(usage).toBeCloseTo(providerMs, -1);
  });

  it("held: the rate switching every frame (16 k ↔ 48 k ↔ 44.1 k): the provider gets about as much audio as was spoken", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    const rates = [16_000, 48_000, 44_100, 8_000];
    for (let i = 0; i < 100; i++) {
      s.queue(speechChunk(20, rates[i % rates.length]!, 1, i * 20));
      await (s.clock as VirtualClock).advance(20);
    }
    await until(() => server.connections[0]!.audioBytes >= 32 * 1_500, "most of 2 s", 10_000).catch(() => {});
    const providerMs = server.connections[0]!.audioBytes / 32;
    void s.task.stopWhenDone();
    await finish(s);
    expect(s.up.ofType(ErrorFrame)).toEqual([]);
    expect(providerMs).toBeGreaterThan(1_900); // 2,000 ms spoken
  });

  it("held: empty frames, stereo, 1-channel 8 kHz and 1-sample frames never send an empty binary message (which ends a Deepgram stream)", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    s.queue(
      new InputAudioRawFrame(new Int16Array(0), 16_000),
      new InputAudioRawFrame(new Int16Array(0), 48_000, 2),
      new InputAudioRawFrame(new Int16Array([1, 2]), 48_000, 2),
      new InputAudioRawFrame(new Int16Array([1]), 8_000),
      new InputAudioRawFrame(new Int16Array([1]), 16_000),
    );
    await s.speak(100);
    await until(() => server.connections[0]!.audioBytes >= 3_200, "audio");
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    expect(server.connections[0]!.emptyAudio).toBe(0);
    expect(server.connections).toHaveLength(1);
  });

  it("held: rates the resampler refuses (1 … 999 Hz, 10 MHz): at most 65 errors for 1,000 distinct rates, none fatal, the session goes on", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    for (let r = 1; r <= 999; r++) s.queue(new InputAudioRawFrame(new Int16Array(4), r));
    s.queue(new InputAudioRawFrame(new Int16Array(4), 10_000_000));
    await s.speak(100);
    await until(() => server.connections[0]!.audioBytes >= 3_200, "audio after");
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    const errors = s.up.ofType(ErrorFrame);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(65);
    expect(errors.every((e) => !e.fatal)).toBe(true);
  });

  it("held: an hour muted at virtual time sends a bounded KeepAlive cadence (≈ one per keepAliveIntervalMs) and no audio", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    s.queue(new UserMuteStartedFrame());
    const clock = s.clock as VirtualClock;
    for (let minute = 0; minute < 60; minute++) {
      for (let i = 0; i < 3; i++) s.queue(speechChunk(20, 16_000));
      await clock.advance(60_000);
    }
    await until(
      () => server.connections[0]!.texts.filter((t) => t.includes("KeepAlive")).length >= 700,
      "keep-alives",
      10_000,
    );
    s.queue(new UserMuteStoppedFrame());
    void s.task.stopWhenDone();
    await finish(s);
    const keepAlives = server.connections[0]!.texts.filter((t) => t.includes("KeepAlive")).length;
    expect(keepAlives).toBeGreaterThanOrEqual(700);
    expect(keepAlives).toBeLessThanOrEqual(730);
    expect(server.connections[0]!.audioBytes).toBe(0);
    expect(server.connections).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ Deepgram: interleavings

/**
 * A `ws` server on 127.0.0.1 (any path); `onConnection` gets each socket. It closes (1000) on
 * `CloseStream` unless `onConnection` answers it itself (a virtual clock cannot time out that wait).
 */
async function wsServer(
  onConnection: (ws: WebSocket) => void,
): Promise<{ baseUrl: string; count: () => number }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  let count = 0;
  wss.on("connection", (ws) => {
    count++;
    ws.on("error", () => {});
    onConnection(ws);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary && data.toString().includes("CloseStream")) setImmediate(() => ws.close(1000));
    });
  });
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return { baseUrl: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, count: () => count };
}

const FAST = { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 };

describe("adversary: Deepgram live STT interleavings and hostile servers", () => {
  it("held: EndFrame right after the user's stop: the Finalize answer and the CloseStream final both come out before the EndFrame", async () => {
    const server = await deepgram();
    const s = await startSession({ baseUrl: server.baseUrl });
    s.queue(new VADUserStartedSpeakingFrame());
    await s.speak(300);
    s.queue(new VADUserStoppedSpeakingFrame());
    await s.speak(200); // words after the stop: the CloseStream final
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    const frames = s.down.frames;
    const finals = frames.filter((f) => f instanceof TranscriptionFrame) as TranscriptionFrame[];
    const endAt = frames.findIndex((f) => f instanceof EndFrame);
    expect(finals.map((f) => f.text)).toEqual(["book a table", "for two"]);
    expect(frames.indexOf(finals.at(-1)!)).toBeLessThan(endAt);
    expect(server.connections[0]!.texts.filter((t) => t.includes("Finalize"))).toHaveLength(1);
  });

  it("held: a server that closes (1011) right after every upgrade: backoff, then one fatal error; run() resolves; no socket left", async () => {
    const baseline = tcpHandles();
    const server = await wsServer((ws) => ws.close(1011, "NET-0000"));
    const s = await startSession(
      { baseUrl: server.baseUrl, socket: { backoff: FAST } },
      {},
      new SystemClock(),
    );
    s.queue(new VADUserStartedSpeakingFrame());
    for (let i = 0; i < 10; i++) s.queue(speechChunk(20, 16_000));
    const outcome = await Promise.race([
      s.finished,
      new Promise<"hung">((r) => setTimeout(() => r("hung"), 5_000)),
    ]);
    if (outcome === "hung") {
      void s.task.stopWhenDone();
      await s.finished;
    }
    const fatal = s.up.ofType(ErrorFrame).filter((e) => e.fatal);
    expect(fatal).toHaveLength(1);
    expect(server.count()).toBeLessThanOrEqual(4);
    await until(() => tcpHandles() <= baseline + 1, "sockets closed"); // the server's listener
  });

  it("held: 429 on every upgrade is retried with backoff (not a permanent 4xx), then one error that is not about the key", async () => {
    const server = await deepgram({ rejectUpgrade: () => 429 });
    const s = await startSession({ baseUrl: server.baseUrl, socket: { backoff: FAST } });
    await (s.clock as VirtualClock).runUntil(
      () => s.task.hasFinished() || s.up.ofType(ErrorFrame).length > 0,
    );
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(server.upgrades.length).toBe(3);
    expect(errors[0]!.error.message).not.toMatch(/API key/i);
    if (!s.task.hasFinished()) void s.task.stopWhenDone();
    await finish(s);
  });

  it("held: Finalize while reconnecting is not sent nor counted; EndFrame while reconnecting ends bounded with no new connection after it", async () => {
    const server = await deepgram({
      onAudio: (conn, ms) => {
        if (conn.n === 1 && ms >= 100) conn.ws.close(1011, "NET-0000");
      },
    });
    const s = await startSession({
      baseUrl: server.baseUrl,
      socket: { backoff: { initialDelayMs: 5_000, maxDelayMs: 5_000, maxAttempts: 5 } },
    });
    s.queue(new VADUserStartedSpeakingFrame());
    await s.speak(100);
    await until(() => s.stt.socketStats?.disconnects === 1, "the drop");
    await s.speak(60);
    s.queue(new VADUserStoppedSpeakingFrame());
    await (s.clock as VirtualClock).advance(10);
    expect(s.stt.stats.finalizes).toBe(0);
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    await (s.clock as VirtualClock).advance(20_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.upgrades).toHaveLength(1);
    expect(s.stt.stats.audioDroppedMs).toBeGreaterThan(0);
  });

  it("held: a server that answers CloseStream with its final then closes 1011 is not reconnected during the end", async () => {
    const server = await wsServer((ws) => {
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        if (data.toString().includes("CloseStream")) {
          ws.send(JSON.stringify(results("last words", { isFinal: true })));
          ws.close(1011, "NET-0000");
        }
      });
    });
    const s = await startSession({ baseUrl: server.baseUrl, socket: { backoff: FAST } });
    await s.speak(100);
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    await (s.clock as VirtualClock).advance(1_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.count()).toBe(1);
    expect(s.down.ofType(TranscriptionFrame).map((f) => f.text)).toEqual(["last words"]);
  });

  it("held: 5,000 hostile messages (unknown types, wrong channel, metadata-only, error bodies, binary, bad JSON): a handful of errors, none fatal, good results still pushed in order", async () => {
    const server = await wsServer((ws) => {
      let sent = false;
      ws.on("message", (_data: Buffer, isBinary: boolean) => {
        if (!isBinary || sent) return;
        sent = true;
        for (let i = 0; i < 1_000; i++) {
          ws.send(JSON.stringify({ type: `Made${i}` }));
          ws.send(JSON.stringify({ type: "Metadata" }));
          ws.send(JSON.stringify({ err_code: `E${i}`, err_msg: "x".repeat(i) }));
          ws.send(Buffer.from([i & 255]));
          ws.send(`{"type":"Results"${i}`);
          if (i % 100 === 0) ws.send(JSON.stringify(results(`word ${i / 100}`, { isFinal: true })));
        }
        ws.send(JSON.stringify({ ...results("wrong channel", { isFinal: true }), channel_index: [7, 8] }));
      });
    });
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(20);
    await until(() => s.stt.stats.finals >= 10, "the good finals", 10_000);
    void s.task.stopWhenDone();
    await finish(s);
    const errors = s.up.ofType(ErrorFrame);
    expect(errors.length).toBeLessThanOrEqual(5);
    expect(errors.every((e) => !e.fatal)).toBe(true);
    expect(
      s.down
        .ofType(TranscriptionFrame)
        .slice(0, 10)
        .map((f) => f.text),
    ).toEqual(Array.from({ length: 10 }, (_, i) => `word ${i}`));
  });

  it("held: speech_final then UtteranceEnd for the same words, and repeats, give one STTEndOfTurnFrame per utterance", async () => {
    const server = await wsServer((ws) => {
      let n = 0;
      ws.on("message", (_data: Buffer, isBinary: boolean) => {
        if (!isBinary || ++n > 1) return;
        ws.send(JSON.stringify(results("hello", { isFinal: true, speechFinal: true })));
        ws.send(JSON.stringify({ type: "UtteranceEnd", last_word_end: 1 }));
        ws.send(JSON.stringify({ type: "UtteranceEnd", last_word_end: 1 }));
        ws.send(JSON.stringify(results("", { isFinal: true, speechFinal: true })));
        ws.send(JSON.stringify(results("again", { isFinal: true })));
        ws.send(JSON.stringify({ type: "UtteranceEnd", last_word_end: 2 }));
      });
    });
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(20);
    await until(() => s.down.ofType(STTEndOfTurnFrame).length >= 2, "two ends of turn");
    await new Promise((r) => setTimeout(r, 50));
    void s.task.stopWhenDone();
    await finish(s);
    expect(s.down.ofType(STTEndOfTurnFrame).map((f) => f.cause)).toEqual(["speech_final", "utterance_end"]);
  });
});

// ------------------------------------------------------------------------------ PocketSphinx

/**
 * A stand-in for pocketsphinx_continuous: a shell script in a folder of its own (its path marks its
 * processes; `@DIR@` in `body` is that folder, to mark a child too).
 */
function standIn(body: string): { binary: string; running: () => number } {
  const dir = mkdtempSync(join(tmpdir(), "vp-adv-sphinx-"));
  const binary = join(dir, "fake_pocketsphinx");
  writeFileSync(binary, `#!/bin/sh\n${body.replaceAll("@DIR@", dir)}\n`);
  chmodSync(binary, 0o755);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const running = (): number =>
    execFileSync("ps", ["-eo", "args="], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.includes(dir)).length;
  return { binary, running };
}

describe("adversary: PocketsphinxSTTService", () => {
  it("fixed: 100 utterances in a burst start 100 recogniser processes at once (no bound on runs)", async () => {
    // 0.2 s per run (was 2 s: 100 runs of 2 s with at most 8 at once cannot finish within 15 s).
    const fake = standIn("sleep 0.2; echo heard");
    const stt = new PocketsphinxSTTService({
      binary: fake.binary,
      checkAtStart: false,
      prerollMs: 0,
      requestTimeoutMs: 5_000,
    });
    const s = await segmentedSession(stt, new SystemClock());
    for (let i = 0; i < 100; i++) {
      s.queue(new VADUserStartedSpeakingFrame(), speechChunk(20, 16_000), new VADUserStoppedSpeakingFrame());
    }
    let peak = 0;
    const t0 = performance.now();
    // A deadline for the whole burst, not a speed test: spawning 100 processes on a busy machine is slow.
    while (s.down.ofType(TranscriptionSettledFrame).length < 100 && performance.now() - t0 < 30_000) {
      peak = Math.max(peak, fake.running());
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(s.down.ofType(TranscriptionSettledFrame)).toHaveLength(100);
    expect(s.transcripts()).toHaveLength(100);
    await s.finish();
    await until(() => fake.running() === 0, "every run reaped");
    // Promise (brief): bounded concurrency. Measured: one process per queued utterance, all at once.
    expect(peak).toBeLessThanOrEqual(8);
  }, 45_000);

  it("held: the end with a run that ignores SIGTERM and started a child: both killed within the bounds, no temp folder left", async () => {
    const fake = standIn(`trap '' TERM; sh -c 'sleep 30; : @DIR@' & sleep 30`);
    const stt = new PocketsphinxSTTService({ binary: fake.binary, checkAtStart: false, closeTimeoutMs: 200 });
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith("voicepipe-sphinx-")).length;
    const s = await segmentedSession(stt, new SystemClock());
    await s.utter(100);
    await until(() => fake.running() >= 2, "the run and its child");
    const t0 = performance.now();
    expect((await s.finish()).how).toBe("ended");
    expect(performance.now() - t0).toBeLessThan(3_000);
    await until(() => fake.running() === 0, "every process reaped", 3_000);
    await until(
      () => readdirSync(tmpdir()).filter((n) => n.startsWith("voicepipe-sphinx-")).length <= before,
      "the run's folder removed",
    );
  });

  it("held: the real recogniser, cancelled mid-run during a burst of 5 utterances: every process reaped, run() resolves", async () => {
    const stt = new PocketsphinxSTTService({ checkAtStart: false });
    const s = await segmentedSession(stt, new SystemClock());
    const sphinx = (): number =>
      execFileSync("ps", ["-eo", "args="], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes("pocketsphinx_continuous") && l.includes("voicepipe-sphinx-")).length;
    for (let i = 0; i < 5; i++) await s.utter(200, i * 200);
    await until(() => sphinx() >= 1, "a run");
    expect((await s.finish("cancel")).how).toBe("cancelled");
    await until(() => sphinx() === 0, "every run reaped", 3_000);
    expect(stt.requestsInFlight).toBe(0);
  });
});

describe("adversary: mute and back-pressure", () => {
  it("fixed: an utterance the VAD hears while the user is muted sends a request with audio from before the mute", async () => {
    const stt = new GatedSTT({ prerollMs: 500 });
    const s = await segmentedSession(stt, new SystemClock());
    await s.utter(300); // a normal turn: one request
    for (let t = 0; t < 400; t += 20) s.queue(speechChunk(20, 16_000, 1, t)); // after the stop: kept as preroll
    await until(
      () => stt.calls.length === 1 && s.stt.stats.audioSentMs >= 700,
      "the first request and the preroll",
    );
    stt.calls[0]!.answer("first");
    s.queue(new UserMuteStartedFrame());
    await s.utter(300); // the VAD hears the user, who is muted: nothing may go to the provider
    s.queue(new UserMuteStoppedFrame());
    await until(() => s.stt.stats.audioMutedMs >= 300, "the muted audio");
    await new Promise((r) => setTimeout(r, 50));
    const second = stt.calls[1];
    second?.answer("");
    await s.finish();
    // Promise: between UserMuteStartedFrame and UserMuteStoppedFrame no audio is sent.
    // Measured: the muted "utterance" becomes a request of the 400 ms kept from before the mute.
    expect(second === undefined ? 0 : (second.samples * 1000) / 16_000).toBe(0);
  });

  it("held: a Deepgram server that stops reading: audio accepted into the socket is bounded, the rest dropped and counted, the end bounded", async () => {
    const server = await wsServer((ws) => {
      // Read nothing more after the first message: the kernel buffers fill, then ws's own buffer.
      ws.once("message", () => (ws as unknown as { _socket: Socket })._socket.pause());
    });
    const s = await startSession({ baseUrl: server.baseUrl, closeTimeoutMs: 200 }, {}, new SystemClock());
    // 800 s of audio (25.6 MB at 16 kHz) queued as fast as the pipeline takes it.
    for (let i = 0; i < 40_000; i++) {
      s.queue(speechChunk(20, 16_000));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(
      () => s.stt.stats.audioSentMs + s.stt.stats.audioDroppedMs >= 799_000,
      "the audio taken",
      20_000,
    );
    // Measured: ≈ 250 s accepted (ws's 4 MiB plus the kernel's loopback buffers), the rest dropped.
    expect(s.stt.stats.audioDroppedMs).toBeGreaterThan(0);
    expect(s.stt.stats.audioSentMs).toBeLessThan(400_000);
    expect(s.stt.socketStats!.droppedSends).toBeGreaterThan(0);
    const t0 = performance.now();
    expect((await s.task.stopWhenDone()).how).toBe("ended");
    expect(performance.now() - t0).toBeLessThan(2_000);
  }, 30_000);
});
