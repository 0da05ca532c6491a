/**
 * Probes against the WebSocket transport behind the development server, with real `ws` clients on
 * loopback: a bot per socket (transport.input() → RTVIProcessor → echo → RTVIOutputGate →
 * transport.output()), the protobuf wire, RTVI on top. Promises: docs/design/websocket-transport.md,
 * docs/design/rtvi.md, the TSDoc of WebSocketTransport.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import {
  type AudioFilter,
  InputTransportMessageFrame,
  MemoryTransport,
  Pipeline,
  PipelineTask,
} from "../../src/index.js";
import { memoryLogger } from "../support/logger.js";
import type { DevServer } from "../../src/runner/dev-server.js";
import {
  SlowStart,
  audioBytes,
  maskedFrame,
  openClient,
  rawUpgrade,
  rtviBytes,
  rtviReceived,
  serveBots,
  sleep,
  tcpHandles,
  waitFor,
} from "./network-support.js";

const servers: DevServer[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 500 })));
});

async function serve(...args: Parameters<typeof serveBots>) {
  const served = await serveBots(...args);
  servers.push(served.server);
  return served;
}

async function client(url: string, options?: WebSocket.ClientOptions) {
  const c = await openClient(url, options);
  clients.push(c);
  return c;
}

describe("network edge: the RTVI handshake", () => {
  // Was a HOLE (fixed; the test now guards it): the official client sends client-ready the moment the socket opens (issue 7). The
  // transport reads the socket from its constructor on, but the input drops every frame pushed
  // before its own start has finished ("pushed before the pipeline started is dropped", one info
  // line). An input whose start takes 50 ms (its audioInFilter loading a model, as RNNoise does)
  // never sees that client-ready: no bot-ready after 1,000 ms (measured: 0 RTVI messages
  // received, rtvi.clientReady false, input.droppedInputFrames 1), and client-js's connect()
  // waits for ever (it has no timeout of its own). The same happens when the application awaits
  // anything between new WebSocketTransport(socket) and task.run(). (Root: the socket's
  // "message" listener is attached in the constructor, not paused until the input opens.)
  it("a client-ready sent as the socket opens is answered with bot-ready, however long the input takes to start", async () => {
    const slowFilter: AudioFilter = {
      enabled: true,
      start: () => sleep(50), // a model loading
      filter: (chunk) => chunk,
      stop: () => Promise.resolve(),
    };
    const { wsUrl, bots } = await serve({
      transport: { params: { audioInEnabled: true, audioOutEnabled: true, audioInFilter: slowFilter } },
    });
    const c = await client(wsUrl);
    const got = rtviReceived(c);
    c.send(rtviBytes({ type: "client-ready", id: "r1", data: { version: "2.1.0" } }));
    await waitFor(() => got.some((m) => m.type === "bot-ready"), 1000);
    expect(bots[0]!.transport.input().droppedInputFrames).toBe(0);
    expect(bots[0]!.rtvi.clientReady).toBe(true);
    expect(got.find((m) => m.type === "bot-ready")).toMatchObject({ id: "r1" });
  });

  // Was a HOLE (the same race, its words; fixed): the drop above is logged as a warning that says the frame
  // came "after the input ended or was cancelled; stop pushing once the task ends", while the
  // input had not finished starting. Measured: that one warn line, no info line about the start.
  // (Root: BaseInputTransport tells before-start from after-end by #pipelineRate, which start()
  // sets before it awaits the filter.)
  // Fixed at the root (BaseInputTransport tells early from late by whether it has opened), and
  // the WebSocket transport no longer drops anything early (it holds it): shown here with the
  // public input API, which still drops what is pushed before the input opens.
  it("a frame dropped while the input is still starting is said to be early, not late", async () => {
    const slowFilter: AudioFilter = {
      enabled: true,
      start: () => sleep(50),
      filter: (chunk) => chunk,
      stop: () => Promise.resolve(),
    };
    const { logger, lines } = memoryLogger();
    const transport = new MemoryTransport({ params: { audioInEnabled: true, audioInFilter: slowFilter } });
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
      logger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await sleep(10); // the filter is still starting
    await transport.input().pushInput(new InputTransportMessageFrame({ hello: 1 }));
    await task.cancel();
    await done;
    const said = lines.filter((l) => /dropped/.test(l.message));
    expect(said).toHaveLength(1);
    expect(said[0]!.message).not.toMatch(/after the input ended/);
    expect(said[0]!.message).toMatch(/before the pipeline started/);
  });

  it("held: a client-ready sent as the socket opens, with a processor after the RTVI processor slow to start, is answered", async () => {
    const { wsUrl } = await serve({ extra: [new SlowStart(50)] });
    const c = await client(wsUrl);
    const got = rtviReceived(c);
    c.send(rtviBytes({ type: "client-ready", id: "r1", data: { version: "2.1.0" } }));
    expect(await waitFor(() => got.some((m) => m.type === "bot-ready"), 1000)).toBe(true);
  });

  it("held: client-ready twice gets bot-ready twice with each id; wrong shapes get error-response, once logged", async () => {
    const { wsUrl, bots } = await serve();
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const got = rtviReceived(c);
    c.send(rtviBytes({ type: "client-ready", id: "a", data: { version: "2.1.0" } }));
    c.send(rtviBytes({ type: "client-ready", id: "b", data: { version: "2.1.0" } }));
    const wrong: Array<Record<string, unknown>> = [
      { type: "client-ready", id: "c", data: "2.1.0" },
      { type: "client-ready", id: "d", data: { version: 2 } },
      { type: "send-text", id: "e", data: { content: 5, options: "now" } },
      { type: "dtmf", id: "f", data: { buttons: ["x"] } },
      { type: "llm-function-call-result", id: "g", data: {} },
      { type: "client-message", id: "h", data: { t: 1 } },
      { type: "no-such-type", id: "i" },
      { type: "client-ready", id: 7 },
      { type: ["client-ready"], id: "j" },
    ];
    for (const m of wrong) c.send(rtviBytes(m));
    await waitFor(() => got.length >= 2 + wrong.length, 2000);
    expect(got.filter((m) => m.type === "bot-ready").map((m) => m.id)).toEqual(["a", "b"]);
    const replies = got.filter((m) => m.type === "error-response" || m.type === "error");
    expect(replies).toHaveLength(wrong.length);
    expect(bots[0]!.rtvi.rejectedMessages).toBe(wrong.length);
    expect(bots[0]!.lines.filter((l) => /rejected a client message/.test(l.message))).toHaveLength(1);
    expect(bots[0]!.outcome).toBeUndefined();
  });

  it("held: disconnect-bot twice ends the task once, by the end path, and the session slot comes back", async () => {
    const { server, wsUrl, bots } = await serve();
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const closed = new Promise<number>((resolve) => c.once("close", (code: number) => resolve(code)));
    c.send(rtviBytes({ type: "disconnect-bot", id: "x" }));
    c.send(rtviBytes({ type: "disconnect-bot", id: "y" }));
    expect(await waitFor(() => bots[0]!.finished, 3000)).toBe(true);
    expect(bots[0]!.outcome!.how).toBe("ended");
    expect(await closed).toBe(1000);
    expect(bots[0]!.events).toHaveLength(2);
    expect(await waitFor(() => server.sessions === 0, 1000)).toBe(true);
  });
});

describe("network edge: what a client sends", () => {
  it("held: 1,000 malformed, unknown, text, oversized and invalid messages: one line per reason, exact counts, the session survives", async () => {
    const { wsUrl, bots } = await serve({
      transport: { maxMessagesPerSecond: 100_000 },
      serializer: { maxMessageBytes: 4096 },
    });
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const kinds = {
      malformed: Buffer.from([0x0a, 0xff, 0xff]), // a length prefix past the end
      "unknown-type": Buffer.from([0x32, 0x00]), // field 6, a newer Pipecat's frame
      text: "hello",
      oversized: audioBytes(4000),
      invalid: audioBytes(320, 4000), // 4 kHz: below the serializer's 8 kHz floor
    };
    const order = Object.keys(kinds) as Array<keyof typeof kinds>;
    for (let i = 0; i < 1000; i++) c.send(kinds[order[i % order.length]!]);
    c.send(audioBytes(320, 16_000, 9));
    const t = bots[0]!.transport;
    await waitFor(() => t.refusedMessageCount === 1000, 3000);
    expect(t.refusedMessages).toStrictEqual({
      malformed: 200,
      "unknown-type": 400, // the text messages count as unknown-type for a binary serializer
      oversized: 200,
      invalid: 200,
      "rate-limited": 0,
      "early-overflow": 0,
    });
    const dropped = bots[0]!.lines.filter((l) => /was dropped/.test(l.message));
    expect(dropped.map((l) => /Later (\S+) messages/.exec(l.message)?.[1]).sort()).toEqual(
      ["invalid", "malformed", "oversized", "unknown-type"].sort(),
    );
    expect(bots[0]!.outcome).toBeUndefined();
    // And it still talks.
    const got = rtviReceived(c);
    c.send(rtviBytes({ type: "client-ready", id: "after", data: { version: "2.1.0" } }));
    expect(await waitFor(() => got.some((m) => m.type === "bot-ready"), 2000)).toBe(true);
  });

  it("held: a flood of 2,000 audio messages over maxMessagesPerSecond is cut to the limit and said once", async () => {
    const { wsUrl, bots } = await serve({ transport: { maxMessagesPerSecond: 50 } });
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const message = audioBytes(320);
    for (let i = 0; i < 2000; i++) c.send(message);
    const t = bots[0]!.transport;
    await waitFor(() => t.refusedMessages["rate-limited"] >= 1900, 3000);
    // A fixed one-second window: the burst fits in one or two windows.
    expect(t.refusedMessages["rate-limited"]).toBeGreaterThanOrEqual(1900);
    expect(t.refusedMessages["rate-limited"]).toBeLessThanOrEqual(1950);
    expect(bots[0]!.lines.filter((l) => /rate-limited/.test(l.message))).toHaveLength(1);
    expect(bots[0]!.outcome).toBeUndefined();
  });

  it("held: audio at odd rates, channels and lengths is refused as invalid or converted, never a crash", async () => {
    const { wsUrl, bots } = await serve();
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const cases: Array<[Uint8Array, string]> = [
      [rawAudio(new Uint8Array(640), 7999, 1), "invalid"],
      [rawAudio(new Uint8Array(640), 48_001, 1), "invalid"],
      [rawAudio(new Uint8Array(640), 16_000, 3), "invalid"],
      [rawAudio(new Uint8Array(640), 16_000, 0), "invalid"],
      [rawAudio(new Uint8Array(641), 16_000, 1), "invalid"],
      [rawAudio(new Uint8Array(642), 16_000, 2), "invalid"],
      [rawAudio(new Uint8Array(0), 16_000, 1), "ignored"],
      [rawAudio(new Uint8Array(1764), 44_100, 2), "converted"],
      [rawAudio(new Uint8Array(2), 11_025, 1), "converted"],
      [rawAudio(new Uint8Array(1920), 48_000, 2), "converted"],
    ];
    for (const [bytes] of cases) c.send(bytes);
    const t = bots[0]!.transport;
    await waitFor(() => t.refusedMessages.invalid === 6, 2000);
    await sleep(100);
    expect(t.refusedMessages.invalid).toBe(6);
    expect(t.refusedMessageCount).toBe(6);
    expect(bots[0]!.outcome).toBeUndefined();
  });
});

/** An audio message with any rate and channel count (the serializer only writes valid frames). */
function rawAudio(bytes: Uint8Array, rate: number, channels: number): Uint8Array {
  // frames.proto: Frame.audio (2) { audio 3 bytes, sample_rate 4 uint32, num_channels 5 uint32 }
  const varint = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const inner = [0x1a, ...varint(bytes.length), ...bytes, 0x20, ...varint(rate), 0x28, ...varint(channels)];
  return Uint8Array.from([0x12, ...varint(inner.length), ...inner]);
}

describe("network edge: ending", () => {
  // Was a HOLE (fixed; the test now guards it): WebSocketTransport says "Nothing (timer, listener, socket) outlives the task". A task
  // cancelled before it ran (the application gave up while setting up: a model failed to load,
  // the server began closing) ends at once, but the transport's input never opened, so no lease
  // was taken and none is released: the socket is never closed. Measured: outcome "cancelled" in
  // about 1 ms, then 1,500 ms later the client's socket still OPEN, transport.socketClosed
  // pending, server.sessions still 1 (the slot is held until the client itself hangs up; with
  // maxSessions clients that never do, the server refuses everyone). No heartbeat either: it
  // starts in the input's open, so even a vanished client is never detected. (Root:
  // websocket-transport.ts closes the socket only from the connection's release, which runs when
  // the last lease goes; a lease is taken only in the sides' open/start.)
  it("a task cancelled before it runs still closes its socket, within closeHandshakeMs", async () => {
    const { server, wsUrl, bots } = await serve({
      transport: { closeHandshakeMs: 200 },
      beforeRun: (task) => task.cancel("gave up before start"),
    });
    const c = await client(wsUrl);
    await waitFor(() => bots[0]?.outcome !== undefined, 1000);
    expect(bots[0]!.outcome!.how).toBe("cancelled");
    const closed = await waitFor(() => bots[0]!.finished, 1500);
    expect(c.readyState).not.toBe(c.OPEN);
    expect(closed).toBe(true);
    expect(server.sessions).toBe(0);
  });

  it("held: a raw client that completes the upgrade and goes silent (answers no ping, no close) is cut within (maxMissedPongs + 1) × pingIntervalMs", async () => {
    const pingIntervalMs = 60;
    const { server, bots } = await serve({ transport: { pingIntervalMs, maxMissedPongs: 2 } });
    const { socket, response } = await rawUpgrade(server.port);
    expect(response).toMatch(/^HTTP\/1\.1 101/);
    const t0 = performance.now();
    const ended = await waitFor(() => bots[0]?.finished === true, 3 * pingIntervalMs + 1000);
    const tookMs = performance.now() - t0;
    expect(ended).toBe(true);
    expect(tookMs).toBeLessThan(3 * pingIntervalMs + 500);
    expect(bots[0]!.events[1]).toMatch(/did not answer 2 pings/);
    expect(await waitFor(() => server.sessions === 0, 3000)).toBe(true);
    socket.destroy();
  });

  it("held: a client that never answers the close frame is destroyed after closeHandshakeMs", async () => {
    const { server, bots } = await serve({ transport: { closeHandshakeMs: 150 } });
    const { socket } = await rawUpgrade(server.port);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const t0 = performance.now();
    await bots[0]!.task.stopWhenDone();
    expect(await waitFor(() => bots[0]!.finished, 2000)).toBe(true);
    const tookMs = performance.now() - t0;
    expect(tookMs).toBeGreaterThanOrEqual(140);
    expect(tookMs).toBeLessThan(150 + 700);
    expect(await waitFor(() => server.sessions === 0, 3000)).toBe(true);
    socket.destroy();
  });

  it("held: a client that vanishes mid-message (half a frame, then a reset) ends its task; nothing stays open", async () => {
    const before = tcpHandles();
    const { server, bots } = await serve();
    const { socket } = await rawUpgrade(server.port);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    const frame = maskedFrame(0x2, audioBytes(2000));
    socket.write(frame.subarray(0, 1000)); // half a message
    await sleep(20);
    socket.resetAndDestroy();
    expect(await waitFor(() => bots[0]!.finished, 2000)).toBe(true);
    expect(bots[0]!.outcome!.how).toBe("cancelled");
    expect(bots[0]!.events).toHaveLength(2);
    expect(await waitFor(() => server.sessions === 0, 3000)).toBe(true);
    await server.close({ graceMs: 0 });
    expect(await waitFor(() => tcpHandles() <= before, 1000)).toBe(true);
  });

  it("held: a client that closes during the upgrade (headers half sent) leaves no session and no socket", async () => {
    const before = tcpHandles();
    const { server, bots } = await serve();
    const { connect } = await import("node:net");
    for (let i = 0; i < 20; i++) {
      const s = connect(server.port, "127.0.0.1");
      s.on("error", () => undefined);
      await new Promise<void>((resolve) => s.once("connect", () => resolve()));
      s.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-`,
      );
      if (i % 2) s.resetAndDestroy();
      else s.destroy();
    }
    await sleep(50);
    expect(bots).toHaveLength(0);
    expect(server.sessions).toBe(0);
    await server.close({ graceMs: 0 });
    expect(await waitFor(() => tcpHandles() <= before, 1000)).toBe(true);
  });
});

describe("network edge: what the server buffers", () => {
  // ws (8.23) terminates a socket with more than 60 pongs it could not write (maxPendingAutoPongs),
  // so a ping flood from a client that does not read is cut after a few thousand pings. The
  // transport then reports "client disconnected (close code 1006)": true, if not the whole story.
  it("held: a client that floods pings and never reads is cut; the server's send buffer stays small", async () => {
    const { server, bots } = await serve();
    const { socket } = await rawUpgrade(server.port);
    await waitFor(() => bots[0]?.events.includes("connected") === true);
    socket.pause(); // reads nothing from here on
    const ping = maskedFrame(0x9, new Uint8Array(125).fill(7));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    let largest = 0;
    for (let i = 0; i < 300 && !bots[0]!.finished; i++) {
      if (!socket.write(batch)) {
        await Promise.race([new Promise((r) => socket.once("drain", r)), sleep(50)]);
        socket.removeAllListeners("drain");
      }
      largest = Math.max(largest, bots[0]!.serverSocket.bufferedAmount);
    }
    expect(await waitFor(() => bots[0]!.finished, 2000)).toBe(true);
    expect(largest).toBeLessThan(4 * 1024 * 1024);
    expect(bots[0]!.outcome!.how).toBe("cancelled");
    socket.destroy();
  });
});
