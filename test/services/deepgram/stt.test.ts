import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { InputAudioRawFrame } from "../../../src/frames/audio.js";
import { MetricsFrame } from "../../../src/frames/metrics.js";
import {
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../../src/frames/speaking.js";
import { InterimTranscriptionFrame, TextFrame, TranscriptionFrame } from "../../../src/frames/text.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../../../src/frames/user-mute.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { FrameDirection } from "../../../src/frames/frame.js";
import { tcpHandles, until } from "../websocket/loopback-provider.js";
import {
  type FakeDeepgram,
  type FakeDeepgramOptions,
  fakeDeepgramListen,
  results,
} from "./fake-deepgram-listen.js";
import { expectNothingPending, finish, speechChunk, startSession } from "./stt-session.js";
import { MAX_TRANSCRIPT_CHARS } from "../../../src/services/stt/stt-service.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const server = await fakeDeepgramListen(options);
  cleanups.push(() => server.close());
  return server;
}

const texts = (frames: readonly unknown[]): string[] =>
  frames.filter((f): f is TextFrame => f instanceof TextFrame).map((f) => `${f.constructor.name}:${f.text}`);

describe("DeepgramSTTService: a whole pipeline on a loopback /v1/listen", () => {
  it("sends the documented query and key, and turns audio into interim then final transcripts, in order", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl, userId: "u1" });
    const conn = () => server.connections[0]!;
    expect(server.upgrades[0]!.headers.authorization).toBe("Token test-key");
    expect(Object.fromEntries(conn().query)).toMatchObject({
      model: "nova-3-general",
      language: "en",
      encoding: "linear16",
      sample_rate: "16000",
      channels: "1",
      interim_results: "true",
    });
    s.queue(new VADUserStartedSpeakingFrame());
    await s.speak(500);
    await until(
      () => conn().audioBytes === 16_000 && s.down.ofType(InterimTranscriptionFrame).length === 5,
      "5 interims",
    );
    s.queue(new VADUserStoppedSpeakingFrame());
    await until(() => s.down.ofType(TranscriptionFrame).length === 1, "the final");
    expect(texts(s.down.frames)).toEqual([
      "InterimTranscriptionFrame:book",
      "InterimTranscriptionFrame:book a",
      "InterimTranscriptionFrame:book a table",
      "InterimTranscriptionFrame:book a table for",
      "InterimTranscriptionFrame:book a table for two",
      "TranscriptionFrame:book a table for two",
    ]);
    const final = s.down.ofType(TranscriptionFrame)[0]!;
    expect(final).toMatchObject({ userId: "u1", language: "en", timestampMs: s.clock.now() });
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(25); // audio passes on
    expect(conn().texts).toEqual(['{"type":"Finalize"}']);
    const metrics = s.down.ofType(MetricsFrame).flatMap((m) => m.data);
    expect(metrics.find((m) => m.kind === "stt_usage")).toMatchObject({
      processor: s.stt.name,
      value: { audioSeconds: 0.5 },
      model: "nova-3-general",
    });
    const ttfb = metrics.find((m) => m.kind === "ttfb");
    expect(ttfb?.value).toBeGreaterThanOrEqual(0);

    void s.task.stopWhenDone();
    const outcome = await finish(s);
    expect(outcome.how).toBe("ended");
    expect(conn().texts.at(-1)).toBe('{"type":"CloseStream"}');
    expect(s.stt.stats).toMatchObject({ audioSentMs: 500, audioDroppedMs: 0, finals: 1, finalizes: 1 });
    expect(s.up.ofType(ErrorFrame)).toEqual([]);
    expectNothingPending(s.clock);
  });

  it("delivers the results CloseStream brings before the task ends", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(300);
    await until(() => s.down.ofType(InterimTranscriptionFrame).length === 3, "3 interims");
    void s.task.stopWhenDone();
    await finish(s);
    // The final came after CloseStream, and before the EndFrame left the service.
    const frames = s.down.frames;
    const finalAt = frames.findIndex((f) => f instanceof TranscriptionFrame);
    expect((frames[finalAt] as TranscriptionFrame).text).toBe("book a table");
    expect(frames.findIndex((f) => f.constructor.name === "EndFrame")).toBeGreaterThan(finalAt);
  });

  it("resamples audio at another rate (48 kHz stereo) to the service's rate before sending", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(300, 48_000, 2);
    // 300 ms at 16 kHz mono, 2 bytes a sample: exactly ceil(n / 3) frames of the 48 kHz stream.
    await until(() => server.connections[0]!.audioBytes === 9_600, "300 ms of 16 kHz audio");
    expect(server.connections[0]!.query.get("sample_rate")).toBe("16000");
    await until(() => s.down.ofType(InterimTranscriptionFrame).length === 3, "3 interims");
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
  });

  it("asks Finalize once per stop (VAD stop and user stop both arrive), and none without speech", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl });
    s.queue(new VADUserStoppedSpeakingFrame()); // no start: nothing to finalize
    s.queue(new VADUserStartedSpeakingFrame());
    await s.speak(200);
    s.queue(new VADUserStoppedSpeakingFrame());
    s.task.queueFrame(new UserStoppedSpeakingFrame(), FrameDirection.UPSTREAM);
    await until(() => s.down.ofType(TranscriptionFrame).length === 1, "the final");
    await (s.clock as VirtualClock).advance(50);
    const conn = server.connections[0]!;
    expect(conn.texts.filter((t) => t.includes("Finalize"))).toHaveLength(1);
    expect(s.down.ofType(TranscriptionFrame)[0]!.text).toBe("book a");
    void s.task.stopWhenDone();
    await finish(s);
  });

  it("sends KeepAlive as a text frame while muted, sends no audio then, and resumes on unmute", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(100);
    const conn = server.connections[0]!;
    await until(() => conn.audioBytes === 3_200, "100 ms of audio");
    s.queue(new UserMuteStartedFrame());
    await s.speak(200); // muted: not sent
    await (s.clock as VirtualClock).advance(11_000);
    await until(() => conn.texts.filter((t) => t === '{"type":"KeepAlive"}').length >= 2, "two KeepAlives");
    expect(conn.binaryControl).toEqual([]);
    expect(conn.audioBytes).toBe(3_200);
    expect(s.stt.stats.audioMutedMs).toBe(200);
    s.queue(new UserMuteStoppedFrame());
    await s.speak(100);
    await until(() => conn.audioBytes === 6_400, "audio again");
    void s.task.stopWhenDone();
    await finish(s);
  });

  it("keeps pushing transcripts after an interruption (the user's own barge-in)", async () => {
    const server = await fake();
    const s = await startSession({ baseUrl: server.baseUrl });
    s.queue(new InterruptionFrame());
    await (s.clock as VirtualClock).advance(10);
    await s.speak(200);
    await until(() => s.down.ofType(InterimTranscriptionFrame).length === 2, "2 interims");
    expect(s.stt.staleFramesDropped).toBe(0);
    void s.task.stopWhenDone();
    await finish(s);
  });
});

describe("DeepgramSTTService: failures", () => {
  it("a rejected key (401) is one fatal error naming DEEPGRAM_API_KEY, with Deepgram's reason", async () => {
    const server = await fake({ apiKey: "right" });
    const s = await startSession({ baseUrl: server.baseUrl, apiKey: "wrong" });
    const outcome = await finish(s);
    expect(outcome.how).toBe("failed");
    expect(outcome.error?.message).toContain("DEEPGRAM_API_KEY");
    expect(outcome.error?.message).toContain("401");
    expect(outcome.error?.message).toContain("INVALID_AUTH");
    expect(s.up.ofType(ErrorFrame)).toHaveLength(1);
    expect(server.upgrades).toHaveLength(1); // not retried
    expectNothingPending(s.clock);
  });

  it("a missing key is one fatal error naming DEEPGRAM_API_KEY, and nothing connects", async () => {
    const server = await fake();
    const saved = process.env["DEEPGRAM_API_KEY"];
    delete process.env["DEEPGRAM_API_KEY"];
    cleanups.push(() => {
      if (saved !== undefined) process.env["DEEPGRAM_API_KEY"] = saved;
    });
    const s = await startSession({ baseUrl: server.baseUrl, apiKey: undefined });
    const outcome = await finish(s);
    expect(outcome.how).toBe("failed");
    expect(outcome.error?.message).toMatch(/no API key: set DEEPGRAM_API_KEY/);
    expect(server.upgrades).toHaveLength(0);
  });

  it("takes the base URL from DEEPGRAM_BASE_URL and appends /v1/listen", async () => {
    const server = await fake();
    process.env["DEEPGRAM_BASE_URL"] = `${server.baseUrl}/`;
    cleanups.push(() => void delete process.env["DEEPGRAM_BASE_URL"]);
    const s = await startSession({});
    expect(server.connections).toHaveLength(1);
    expect(s.stt.listenUrl(16_000)).toMatch(new RegExp(`^${server.baseUrl}/v1/listen\\?`));
    void s.task.stopWhenDone();
    await finish(s);
  });

  it("reconnects after the server closes mid-stream; audio meanwhile is dropped and counted; later audio is transcribed", async () => {
    const server = await fake({
      onAudio: (conn, ms) => {
        if (conn.n === 1 && ms >= 200) conn.ws.close(1011, "NET-0000");
      },
    });
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(200);
    await until(() => s.stt.socketStats?.disconnects === 1, "the drop");
    await s.speak(100, 16_000); // the socket is waiting to reconnect (250 ms backoff): dropped
    expect(s.stt.stats.audioDroppedMs).toBeGreaterThan(0);
    await (s.clock as VirtualClock).advance(300);
    await until(() => s.stt.socketStats?.opens === 2, "the reconnect");
    const droppedBefore = s.stt.stats.audioDroppedMs;
    await s.speak(200);
    await until(() => server.connections[1]?.pending.length === 2, "2 words on the new connection");
    await until(
      () => s.down.ofType(InterimTranscriptionFrame).length === 4,
      "interims from both connections",
    );
    expect(s.stt.stats.audioDroppedMs).toBe(droppedBefore);
    expect(s.up.ofType(ErrorFrame)).toEqual([]);
    const warns = s.lines.filter((l) => l.level === "warn" && l.message.includes("dropped"));
    expect(warns.length).toBeLessThanOrEqual(2); // said once per cause, not per frame
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
    expectNothingPending(s.clock);
  });

  it("a malformed message is said once per cause and counted; good results still come through", async () => {
    const server = await fake({
      onAudio: (conn, ms) => {
        if (ms <= 80) {
          conn.ws.send("not json");
          conn.ws.send(JSON.stringify({ type: "Results", channel: {} }));
        }
      },
    });
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(200);
    await until(() => s.stt.stats.malformedMessages === 8, "8 malformed messages");
    await until(() => s.down.ofType(InterimTranscriptionFrame).length === 2, "2 interims");
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => !e.fatal)).toBe(true);
    expect(errors[0]!.error.message).toContain("not JSON");
    expect(errors[1]!.error.message).toContain("channel.alternatives[0].transcript");
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
  });

  it("a transcript longer than MAX_TRANSCRIPT_CHARS is cut there (not inside a surrogate pair), said once and counted", async () => {
    // 1 MB of words, then a transcript whose bound falls between the halves of an emoji.
    const huge = "word ".repeat(200_000);
    const split = "a".repeat(MAX_TRANSCRIPT_CHARS - 1) + "😀 and more";
    const server = await fake({
      onAudio: (conn, ms) => {
        if (ms === 20) {
          conn.ws.send(JSON.stringify(results(huge, { isFinal: false })));
          conn.ws.send(JSON.stringify(results(huge, { isFinal: true })));
          conn.ws.send(JSON.stringify(results(split, { isFinal: true })));
          conn.ws.send(JSON.stringify(results("short", { isFinal: true })));
        }
      },
    });
    const s = await startSession({ baseUrl: server.baseUrl });
    await s.speak(100);
    await until(() => s.down.ofType(TranscriptionFrame).length === 3, "3 finals");
    const [interim] = s.down.ofType(InterimTranscriptionFrame);
    const [first, second, third] = s.down.ofType(TranscriptionFrame);
    expect(interim!.text).toBe(huge.slice(0, MAX_TRANSCRIPT_CHARS));
    expect(first!.text).toBe(huge.slice(0, MAX_TRANSCRIPT_CHARS));
    expect(second!.text).toBe("a".repeat(MAX_TRANSCRIPT_CHARS - 1)); // the emoji's high half is not kept alone
    expect(third!.text).toBe("short");
    expect(s.stt.stats.transcriptCharsCut).toBe(
      2 * (huge.length - MAX_TRANSCRIPT_CHARS) + (split.length - (MAX_TRANSCRIPT_CHARS - 1)),
    );
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(false);
    expect(errors[0]!.error.message).toMatch(/a transcript of 1000000 characters; only the first 16384/);
    void s.task.stopWhenDone();
    expect((await finish(s)).how).toBe("ended");
  });

  it("ends within closeTimeoutMs when the server never answers CloseStream", async () => {
    const server = await fake({ ignoreCloseStream: true });
    const s = await startSession({ baseUrl: server.baseUrl, closeTimeoutMs: 100 }, {}, new SystemClock());
    s.queue(speechChunk(20, 16_000));
    await until(() => server.connections[0]!.audioBytes > 0, "audio");
    const t0 = performance.now();
    const outcome = await s.task.stopWhenDone();
    const tookMs = performance.now() - t0;
    expect(outcome.how).toBe("ended");
    expect(tookMs).toBeLessThan(1_000); // bound: 2 × closeTimeoutMs plus the pipeline
    expect(s.stt.socketStats?.terminatedAtClose).toBe(1);
  });
});

describe("DeepgramSTTService: cancel at every point leaves nothing running", () => {
  const points = ["connecting", "idle", "mid-stream", "awaiting-finalize", "reconnecting", "ending"] as const;
  for (const point of points) {
    it(`cancel while ${point}`, async () => {
      const baseline = tcpHandles();
      const server = await fake({
        hangUpgrade: (n) => point === "connecting" && n === 1,
        ignoreCloseStream: point === "ending",
        onAudio: (conn, ms) => {
          if (point === "reconnecting" && conn.n === 1 && ms >= 100) conn.ws.close(1011, "NET-0000");
        },
      });
      const clock = point === "connecting" || point === "ending" ? new SystemClock() : new VirtualClock();
      const s =
        point === "connecting"
          ? await startSessionNoWait(server, clock)
          : await startSession({ baseUrl: server.baseUrl, closeTimeoutMs: 5_000 }, {}, clock);
      if (point === "mid-stream" || point === "awaiting-finalize" || point === "reconnecting") {
        s.queue(new VADUserStartedSpeakingFrame());
        await s.speak(100);
      }
      if (point === "awaiting-finalize") s.queue(new VADUserStoppedSpeakingFrame());
      if (point === "reconnecting") await until(() => s.stt.socketStats?.disconnects === 1, "the drop");
      if (point === "ending") void s.task.stopWhenDone();
      const t0 = performance.now();
      const outcome =
        clock instanceof VirtualClock
          ? await (async () => {
              const done = s.task.cancel("test");
              await clock.runUntil(done);
              return done;
            })()
          : await s.task.cancel("test");
      const tookMs = performance.now() - t0;
      expect(["cancelled", "ended"]).toContain(outcome.how);
      expect(tookMs).toBeLessThan(2_000);
      expectNothingPending(clock);
      // The client let go of everything itself: each socket the server holds is closed from the other end.
      await until(
        () => server.upgrades.every((r) => r.socket.destroyed || r.socket.readableEnded),
        "the client's sockets to close",
      );
      await server.close();
      await until(() => tcpHandles() <= baseline, `TCP handles back to ${baseline}`);
    });
  }
});

/** Starts a session without waiting for the pipeline to start (the upgrade hangs). */
async function startSessionNoWait(server: FakeDeepgram, clock: Clock) {
  const baseUrl = server.baseUrl;
  const { DeepgramSTTService } = await import("../../../src/services/deepgram/stt.js");
  const { Pipeline } = await import("../../../src/pipeline/pipeline.js");
  const { PipelineTask } = await import("../../../src/pipeline/task.js");
  const { silentLogger } = await import("../../../src/logger.js");
  const stt = new DeepgramSTTService({ apiKey: "test-key", baseUrl });
  const task = new PipelineTask(new Pipeline([stt]), { clock, logger: silentLogger, idleTimeoutMs: null });
  void task.run();
  await until(() => server.upgrades.length === 1, "the first upgrade request to hang");
  return {
    stt,
    task,
    queue: () => {},
    speak: async () => {},
  } as unknown as Awaited<ReturnType<typeof startSession>>;
}

void results;
