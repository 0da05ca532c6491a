import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  CancelFrame,
  type Frame,
  InputAudioRawFrame,
  InputTransportMessageFrame,
  InterruptionFrame,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  TTSAudioRawFrame,
  type TaskOutcome,
} from "../../../src/index.js";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  ProtobufFrameSerializer,
  type ProtobufFrameSerializerOptions,
} from "../../../src/serializers/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import {
  WebSocketTransport,
  type WebSocketTransportOptions,
} from "../../../src/transports/websocket/index.js";
import { memoryLogger } from "../../support/logger.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls `predicate` every 5 ms of real time; fails after `timeoutMs`. */
async function until(predicate: () => boolean, timeoutMs = 2000, what = "condition"): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A system clock that knows how many of its timers are still pending. */
class CountingClock extends SystemClock {
  pending = 0;
  override setTimer(callback: () => void, delayMs: number) {
    this.pending++;
    let live = true;
    const settle = () => {
      if (live) this.pending--;
      live = false;
    };
    const handle = super.setTimer(() => {
      settle();
      callback();
    }, delayMs);
    return {
      cancel: () => {
        settle();
        handle.cancel();
      },
    };
  }
}

interface SessionOptions {
  transport?: Partial<Omit<WebSocketTransportOptions, "serializer">>;
  serializer?: ProtobufFrameSerializerOptions;
  client?: WebSocket.ClientOptions;
}

/** A loopback ws server, one client, and a task [input, recorder, output] on the system clock. */
async function session(options: SessionOptions = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: DEFAULT_MAX_MESSAGE_BYTES });
  await once(wss, "listening");
  const closeServer = () => new Promise<void>((resolve) => wss.close(() => resolve()));
  const port = (wss.address() as AddressInfo).port;
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`, options.client);
  await once(client, "open");
  const socket = await accepted;
  const { logger, lines } = memoryLogger();
  const transport = new WebSocketTransport(socket, {
    serializer: new ProtobufFrameSerializer(options.serializer),
    params: {
      audioInEnabled: true,
      audioOutEnabled: true,
      audioOutSampleRate: 24_000,
      audioOutEndSilenceMs: 40,
    },
    ...options.transport,
  });
  const events: string[] = [];
  transport.on("clientConnected", () => void events.push("connected"));
  transport.on("clientDisconnected", (reason) => void events.push(`disconnected: ${reason}`));
  const recorder = new FrameRecorder();
  const clock = new CountingClock();
  const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
    clock,
    logger,
    idleTimeoutMs: null,
    params: { audioInSampleRate: 16_000, audioOutSampleRate: 24_000 },
  });
  const started = new Promise<void>((resolve) => task.on("pipelineStarted", () => resolve()));
  let outcome: TaskOutcome | undefined;
  const done = task.run().then((o) => (outcome = o));
  await started;
  const wire = new ProtobufFrameSerializer();
  const received: Array<{ frame: Frame; atMs: number }> = [];
  client.on("message", (data: Buffer) => {
    const result = wire.deserialize(data);
    if (result.ok) for (const frame of result.frames) received.push({ frame, atMs: performance.now() });
  });
  cleanups.push(closeServer, async () => {
    client.terminate();
    await task.cancel("test over");
  });
  return {
    client,
    socket,
    transport,
    task,
    recorder,
    clock,
    events,
    lines,
    received,
    done,
    outcome: () => outcome,
    closeServer,
    /** Sends a frame as the client would (protobuf). */
    send: (frame: Frame) => client.send(wire.serialize(frame)!),
  };
}

/**
 * A connected client and a transport on the server's socket, with no task yet: what the client
 * sends now arrives before the pipeline starts. `start()` then runs [input, recorder, output].
 */
async function beforeTheTask(options: Partial<Omit<WebSocketTransportOptions, "serializer">> = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await once(client, "open");
  const transport = new WebSocketTransport(await accepted, {
    serializer: new ProtobufFrameSerializer(),
    params: { audioInEnabled: true },
    ...options,
  });
  const wire = new ProtobufFrameSerializer();
  const { logger, lines } = memoryLogger();
  const recorder = new FrameRecorder();
  const start = (): void => {
    const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
      idleTimeoutMs: null,
      logger,
      params: { audioInSampleRate: 16_000 },
    });
    const done = task.run();
    cleanups.push(async () => {
      client.terminate();
      await task.cancel("test over");
      await done;
    });
  };
  return { transport, lines, recorder, start, send: (frame: Frame) => client.send(wire.serialize(frame)!) };
}

function tone(samples: number, value: number): Int16Array {
  return new Int16Array(samples).fill(value);
}

describe("WebSocketTransport: input", () => {
  it("pushes the client's audio as InputAudioRawFrames, in order with its messages", async () => {
    const s = await session();
    expect(s.events).toEqual(["connected"]);
    s.send(new OutputAudioRawFrame(tone(320, 1), 16_000));
    s.send(new OutputTransportMessageFrame({ label: "rtvi-ai", type: "client-ready" }));
    s.send(new OutputAudioRawFrame(tone(320, 2), 16_000));
    s.send(new OutputAudioRawFrame(tone(320, 3), 16_000));
    await until(() => s.recorder.ofType(InputAudioRawFrame).length === 3, 2000, "three audio frames");
    const seen = s.recorder.frames
      .filter((f) => f instanceof InputAudioRawFrame || f instanceof InputTransportMessageFrame)
      .map((f) => (f instanceof InputAudioRawFrame ? `audio ${f.audio[0]}` : "message"));
    expect(seen).toEqual(["audio 1", "message", "audio 2", "audio 3"]);
    const audio = s.recorder.ofType(InputAudioRawFrame);
    expect(audio.every((f) => f.sampleRate === 16_000 && f.audio.length === 320)).toBe(true);
    expect(s.recorder.ofType(InputTransportMessageFrame)[0]!.message).toEqual({
      label: "rtvi-ai",
      type: "client-ready",
    });
  });

  it("holds what the client sends before the pipeline starts, and hands it over in order, outside the rate limit", async () => {
    const c = await beforeTheTask({ maxMessagesPerSecond: 100 });
    // The official client's order: client-ready the moment the socket opens, then audio: 300
    // messages, three times what the rate limit takes in a second.
    c.send(new OutputTransportMessageFrame({ label: "rtvi-ai", type: "client-ready" }));
    for (let i = 1; i <= 300; i++) c.send(new OutputAudioRawFrame(tone(256, i), 16_000));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the pipeline is slow to start
    c.start();
    await until(() => c.recorder.ofType(InputAudioRawFrame).length === 300, 3000, "300 held audio frames");
    const seen = c.recorder.frames
      .filter((f) => f instanceof InputAudioRawFrame || f instanceof InputTransportMessageFrame)
      .map((f) => (f instanceof InputAudioRawFrame ? f.audio[0] : "client-ready"));
    expect(seen).toEqual(["client-ready", ...Array.from({ length: 300 }, (_, i) => i + 1)]);
    expect(c.transport.refusedMessageCount).toBe(0);
  });

  it("holds at most 512 messages before the pipeline starts: the rest are dropped, said once and counted", async () => {
    const c = await beforeTheTask();
    for (let i = 1; i <= 600; i++) c.send(new OutputAudioRawFrame(tone(256, i), 16_000));
    await until(() => c.transport.refusedMessages["early-overflow"] === 88, 3000, "88 early overflows");
    c.start();
    await until(() => c.recorder.ofType(InputAudioRawFrame).length === 512, 3000, "512 held audio frames");
    expect(c.recorder.ofType(InputAudioRawFrame).map((f) => f.audio[0])).toEqual(
      Array.from({ length: 512 }, (_, i) => i + 1),
    );
    expect(c.transport.refusedMessageCount).toBe(88);
    expect(c.lines.filter((l) => /before the pipeline started/.test(l.message))).toHaveLength(1);
  });

  it("holds the full early caps for what comes after a full hand-over (receivedMessages), and no more", async () => {
    const wire = new ProtobufFrameSerializer();
    const handed = Array.from({ length: 512 }, (_, i) => ({
      data: wire.serialize(new OutputAudioRawFrame(tone(256, i + 1), 16_000)) as Uint8Array,
      isBinary: true,
    }));
    const c = await beforeTheTask({ receivedMessages: handed });
    // A stream that goes on after the hand-over: 512 more are held, the 8 past them dropped.
    for (let i = 513; i <= 1032; i++) c.send(new OutputAudioRawFrame(tone(256, i), 16_000));
    await until(() => c.transport.refusedMessages["early-overflow"] === 8, 3000, "8 early overflows");
    c.start();
    await until(() => c.recorder.ofType(InputAudioRawFrame).length === 1024, 3000, "1024 held audio frames");
    expect(c.recorder.ofType(InputAudioRawFrame).map((f) => f.audio[0])).toEqual(
      Array.from({ length: 1024 }, (_, i) => i + 1),
    );
    expect(c.transport.refusedMessageCount).toBe(8);
  });

  it("refuses receivedMessages over the early caps (512 messages, 1 MiB)", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(wss, "listening");
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    cleanups.push(() => client.terminate());
    await once(client, "open");
    const socket = await accepted;
    const big = { data: new Uint8Array(600 * 1024), isBinary: true };
    expect(
      () =>
        new WebSocketTransport(socket, {
          serializer: new ProtobufFrameSerializer(),
          receivedMessages: [big, big],
        }),
    ).toThrow(/receivedMessages holds 1228800 bytes; at most 1048576/);
    const many = Array.from({ length: 513 }, () => ({ data: "x", isBinary: false }));
    expect(
      () =>
        new WebSocketTransport(socket, { serializer: new ProtobufFrameSerializer(), receivedMessages: many }),
    ).toThrow(/receivedMessages holds 513 messages; at most 512/);
  });

  it("says nothing about the audio a client still sends after the server ended the session", async () => {
    const s = await session();
    const streaming = setInterval(() => s.send(new OutputAudioRawFrame(tone(256, 1), 16_000)), 5);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await s.task.stopWhenDone();
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      clearInterval(streaming);
    }
    expect(s.outcome()?.how).toBe("ended");
    expect(s.lines.filter((l) => l.level === "warn")).toEqual([]);
  });

  it("drops 1,000 malformed messages with one log line and a count; the session goes on", async () => {
    const s = await session({ transport: { maxMessagesPerSecond: 100_000 } });
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    for (let i = 0; i < 1000; i++) s.client.send(garbage);
    s.send(new OutputAudioRawFrame(tone(320, 7), 16_000));
    await until(() => s.recorder.ofType(InputAudioRawFrame).length === 1, 3000, "audio after the garbage");
    expect(s.transport.refusedMessages.malformed).toBe(1000);
    expect(s.transport.refusedMessageCount).toBe(1000);
    const dropped = s.lines.filter((l) => /dropped/.test(l.message));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.message).toMatch(/malformed message .*counted/);
    expect(s.outcome()).toBeUndefined(); // still running
    expect(s.client.readyState).toBe(WebSocket.OPEN);
  });

  it("drops messages over maxMessagesPerSecond, counted as rate-limited", async () => {
    const s = await session({ transport: { maxMessagesPerSecond: 5 } });
    for (let i = 0; i < 20; i++) s.send(new OutputAudioRawFrame(tone(160, i + 1), 16_000));
    await until(() => s.transport.refusedMessages["rate-limited"] >= 15, 2000, "rate limit");
    await until(() => s.recorder.ofType(InputAudioRawFrame).length === 5, 2000, "five frames");
    expect(s.recorder.ofType(InputAudioRawFrame).map((f) => f.audio[0])).toEqual([1, 2, 3, 4, 5]);
    expect(s.lines.filter((l) => /rate-limited/.test(l.message))).toHaveLength(1);
  });
});

describe("WebSocketTransport: input limits", () => {
  it("drops a message over the serializer's maxMessageBytes, says it once, and goes on", async () => {
    const s = await session({ serializer: { maxMessageBytes: 1000 } });
    for (let i = 0; i < 3; i++) s.send(new OutputAudioRawFrame(tone(4000, 9), 16_000)); // 8 KB each
    s.send(new OutputAudioRawFrame(tone(320, 4), 16_000));
    await until(() => s.recorder.ofType(InputAudioRawFrame).length === 1, 2000, "the small message");
    expect(s.recorder.ofType(InputAudioRawFrame)[0]!.audio[0]).toBe(4);
    expect(s.transport.refusedMessages.oversized).toBe(3);
    expect(s.lines.filter((l) => /oversized/.test(l.message))).toHaveLength(1);
    expect(s.client.readyState).toBe(WebSocket.OPEN);
  });

  it("a message longer than the socket's maxPayload ends the session with a reason that names the limit", async () => {
    const s = await session();
    s.client.send(new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1));
    await s.done;
    expect(s.events.at(-1)).toMatch(/^disconnected: .*1009.*maxPayload.*maxMessageBytes/);
  });

  it("counts text sent to a binary serializer as unknown-type, not a crash", async () => {
    const s = await session();
    s.client.send("hello");
    s.client.send(JSON.stringify({ label: "rtvi-ai" }));
    await until(() => s.transport.refusedMessages["unknown-type"] === 2, 2000, "two refusals");
    expect(s.outcome()).toBeUndefined();
  });
});

describe("WebSocketTransport: output", () => {
  it("writes output audio to the client as audio frames at real-time pace", async () => {
    const s = await session();
    const chunkSamples = (24_000 * 40) / 1000; // 40 ms chunks
    s.task.queueFrame(new TTSAudioRawFrame(tone(10 * chunkSamples, 5), 24_000));
    await until(
      () => s.received.filter((r) => r.frame instanceof InputAudioRawFrame).length >= 10,
      3000,
      "ten chunks",
    );
    const audio = s.received.filter((r) => r.frame instanceof InputAudioRawFrame);
    const frames = audio.map((r) => r.frame as InputAudioRawFrame);
    expect(frames.every((f) => f.sampleRate === 24_000 && f.audio.length === chunkSamples)).toBe(true);
    expect(frames.reduce((n, f) => n + f.audio.length, 0)).toBe(10 * chunkSamples);
    // Ten 40 ms chunks paced on the clock: the last leaves ~360 ms after the first, not in a burst.
    const spanMs = audio[9]!.atMs - audio[0]!.atMs;
    expect(spanMs).toBeGreaterThan(300);
  });

  it("sends the interruption message only to a client whose serializer writes it", async () => {
    const accepts = await session({ serializer: { sendInterruptions: true } });
    const refuses = await session();
    for (const s of [accepts, refuses]) s.task.queueFrame(new InterruptionFrame());
    await until(() => accepts.transport.clearsSent === 1, 2000, "the clear");
    await until(
      () => accepts.received.some((r) => r.frame instanceof InterruptionFrame),
      2000,
      "clear at client",
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(refuses.transport.clearsSent).toBe(0);
    expect(refuses.received.some((r) => r.frame instanceof InterruptionFrame)).toBe(false);
  });
});

describe("WebSocketTransport: ending", () => {
  it("the client vanishing mid-utterance ends the task, with nothing left running", async () => {
    const kinds = ["TCPSocketWrap", "TCPServerWrap", "Timeout"];
    const count = () => {
      const all = process.getActiveResourcesInfo();
      return Object.fromEntries(kinds.map((k) => [k, all.filter((r) => r === k).length]));
    };
    const before = count();
    const s = await session();
    for (let i = 0; i < 10; i++) s.send(new OutputAudioRawFrame(tone(320, i + 1), 16_000));
    s.task.queueFrame(new TTSAudioRawFrame(tone(24_000, 5), 24_000)); // a second of bot speech
    await until(() => s.recorder.ofType(InputAudioRawFrame).length >= 5, 2000, "audio in");
    const gone = performance.now();
    (s.client as unknown as { _socket: { destroy(): void } })._socket.destroy();
    await s.done;
    const tookMs = performance.now() - gone;
    expect(s.outcome()!.how).toBe("cancelled");
    expect(s.outcome()!.frame).toBeInstanceOf(CancelFrame);
    expect(tookMs).toBeLessThan(2000); // cancelTimeoutMs bounds it; on loopback it is a few ms
    expect(s.events).toHaveLength(2);
    expect(s.events[1]).toMatch(/^disconnected: client disconnected \(close code 1006\)/);
    await s.transport.socketClosed;
    expect(s.clock.pending).toBe(0); // no heartbeat, handshake or task timer left
    await s.closeServer();
    await until(
      () => {
        const now = count();
        return kinds.every((k) => now[k]! <= before[k]!);
      },
      1000,
      "resources released",
    );
  });

  it("a half-open client (no pongs) is detected and closed within (maxMissedPongs + 1) × pingIntervalMs", async () => {
    // 150 ms: the healthy client, in this same process, misses two pongs only if the process stalls
    // for about 300 ms (50 ms made a 100 ms stall of a loaded machine drop it).
    const pingIntervalMs = 150;
    const healthy = await session({ transport: { pingIntervalMs, maxMissedPongs: 2 } });
    const s = await session({
      transport: { pingIntervalMs, maxMissedPongs: 2 },
      client: { autoPong: false },
    });
    // From the pipeline's start (the heartbeat starts with the input), not from before the server,
    // the client and the task were set up (on a loaded machine that can take most of the 100 ms of
    // slack this had). The exact tick is the heartbeat's own test (heartbeat.test.ts, virtual
    // clock); here the bound is four times the promise of 150 ms, for late timers.
    const startedAt = performance.now();
    await s.done;
    const tookMs = performance.now() - startedAt;
    expect(tookMs).toBeLessThan(3 * pingIntervalMs * 4);
    expect(s.events[1]).toMatch(/did not answer 2 pings in a row \(half-open/);
    expect(s.outcome()!.how).toBe("cancelled");
    await s.transport.socketClosed;
    expect(s.clock.pending).toBe(0);
    // The client that answers is still there after several intervals.
    await new Promise((r) => setTimeout(r, 4 * pingIntervalMs));
    expect(healthy.events).toEqual(["connected"]);
    expect(healthy.client.readyState).toBe(WebSocket.OPEN);
  });

  it("closes the socket with a bounded handshake when the task ends, and says so once", async () => {
    const s = await session();
    const closed = once(s.client, "close");
    await s.task.stopWhenDone();
    const [code] = (await closed) as [number];
    expect(code).toBe(1000);
    await s.transport.socketClosed;
    expect(s.events).toEqual(["connected", "disconnected: ws-output done"]);
    expect(s.lines.filter((l) => l.level === "error" || l.level === "warn")).toEqual([]);
  });

  it("runs beforeEndClose hooks when the task ends, after the last audio and before the close frame", async () => {
    const s = await session();
    const seen: Array<{ clientOpen: boolean; audio: number }> = [];
    s.transport.beforeEndClose(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30)); // a request to somewhere
      // The server's pong comes after all it wrote before it: once the client has it, it has read
      // every audio message sent before this hook (30 ms alone let a stalled loop count too few).
      await new Promise<void>((resolve) => {
        s.client.once("pong", () => resolve());
        s.client.ping();
      });
      seen.push({
        clientOpen: s.client.readyState === WebSocket.OPEN,
        audio: s.received.filter((r) => r.frame instanceof InputAudioRawFrame).length,
      });
    });
    const closed = once(s.client, "close");
    s.task.queueFrame(new TTSAudioRawFrame(tone(2400, 5), 24_000)); // 100 ms of bot speech
    await s.task.stopWhenDone();
    await closed;
    // The protobuf wire carries the bot's audio as the client's input audio.
    const audio = s.received.filter((r) => r.frame instanceof InputAudioRawFrame).length;
    expect(audio).toBeGreaterThan(0);
    expect(seen).toEqual([{ clientOpen: true, audio }]);
    expect(s.transport.endedByClient).toBe(false);
    expect(s.lines.filter((l) => l.level === "error" || l.level === "warn")).toEqual([]);
  });

  it("logs a beforeEndClose hook that throws, once, and still closes the socket", async () => {
    const s = await session();
    s.transport.beforeEndClose(() => {
      throw new Error("the provider's API is down");
    });
    const closed = once(s.client, "close");
    await s.task.stopWhenDone();
    const [code] = (await closed) as [number];
    expect(code).toBe(1000);
    const warned = s.lines.filter((l) => l.level === "warn").map((l) => l.message);
    expect(warned).toEqual(["ws: a beforeEndClose hook failed: the provider's API is down"]);
  });

  it("runs no beforeEndClose hook on cancel, nor when the client closed the socket; endedByClient says which", async () => {
    let runs = 0;
    const cancelled = await session();
    cancelled.transport.beforeEndClose(() => void runs++);
    await cancelled.task.cancel("stop now");
    await cancelled.transport.socketClosed;
    expect(cancelled.transport.endedByClient).toBe(false);
    const left = await session({ transport: { onClientDisconnect: "end" } });
    left.transport.beforeEndClose(() => void runs++);
    left.client.close();
    await left.done;
    expect(left.outcome()!.how).toBe("ended");
    expect(left.transport.endedByClient).toBe(true);
    const removed = await session();
    removed.transport.beforeEndClose(() => void runs++)();
    await removed.task.stopWhenDone();
    expect(runs).toBe(0);
  });

  it("destroys the socket when the client does not answer the close frame within closeHandshakeMs", async () => {
    const closeHandshakeMs = 100;
    const s = await session({ transport: { closeHandshakeMs } });
    (s.client as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing any more
    const t0 = performance.now();
    await s.task.stopWhenDone();
    await s.transport.socketClosed;
    const tookMs = performance.now() - t0;
    expect(tookMs).toBeGreaterThanOrEqual(closeHandshakeMs - 5);
    expect(tookMs).toBeLessThan(closeHandshakeMs + 500);
    expect(s.socket.readyState).toBe(WebSocket.CLOSED);
    expect(s.clock.pending).toBe(0);
  });

  it('with onClientDisconnect "end", a disconnect ends the task gracefully (EndFrame)', async () => {
    const s = await session({ transport: { onClientDisconnect: "end" } });
    s.client.close();
    await s.done;
    expect(s.outcome()!.how).toBe("ended");
    expect(s.events).toEqual(["connected", "disconnected: client disconnected (close code 1005)"]);
    await s.transport.socketClosed;
    expect(s.clock.pending).toBe(0);
  });

  it("a client gone before the pipeline starts still ends the task, with no events", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(wss, "listening");
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    const socket = await accepted;
    await once(client, "open"); // a terminate before it would be an error on the client side
    client.terminate();
    await once(socket, "close");
    const transport = new WebSocketTransport(socket, { serializer: new ProtobufFrameSerializer() });
    const events: string[] = [];
    transport.on("clientConnected", () => void events.push("connected"));
    transport.on("clientDisconnected", () => void events.push("disconnected"));
    const clock = new CountingClock();
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
      clock,
      logger: memoryLogger().logger,
      idleTimeoutMs: null,
    });
    const outcome = await task.run();
    expect(outcome.how).toBe("cancelled");
    expect(events).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});
