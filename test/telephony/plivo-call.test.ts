/**
 * A Plivo call on loopback: a WebSocket client that speaks Plivo's stream (start first, no
 * `connected`; no `stop` at the end: it closes the socket), answered with `answerCall` and run
 * through the WebSocket transport. Real sockets and real time, kept short.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import type { ErrorFrame } from "../../src/index.js";
import {
  InterruptionFrame,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  type TaskOutcome,
} from "../../src/index.js";
import { type AnsweredCall, answerCall } from "../../src/telephony/answer-call.js";
import { memoryLogger } from "../support/logger.js";

const CALL_ID = "12345678-1234-1234-1234-123456789abc";
const STREAM_ID = "87654321-4321-4321-4321-cba987654321";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Sent {
  event: string;
  streamId?: string;
  media?: { contentType: string; sampleRate: number; payload: string };
}

/** A loopback server answering Plivo calls, and a "Plivo" client connected to it. */
async function plivoCall(mediaFormat: { encoding: string; sampleRate: number }) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const answered = new Promise<AnsweredCall>((resolve, reject) =>
    wss.once("connection", (socket) => answerCall(socket, "plivo").then(resolve, reject)),
  );
  const plivo = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  cleanups.push(() => void plivo.terminate());
  const sent: Sent[] = [];
  plivo.on("message", (data, isBinary) => {
    expect(isBinary).toBe(false); // Plivo reads text frames
    sent.push(JSON.parse(String(data)) as Sent);
  });
  await once(plivo, "open");
  plivo.send(
    JSON.stringify({
      event: "start",
      sequenceNumber: 1,
      start: { callId: CALL_ID, streamId: STREAM_ID, accountId: "MA1", tracks: ["inbound"], mediaFormat },
      extra_headers: "from=14155550100,to=14155550111",
    }),
  );
  return { plivo, sent, answered: await answered };
}

describe("a Plivo call on loopback", () => {
  it("answers on start (no connected), plays 20 ms playAudio packets, clears on barge-in, and ends when Plivo closes the socket", async () => {
    const { plivo, sent, answered } = await plivoCall({ encoding: "audio/x-mulaw", sampleRate: 8000 });
    expect(answered.call).toMatchObject({ callId: CALL_ID, streamId: STREAM_ID, from: "14155550100" });
    const transport = answered.transport();
    const { logger, lines } = memoryLogger();
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), { logger });
    let outcome: TaskOutcome | undefined;
    const done = task.run().then((o) => (outcome = o));
    const tone = Int16Array.from({ length: 24000 * 0.2 }, (_, i) => Math.round(6000 * Math.sin(i / 4)));
    task.queueFrames([new TTSStartedFrame(), new TTSAudioRawFrame(tone, 24000), new TTSStoppedFrame()]);
    await until(() => sent.length >= 10, 3000, "200 ms of bot audio");
    for (const m of sent) {
      expect(m).toMatchObject({ event: "playAudio", streamId: STREAM_ID });
      expect(m.media).toMatchObject({ contentType: "audio/x-mulaw", sampleRate: 8000 });
      expect(Buffer.from(m.media!.payload, "base64").byteLength).toBe(160);
    }
    // The caller speaks a little (μ-law silence) and the bot is interrupted.
    const silence = Buffer.alloc(160, 0xff).toString("base64");
    for (let i = 0; i < 5; i++) {
      plivo.send(
        JSON.stringify({
          event: "media",
          sequenceNumber: i + 2,
          streamId: STREAM_ID,
          media: { track: "inbound", timestamp: "0", chunk: i + 1, payload: silence },
        }),
      );
    }
    // Bad messages are refused, logged once, and change nothing.
    for (let i = 0; i < 50; i++) plivo.send("{not json");
    task.queueFrame(new InterruptionFrame());
    await until(() => sent.some((m) => m.event === "clearAudio"), 2000, "clearAudio");
    expect(sent.find((m) => m.event === "clearAudio")).toEqual({ event: "clearAudio", streamId: STREAM_ID });
    // No stop: Plivo closes the socket, which ends the task by its normal end path.
    const closedAt = performance.now();
    plivo.close();
    await done;
    expect(outcome!.how).toBe("ended");
    expect(performance.now() - closedAt).toBeLessThan(2000);
    expect(lines.filter((l) => l.message.includes("malformed"))).toHaveLength(1);
  });

  it("a stream left at Plivo's default L16 is decoded at its own rate, and the task hears once what to set", async () => {
    const { plivo, answered } = await plivoCall({ encoding: "audio/x-l16", sampleRate: 16000 });
    expect(answered.call.inbound).toEqual({ encoding: "l16", sampleRate: 16000 });
    const transport = answered.transport();
    const { logger, lines } = memoryLogger();
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), { logger });
    const errors: Error[] = [];
    task.on("pipelineError", (frame: ErrorFrame) => errors.push(frame.error));
    const done = task.run();
    await until(() => errors.length > 0, 2000, "the format error");
    plivo.close();
    const outcome = await done;
    expect(outcome.how).toBe("ended");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain('set contentType="audio/x-mulaw;rate=8000" on the <Stream> element');
    expect(lines.filter((l) => l.message.includes("contentType"))).toHaveLength(1);
  });
});
