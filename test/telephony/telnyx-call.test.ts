/**
 * One Telnyx call end to end on loopback, in real time (short): a WebSocket client speaks
 * Telnyx's media stream to `answerCall(socket, "telnyx")` and the transport it builds. The
 * serializer's own behaviour is in telnyx-serializer.test.ts; this checks that it fits the
 * transport: the call known from `start`, the messages read before it replayed in order, the
 * caller's shuffled packets in order, 20 ms μ-law packets out, clear on an interruption, and
 * `stop` ending the task and closing the socket.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { encodeUlaw } from "../../src/audio/g711.js";
import {
  InputAudioRawFrame,
  InputDTMFFrame,
  InterruptionFrame,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  type TaskOutcome,
} from "../../src/index.js";
import { answerCall, type AnsweredCall } from "../../src/telephony/index.js";
import { FrameRecorder } from "../../src/testing/frame-recorder.js";
import { memoryLogger } from "../support/logger.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A μ-law packet whose bytes are all `n` (so the caller's packet number can be read back). */
const packet = (n: number) => Buffer.alloc(160, n).toString("base64");

describe("a Telnyx call on loopback", () => {
  it("answers from start, hears the caller in order, speaks in 20 ms μ-law packets, clears on an interruption, ends on stop", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(wss, "listening");
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const { logger, lines } = memoryLogger();
    const recorder = new FrameRecorder();
    let answered: AnsweredCall | undefined;
    let task: PipelineTask | undefined;
    const outcome = new Promise<TaskOutcome>((resolve, reject) => {
      wss.once("connection", (socket) => {
        void (async () => {
          answered = await answerCall(socket, "telnyx", { startTimeoutMs: 2000 });
          const transport = answered.transport();
          task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
            logger,
            idleTimeoutMs: null,
            // The pipeline at the stream's rate in: the caller's samples arrive as sent.
            params: { audioInSampleRate: 8000, audioOutSampleRate: 24000 },
          });
          transport.on("clientConnected", () => {
            const tone = Int16Array.from({ length: 24000 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));
            task!.queueFrames([
              new TTSStartedFrame(),
              new TTSAudioRawFrame(tone, 24000),
              new TTSStoppedFrame(),
            ]);
          });
          cleanups.push(() => task!.cancel("test over").then(() => undefined));
          resolve(await task.run());
        })().catch(reject);
      });
    });

    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    cleanups.push(() => client.terminate());
    const sent: { event: string; bytes?: number; atMs: number }[] = [];
    client.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { event: string; media?: { payload: string } };
      expect(Object.keys(message)).toEqual(message.event === "media" ? ["event", "media"] : ["event"]);
      const bytes = message.media ? Buffer.from(message.media.payload, "base64").byteLength : undefined;
      sent.push({ event: message.event, bytes, atMs: performance.now() });
    });
    await once(client, "open");
    const send = (message: object) => client.send(JSON.stringify(message));
    send({ event: "connected", version: "1.0.0" });
    send({
      event: "start",
      sequence_number: "1",
      stream_id: "stream-1",
      start: {
        call_control_id: "v3:call-1",
        from: "+15550100001",
        to: "+15550100002",
        custom_parameters: { lang: "en" },
        media_format: { encoding: "PCMU", sample_rate: 8000, channels: 1 },
      },
    });
    // The caller's packets, a few swapped (within the window), with a key press and two errors among them.
    let seq = 2;
    for (const chunk of [1, 2, 4, 3, 5, 7, 6, 8, 9, 10]) {
      send({
        event: "media",
        sequence_number: String(seq++),
        stream_id: "stream-1",
        media: {
          track: "inbound",
          chunk: String(chunk),
          timestamp: String(chunk * 20),
          payload: packet(chunk),
        },
      });
      if (chunk === 5)
        send({ event: "dtmf", sequence_number: String(seq++), stream_id: "stream-1", dtmf: { digit: "5" } });
    }
    for (let i = 0; i < 2; i++) {
      send({
        event: "error",
        sequence_number: String(seq++),
        stream_id: "stream-1",
        payload: { code: 100003, title: "Malformed frame", detail: "x" },
      });
    }

    // The bot speaks; a few packets in, the caller barges in.
    await expect
      .poll(() => sent.filter((m) => m.event === "media").length, { timeout: 3000 })
      .toBeGreaterThanOrEqual(5);
    const interruptedAt = performance.now();
    task!.queueFrame(new InterruptionFrame());
    await expect.poll(() => sent.some((m) => m.event === "clear"), { timeout: 1000 }).toBe(true);
    const clear = sent.find((m) => m.event === "clear")!;
    expect(clear.atMs - interruptedAt).toBeLessThan(500);
    const mediaBeforeClear = sent.filter((m) => m.event === "media" && m.atMs < clear.atMs);
    expect(mediaBeforeClear.every((m) => m.bytes === 160)).toBe(true);

    expect(answered!.call).toMatchObject({
      provider: "telnyx",
      callId: "v3:call-1",
      streamId: "stream-1",
      from: "+15550100001",
      customParameters: { lang: "en" },
    });
    const stopAt = performance.now();
    send({
      event: "stop",
      sequence_number: String(seq),
      stream_id: "stream-1",
      stop: { call_control_id: "v3:call-1" },
    });
    const result = await outcome;
    expect(result.how).toBe("ended");
    if (client.readyState !== WebSocket.CLOSED) await once(client, "close");
    expect(performance.now() - stopAt).toBeLessThan(2000);

    // The caller's packets in order (a swapped pair put back), the key press among them.
    const heard = recorder.frames.flatMap((f): (number | string)[] =>
      f instanceof InputAudioRawFrame
        ? [encodeUlaw(f.audio.subarray(0, 1))[0]!]
        : f instanceof InputDTMFFrame
          ? [`#${f.button}`]
          : [],
    );
    expect(heard).toEqual([1, 2, 3, 4, 5, "#5", 6, 7, 8, 9, 10]);
    expect(
      recorder.ofType(InputAudioRawFrame).every((f) => f.sampleRate === 8000 && f.audio.length === 160),
    ).toBe(true);
    // Telnyx's error was said once, not twice.
    expect(lines.filter((l) => l.message.includes("100003")).length).toBe(1);
  });
});
