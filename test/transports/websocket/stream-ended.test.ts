/**
 * A client that says its stream is over (a telephony provider's `stop`: the serializer returns an
 * `EndTaskFrame`) will play nothing more: the output stops at once, as if the socket had closed,
 * and the task ends by its normal end path without first sending what was still queued.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  type TaskOutcome,
} from "../../../src/index.js";
import { answerCall } from "../../../src/telephony/index.js";
import { tone } from "../../support/audio.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("a provider's stop while 5 s of the bot's speech is queued: no more audio goes out, the socket closes at once, the task ends", async () => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  let outcome: Promise<TaskOutcome> | undefined;
  // Seen on the server: when its socket delivered the stop (this listener comes before the
  // transport's), and when each media message was handed to the socket. Ordered by one thread,
  // not by how fast the loopback carried them.
  let stopReceivedAt: number | undefined;
  const mediaSentAt: number[] = [];
  wss.on("connection", (socket) => {
    socket.on("message", (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { event: string }).event === "stop")
        stopReceivedAt ??= performance.now();
    });
    const send = socket.send.bind(socket) as (...args: unknown[]) => void;
    socket.send = ((...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].includes('"event":"media"'))
        mediaSentAt.push(performance.now());
      send(...args);
    }) as typeof socket.send;
    outcome = (async () => {
      const transport = (await answerCall(socket, "twilio")).transport();
      const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
        params: { audioInSampleRate: 8000, audioOutSampleRate: 8000 },
      });
      transport.on("clientConnected", () =>
        task.queueFrames([
          new TTSStartedFrame(),
          new TTSAudioRawFrame(tone(5000, 8000), 8000),
          new TTSStoppedFrame(),
        ]),
      );
      return task.run();
    })();
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  cleanups.push(() => client.terminate());
  const media: number[] = [];
  client.on("message", (data: Buffer) => {
    if ((JSON.parse(data.toString()) as { event: string }).event === "media") media.push(performance.now());
  });
  const closed = new Promise<number>((resolve) => client.once("close", () => resolve(performance.now())));
  await once(client, "open");
  client.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
  client.send(
    JSON.stringify({
      event: "start",
      sequenceNumber: "1",
      streamSid: "MZ1",
      start: {
        streamSid: "MZ1",
        callSid: "CA1",
        accountSid: "AC1",
        tracks: ["inbound"],
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    }),
  );
  await expect.poll(() => media.length, { timeout: 3000 }).toBeGreaterThan(10);
  const stopAt = performance.now();
  client.send(
    JSON.stringify({ event: "stop", sequenceNumber: "2", streamSid: "MZ1", stop: { callSid: "CA1" } }),
  );
  const closedAt = await closed;
  // At most the packet that was already on its way when the stop came in, then nothing. Counted
  // on the server (a loaded machine could deliver to the client, more than 50 ms after it sent the
  // stop, packets the server had sent before it read the stop).
  expect(stopReceivedAt).toBeDefined();
  expect(mediaSentAt.length).toBeGreaterThanOrEqual(media.length); // every send was seen
  expect(mediaSentAt.filter((t) => t > stopReceivedAt!).length).toBeLessThanOrEqual(1);
  expect(closedAt - stopAt).toBeLessThan(1000);
  expect((await outcome!).how).toBe("ended");
});
