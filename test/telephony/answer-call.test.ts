/**
 * answerCall over a real loopback WebSocket: a client speaking Twilio's media stream, the server
 * side answered by answerCall, and the transport it builds.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  InputAudioRawFrame,
  InputDTMFFrame,
  InvalidOptionError,
  Pipeline,
  PipelineTask,
  VirtualClock,
} from "../../src/index.js";
import { TwilioFrameSerializer } from "../../src/serializers/telephony/twilio.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { CallStartError, answerCall } from "../../src/telephony/answer-call.js";
import { readStreamUrl } from "../../src/telephony/stream-url.js";
import { MAX_EARLY_MESSAGES } from "../../src/transports/websocket/websocket-options.js";
import { memoryLogger } from "../support/logger.js";
import { CALL_SID, STREAM_SID, twilioStream } from "../support/twilio-fake.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A loopback server (no listeners on its sockets but ours) and a connected "Twilio" client. */
async function connect(serverOptions: { maxPayload?: number } = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, ...serverOptions });
  await once(wss, "listening");
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  cleanups.push(() => client.terminate());
  client.on("error", () => undefined);
  const closed = once(client, "close") as Promise<[number, Buffer]>;
  await once(client, "open");
  return { server: await accepted, client, closed };
}

/** A masked WebSocket text frame (RFC 6455 §5.2); a zero mask key leaves the payload as it is. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.byteLength;
  let header: Buffer;
  if (n < 126) header = Buffer.from([0x81, 0x80 | n]);
  else if (n < 65_536) header = Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]);
  else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

/**
 * Sends `messages` as text frames in ONE write to the TCP socket, so the server reads them from
 * one chunk of data, back to back (as a provider's burst after `start` arrives).
 */
function sendInOneWrite(client: WebSocket, messages: string[]): void {
  // ws keeps the TCP socket private; writing to it directly is the only way to control the writes.
  (client as unknown as { _socket: { write(b: Buffer): void } })._socket.write(
    Buffer.concat(messages.map(textFrame)),
  );
}

describe("answerCall", () => {
  it("reads the call, and the transport replays every held message in order, the burst after start included", async () => {
    const { server, client, closed } = await connect();
    const burst = [
      twilioStream.connected(),
      twilioStream.start(),
      ...Array.from({ length: 12 }, (_, i) => twilioStream.media(i, new Uint8Array(160).fill(i))),
      twilioStream.dtmf("7"),
      twilioStream.mark("m1"),
    ];
    sendInOneWrite(client, burst);
    const answered = await answerCall(server, "twilio");
    expect(answered.call).toMatchObject({ provider: "twilio", callId: CALL_SID, streamId: STREAM_SID });
    // More comes after answerCall resolved and before the transport exists: held too.
    client.send(twilioStream.media(12, new Uint8Array(160).fill(12)));
    await new Promise((r) => setTimeout(r, 30));
    const read: string[] = [];
    const deserialize = answered.serializer.deserialize.bind(answered.serializer);
    answered.serializer.deserialize = (data) => {
      read.push(String(data));
      return deserialize(data);
    };
    const transport = answered.transport();
    const recorder = new FrameRecorder();
    const { logger } = memoryLogger();
    const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
      logger,
    });
    const done = task.run();
    client.send(twilioStream.media(13, new Uint8Array(160).fill(13)));
    client.send(twilioStream.stop());
    const outcome = await done;
    await closed;
    expect(outcome.how).toBe("ended");
    const sent = [
      ...burst,
      twilioStream.media(12, new Uint8Array(160).fill(12)),
      twilioStream.media(13, new Uint8Array(160).fill(13)),
      twilioStream.stop(),
    ];
    expect(read).toEqual(sent);
    expect(transport.refusedMessageCount).toBe(0);
    expect(recorder.ofType(InputDTMFFrame).map((f) => f.button)).toEqual(["7"]);
    // 14 packets of 20 ms at 8 kHz, resampled to the pipeline's 16 kHz.
    const samples = recorder.ofType(InputAudioRawFrame).reduce((n, f) => n + f.audio.length, 0);
    expect(samples).toBeGreaterThan(14 * 320 - 64);
    expect(samples).toBeLessThanOrEqual(14 * 320);
  });

  it("rejects with CallStartError when the socket closes before the call is described", async () => {
    const { server, client } = await connect();
    client.send(twilioStream.connected());
    const answering = answerCall(server, "twilio");
    client.close(1000);
    await expect(answering).rejects.toThrow(CallStartError);
    await expect(answering).rejects.toThrow(
      /twilio: the stream closed \(code 1000\) before it described the call/,
    );
  });

  it("rejects at once for a socket that is already closed", async () => {
    const { server, client } = await connect();
    client.close();
    await once(server, "close");
    await expect(answerCall(server, "twilio")).rejects.toThrow(
      /stream closed .* before it described the call/,
    );
  });

  it("rejects at startTimeoutMs without a start, and terminates the socket", async () => {
    const { server, client, closed } = await connect();
    const clock = new VirtualClock();
    client.send(twilioStream.connected());
    const answering = answerCall(server, "twilio", { clock, startTimeoutMs: 10_000 });
    answering.catch(() => undefined);
    await clock.advance(9_999);
    expect(server.readyState).toBe(WebSocket.OPEN);
    await clock.advance(1);
    await expect(answering).rejects.toThrow(
      /twilio: no message described the call within 10000 ms \(startTimeoutMs\)/,
    );
    const [code] = await closed;
    expect(code).toBe(1006); // terminated, not closed politely: it never was a call
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects when more than the hold cap arrives before the start", async () => {
    const { server, client, closed } = await connect();
    const answering = answerCall(server, "twilio");
    answering.catch(() => undefined);
    sendInOneWrite(
      client,
      Array.from({ length: MAX_EARLY_MESSAGES + 5 }, (_, i) => twilioStream.media(i, new Uint8Array(160))),
    );
    await expect(answering).rejects.toThrow(CallStartError);
    await expect(answering).rejects.toThrow(/512 messages came and none described the call/);
    await closed;
  });

  it("rejects with CallStartError when the socket fails before the start (no error listener of the caller's)", async () => {
    const { server, client, closed } = await connect({ maxPayload: 1024 });
    const answering = answerCall(server, "twilio");
    answering.catch(() => undefined);
    client.send("x".repeat(2048)); // over the server's maxPayload: ws emits "error", then closes 1009
    await expect(answering).rejects.toThrow(CallStartError);
    await expect(answering).rejects.toThrow(
      /twilio: the stream failed before it described the call: .*Max payload/,
    );
    await closed;
  });

  it("counts, and the transport reports once, messages past the hold cap while the transport is not made yet", async () => {
    const { server, client } = await connect();
    client.send(twilioStream.connected());
    client.send(twilioStream.start());
    const answered = await answerCall(server, "twilio");
    // Listeners run in the order added: once this one has seen them all, answerCall's has too.
    let arrived = 0;
    server.on("message", () => arrived++);
    sendInOneWrite(
      client,
      Array.from({ length: MAX_EARLY_MESSAGES + 20 }, (_, i) => twilioStream.media(i, new Uint8Array(160))),
    );
    await expect.poll(() => arrived, { timeout: 5000 }).toBe(MAX_EARLY_MESSAGES + 20);
    const transport = answered.transport();
    const { logger, lines } = memoryLogger();
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), { logger });
    const started = new Promise<void>((resolve) => transport.on("clientConnected", resolve));
    const done = task.run();
    await started;
    client.send(twilioStream.stop());
    await done;
    // 2 + 532 came; 512 were held.
    expect(transport.refusedMessages["early-overflow"]).toBe(22);
    expect(lines.filter((l) => /22 message\(s\) from the client were dropped/.test(l.message))).toHaveLength(
      1,
    );
  });

  it("a stop that comes right after the hand-over of a full hold ends the call by its stop path", async () => {
    const { server, client, closed } = await connect();
    // Added before answerCall's and the transport's listeners: once this one has counted a
    // message, theirs have read it too (listeners run in the order added, in one emit).
    let arrived = 0;
    server.on("message", () => arrived++);
    // connected, start and 510 packets in one write: the hold is full (512) when it is handed over.
    sendInOneWrite(client, [
      twilioStream.connected(),
      twilioStream.start(),
      ...Array.from({ length: MAX_EARLY_MESSAGES - 2 }, (_, i) => twilioStream.media(i, new Uint8Array(160))),
    ]);
    const answered = await answerCall(server, "twilio");
    await expect.poll(() => arrived, { timeout: 5000 }).toBe(MAX_EARLY_MESSAGES);
    const transport = answered.transport();
    // Right after the hand-over, before the pipeline runs: the next packet, then the caller hangs up.
    client.send(twilioStream.media(MAX_EARLY_MESSAGES - 2, new Uint8Array(160)));
    client.send(twilioStream.stop());
    await expect.poll(() => arrived, { timeout: 5000 }).toBe(MAX_EARLY_MESSAGES + 2);
    const { logger } = memoryLogger();
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
      logger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    // Nothing else would end this task: the client keeps its socket open, as Twilio may after a stop.
    let bound: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      done,
      new Promise<"still running">((resolve) => (bound = setTimeout(() => resolve("still running"), 3000))),
    ]);
    clearTimeout(bound);
    if (outcome === "still running") await task.cancel("test over");
    expect(outcome, "the task did not end within 3 s of the stop: the stop was lost").not.toBe(
      "still running",
    );
    expect(outcome).toMatchObject({ how: "ended" });
    expect(transport.connection.closeReason).toMatch(/the client ended its stream/);
    expect(transport.refusedMessageCount).toBe(0);
    expect(answered.serializer.stopped).toBe(true);
    await closed;
  });

  it("refuses a second transport(), and a serializer factory that hands out one serializer twice", async () => {
    const { server, client } = await connect();
    client.send(twilioStream.start());
    const answered = await answerCall(server, "twilio");
    answered.transport();
    expect(() => answered.transport()).toThrow(InvalidOptionError);
    expect(() => answered.transport()).toThrow(/transport\(\) was already called/);

    const second = await connect();
    second.client.send(twilioStream.start());
    const shared = new TwilioFrameSerializer();
    await expect(answerCall(second.server, "twilio", { serializer: () => shared })).rejects.toThrow(
      /options.serializer must make a new serializer each time/,
    );
  });

  it("takes the stream's rate from options.stream (Exotel's ?sample-rate=); refuses a rate a provider's stream does not choose, and stream with serializer", async () => {
    const { server, client } = await connect();
    client.send(JSON.stringify({ event: "connected" }));
    client.send(
      JSON.stringify({
        event: "start",
        stream_sid: "S1",
        start: {
          stream_sid: "S1",
          call_sid: "C1",
          media_format: { encoding: "base64", sample_rate: "24000" },
        },
      }),
    );
    const answered = await answerCall(server, "exotel", { stream: { sampleRate: 24_000 } });
    expect(answered.call.inbound.sampleRate).toBe(24_000);
    expect(answered.serializer.outbound.sampleRate).toBe(24_000);
    answered.serializer.dispose();

    const twilio = await connect();
    await expect(
      answerCall(twilio.server, "twilio", { stream: { sampleRate: 16_000 } as never }),
    ).rejects.toThrow(/twilio: sampleRate is not an option of its stream/);
    await expect(
      answerCall(twilio.server, "exotel", { stream: { sampleRate: 44_100 } as never }),
    ).rejects.toThrow(/exotel: sampleRate must be one of 8000, 16000, 24000/);
    await expect(
      answerCall(twilio.server, "exotel", {
        stream: { sampleRate: 16_000 },
        serializer: () => new TwilioFrameSerializer(),
      }),
    ).rejects.toThrow(/give options.stream or options.serializer, not both/);
  });
});

describe("readStreamUrl", () => {
  const read = (provider: "exotel" | "twilio", query: string) =>
    readStreamUrl(provider, new URL(`ws://h/telephony/${provider}/ws${query}`));

  it("reads Exotel's ?sample-rate= (8000, 16000, 24000), refuses anything else in words, and ignores the parameter for other providers", () => {
    expect(read("exotel", "")).toStrictEqual({ ok: true, options: {} });
    expect(read("exotel", "?token=x&sample-rate=16000")).toStrictEqual({
      ok: true,
      options: { sampleRate: 16_000 },
    });
    expect(read("exotel", "?sample-rate=24000")).toStrictEqual({ ok: true, options: { sampleRate: 24_000 } });
    for (const bad of ["44100", "16k", "", " 8000", "8000.0", "16000&sample-rate=16000", "constructor"]) {
      const reading = read("exotel", `?sample-rate=${bad}`);
      expect(reading.ok, bad).toBe(false);
      expect(!reading.ok && reading.detail).toMatch(
        /^(\?sample-rate=".*"|sample-rate 2 times) on \/telephony\/exotel\/ws: Exotel streams at 8000, 16000 or 24000 Hz; give one of them once in the Voicebot applet's URL, or leave sample-rate out for 8000$/,
      );
    }
    // A long value is cut in the sentence: the refusal stays short whatever the URL.
    const long = read("exotel", `?sample-rate=${"9".repeat(5000)}`);
    expect(!long.ok && long.detail.length).toBeLessThan(250);
    expect(read("twilio", "?sample-rate=44100")).toStrictEqual({ ok: true, options: {} });
  });
});
