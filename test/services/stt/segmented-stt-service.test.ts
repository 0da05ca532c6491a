import { once } from "node:events";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import { readWav, writeWav } from "../../../src/audio/wav.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { FrameDirection } from "../../../src/frames/frame.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../../src/frames/speaking.js";
import { InterimTranscriptionFrame, TranscriptionFrame } from "../../../src/frames/text.js";
import { TranscriptionPendingFrame, TranscriptionSettledFrame } from "../../../src/frames/transcribing.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../../src/pipeline/task.js";
import {
  type SegmentInfo,
  SegmentedSTTService,
  type SegmentedSTTServiceOptions,
} from "../../../src/services/stt/segmented-stt-service.js";
import { FrameRecorder } from "../../../src/testing/frame-recorder.js";
import { memoryLogger } from "../../support/logger.js";
import { until } from "../websocket/loopback-provider.js";
import { speechChunk } from "../deepgram/stt-session.js";

/** A segmented service that posts each segment as a WAV file to an HTTP server and reads `{ text }`. */
class LoopbackHttpSTT extends SegmentedSTTService {
  constructor(
    readonly url: string,
    options: SegmentedSTTServiceOptions = {},
  ) {
    super(options);
  }
  protected override async transcribe(audio: Int16Array, { sampleRate, signal }: SegmentInfo) {
    const response = await fetch(this.url, {
      method: "POST",
      body: writeWav({ audio, sampleRate }),
      headers: { "content-type": "audio/wav", connection: "close" },
      signal,
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return ((await response.json()) as { text: string }).text;
  }
}

interface Server {
  url: string;
  /** ms of audio in each request received. */
  segments: number[];
  aborted: number;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(
  options: { hang?: boolean; status?: number; text?: (n: number) => string } = {},
): Promise<Server> {
  const made: Server = { url: "", segments: [], aborted: 0, close: async () => {} };
  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const wav = readWav(new Uint8Array(Buffer.concat(chunks)));
      const ms = (wav.audio.length * 1000) / wav.sampleRate;
      made.segments.push(ms);
      if (options.hang) {
        response.on("close", () => made.aborted++);
        return;
      }
      response.writeHead(options.status ?? 200, { "content-type": "application/json", connection: "close" });
      response.end(JSON.stringify({ text: options.text?.(made.segments.length) ?? `heard ${ms} ms` }));
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  made.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1/audio/transcriptions`;
  made.close = () => {
    http.closeAllConnections();
    return new Promise<void>((resolve) => http.close(() => resolve()));
  };
  cleanups.push(() => made.close());
  return made;
}

async function session(url: string, options: SegmentedSTTServiceOptions = {}) {
  const clock = new VirtualClock();
  const { logger } = memoryLogger();
  const stt = new LoopbackHttpSTT(url, options);
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM);
  const task = new PipelineTask(new Pipeline([up, stt, down]), { clock, logger, idleTimeoutMs: null });
  let started = false;
  task.on("pipelineStarted", () => (started = true));
  const finished = task.run();
  await clock.runUntil(() => started);
  const speak = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 20) {
      task.queueFrame(speechChunk(20, 16_000, 1, t));
      await clock.advance(20);
    }
  };
  return { clock, stt, up, down, task, finished, speak };
}

describe("SegmentedSTTService: one request per utterance", () => {
  it("sends the speech between start and stop, with the preroll, and pushes one final transcript", async () => {
    const http = await server();
    const s = await session(http.url, { prerollMs: 100 });
    await s.speak(200); // before the start: only the last 100 ms are kept
    s.task.queueFrame(new VADUserStartedSpeakingFrame());
    await s.speak(300);
    s.task.queueFrame(new VADUserStoppedSpeakingFrame());
    await until(() => s.down.ofType(TranscriptionFrame).length === 1, "the transcript");
    expect(http.segments).toEqual([400]);
    expect(s.down.ofType(TranscriptionFrame)[0]!.text).toBe("heard 400 ms");
    expect(s.down.ofType(InterimTranscriptionFrame)).toEqual([]);
    const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(metrics.find((m) => m.kind === "stt_usage")?.value).toEqual({ audioSeconds: 0.4 });
    expect(metrics.some((m) => m.kind === "ttfb")).toBe(true);
    void s.task.stopWhenDone();
    expect((await s.clock.runUntil(s.finished))?.how).toBe("ended");
  });

  it("sends speech longer than maxSegmentMs in pieces (memory stays bounded)", async () => {
    const http = await server();
    const s = await session(http.url, { prerollMs: 0, maxSegmentMs: 200 });
    s.task.queueFrame(new VADUserStartedSpeakingFrame());
    await s.speak(500);
    s.task.queueFrame(new VADUserStoppedSpeakingFrame());
    await until(() => s.down.ofType(TranscriptionFrame).length === 3, "3 transcripts");
    expect(http.segments).toEqual([200, 200, 100]);
    void s.task.stopWhenDone();
    await s.clock.runUntil(s.finished);
  });

  it("at the end, transcribes the speech in progress before the EndFrame leaves", async () => {
    const http = await server();
    const s = await session(http.url, { prerollMs: 0 });
    s.task.queueFrame(new VADUserStartedSpeakingFrame());
    await s.speak(200);
    void s.task.stopWhenDone();
    expect((await s.clock.runUntil(s.finished))?.how).toBe("ended");
    const names = s.down.frames.map((f) => f.constructor.name);
    expect(names.indexOf("TranscriptionFrame")).toBeGreaterThan(-1);
    expect(names.indexOf("TranscriptionFrame")).toBeLessThan(names.indexOf("EndFrame"));
  });

  it("a failed request is said once and counted; the next utterance still works", async () => {
    const http = await server({ status: 500 });
    const s = await session(http.url, { prerollMs: 0 });
    for (let i = 0; i < 3; i++) {
      s.task.queueFrame(new VADUserStartedSpeakingFrame());
      await s.speak(100);
      s.task.queueFrame(new VADUserStoppedSpeakingFrame());
      await until(() => http.segments.length === i + 1, "the request");
      await until(() => s.stt.requestsInFlight === 0, "its answer");
    }
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toContain("HTTP 500");
    expect(errors[0]!.fatal).toBe(false);
    void s.task.stopWhenDone();
    await s.clock.runUntil(s.finished);
  });

  it("announces each request before the stop it answers, and settles it after its transcript, whatever the answer", async () => {
    const http = await server({ text: (n) => ["book a table", "", "for two"][n - 1] ?? "" });
    const failing = await server({ status: 500 });
    const s = await session(http.url, { prerollMs: 0 });
    for (let i = 0; i < 3; i++) {
      s.task.queueFrame(new VADUserStartedSpeakingFrame());
      await s.speak(100);
      s.task.queueFrame(new VADUserStoppedSpeakingFrame());
      await until(() => s.down.ofType(TranscriptionSettledFrame).length === i + 1, "the answer");
    }
    const seen = s.down.frames
      .filter(
        (f) =>
          f instanceof TranscriptionPendingFrame ||
          f instanceof TranscriptionSettledFrame ||
          f instanceof TranscriptionFrame ||
          f instanceof VADUserStoppedSpeakingFrame,
      )
      .map((f) =>
        f instanceof TranscriptionFrame
          ? `"${f.text}"`
          : f instanceof VADUserStoppedSpeakingFrame
            ? "stop"
            : `${f instanceof TranscriptionPendingFrame ? "pending" : "settled"} ${f.requested}/${f.settled}`,
      );
    expect(seen).toEqual([
      "pending 1/0",
      "stop",
      '"book a table"',
      "settled 1/1",
      "pending 2/1",
      "stop",
      "settled 2/2", // nothing heard: settled alone, at once
      "pending 3/2",
      "stop",
      '"for two"',
      "settled 3/3",
    ]);
    const frame = s.down.ofType(TranscriptionPendingFrame)[0]!;
    expect([frame.sourceId, frame.source]).toEqual([s.stt.id, s.stt.name]);
    void s.task.stopWhenDone();
    await s.clock.runUntil(s.finished);

    // A failed request settles too.
    const f = await session(failing.url, { prerollMs: 0 });
    f.task.queueFrame(new VADUserStartedSpeakingFrame());
    await f.speak(100);
    f.task.queueFrame(new VADUserStoppedSpeakingFrame());
    await until(() => f.down.ofType(TranscriptionSettledFrame).length === 1, "the failed answer");
    expect(f.up.ofType(ErrorFrame)).toHaveLength(1);
    expect(f.down.ofType(TranscriptionFrame)).toEqual([]);
    expect(f.down.ofType(TranscriptionSettledFrame)[0]).toMatchObject({ requested: 1, settled: 1 });
    void f.task.stopWhenDone();
    await f.clock.runUntil(f.finished);
  });

  it("cancel aborts a request in flight at once and leaves nothing running", async () => {
    const http = await server({ hang: true });
    const s = await session(http.url, { prerollMs: 0 });
    s.task.queueFrame(new VADUserStartedSpeakingFrame());
    await s.speak(100);
    s.task.queueFrame(new VADUserStoppedSpeakingFrame());
    await until(() => http.segments.length === 1, "the request");
    const cancelled = s.task.cancel("test");
    expect((await s.clock.runUntil(cancelled))?.how).toBe("cancelled");
    await until(() => http.aborted === 1, "the request to be aborted");
    expect(s.stt.requestsInFlight).toBe(0);
    expect(s.clock.pendingTimers).toBe(0);
    expect(s.clock.pendingRealWork).toBe(0);
  });

  it("validates the concurrency and queue bounds", () => {
    for (const bad of [
      { maxConcurrentRequests: 0 },
      { maxConcurrentRequests: 1.5 },
      { maxQueuedRequests: -1 },
      { maxQueuedMs: Number.NaN },
    ]) {
      expect(() => new LoopbackHttpSTT("http://127.0.0.1:1", bad)).toThrow(InvalidOptionError);
    }
  });

  it("runs at most maxConcurrentRequests at once, queues the rest, refuses the oldest waiting past the bound (said once, counted, settled)", async () => {
    const http = await server({ hang: true });
    const s = await session(http.url, { prerollMs: 0, maxConcurrentRequests: 2, maxQueuedRequests: 1 });
    // No clock.advance: it would wait for the hanging requests (tracked real work).
    for (let i = 0; i < 5; i++) {
      s.task.queueFrame(new VADUserStartedSpeakingFrame());
      for (let k = 0; k <= i; k++) s.task.queueFrame(speechChunk(20, 16_000));
      s.task.queueFrame(new VADUserStoppedSpeakingFrame());
    }
    await until(() => s.down.ofType(TranscriptionPendingFrame).length === 5, "5 pending frames");
    await until(() => http.segments.length === 2, "2 requests");
    expect(s.stt.requestsInFlight).toBe(2);
    expect(s.stt.requestsQueued).toBe(1);
    expect(s.stt.segmentsRefused).toBe(2); // segments 3 and 4 (the oldest waiting), not 5
    expect(s.up.ofType(ErrorFrame)).toHaveLength(1);
    // Refused segments settle behind the requests spoken before them (in order).
    expect(s.down.ofType(TranscriptionSettledFrame)).toHaveLength(0);
    const cancelled = s.task.cancel("test");
    await s.clock.runUntil(cancelled);
    expect(http.segments).toEqual([20, 40]);
  });
});
