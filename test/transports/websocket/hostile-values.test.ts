/**
 * The WebSocket transport's input with hostile messages from a real client on loopback: every
 * field of a Twilio call's messages replaced by each hostile value (test/support/hostile-json.ts),
 * read by the Twilio serializer; and a serializer that breaks its contract and throws. The
 * transport never throws out of the socket's message handler (that would end the process), says
 * each kind of refusal once and counts the rest, and the session goes on.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { InputDTMFFrame, Pipeline, PipelineTask, SystemClock } from "../../../src/index.js";
import type { FrameSerializer } from "../../../src/serializers/index.js";
import { TwilioFrameSerializer } from "../../../src/serializers/telephony/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { WebSocketTransport } from "../../../src/transports/websocket/index.js";
import { CALLER_WIRES, type CallIds } from "../../support/callers/index.js";
import { hostileVariants } from "../../support/hostile-json.js";
import { memoryLogger } from "../../support/logger.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A loopback server and client, and a task [input, recorder, output] on `serializer`. */
async function session(serializer: FrameSerializer) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await once(client, "open");
  const { logger, lines } = memoryLogger();
  const transport = new WebSocketTransport(await accepted, {
    serializer,
    params: { audioInEnabled: true, audioOutEnabled: true },
    maxMessagesPerSecond: 1_000_000,
  });
  const recorder = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
    clock: new SystemClock(),
    logger,
    idleTimeoutMs: null,
  });
  const started = new Promise<void>((resolve) => task.on("pipelineStarted", () => resolve()));
  const done = task.run();
  await started;
  cleanups.push(
    () => new Promise<void>((resolve) => wss.close(() => resolve())),
    async () => {
      client.terminate();
      await task.cancel("test over");
    },
  );
  return { client, transport, task, recorder, lines, done };
}

const IDS: CallIds = {
  callId: "CA00000000000000000000000000000001",
  streamId: "MZ00000000000000000000000000000001",
  accountId: "AC00000000000000000000000000000001",
  from: "+15550000001",
  to: "+15550000002",
  customParameters: { greeting: "hello" },
};

describe("WebSocket transport input with hostile messages", () => {
  it("every field of a Twilio call's messages, replaced by each hostile value, from a real client", async () => {
    const wire = CALLER_WIRES.twilio;
    const first = wire.firstMessages(IDS, { format: wire.inbound });
    const media = wire.media(IDS, new Uint8Array(160).fill(0x55), { seq: 3, chunk: 1, timestampMs: 0 });
    const dtmf = wire.dtmf(IDS, "5", 4);
    const s = await session(new TwilioFrameSerializer());
    for (const m of first) s.client.send(m);
    let sent = 0;
    for (const message of [...first, media, dtmf]) {
      for (const variant of hostileVariants(JSON.parse(String(message)))) {
        s.client.send(variant.text);
        sent++;
      }
    }
    s.client.send(wire.dtmf(IDS, "9", 5));
    await until(() => s.recorder.ofType(InputDTMFFrame).some((f) => f.button === "9"), "the last key");
    expect(sent).toBeGreaterThan(300);
    expect(s.transport.refusedMessageCount).toBeGreaterThan(0);
    // The first refusal of each reason is logged; the rest are counted.
    const refusals = s.lines.filter((l) => /a message from the client was dropped/.test(l.message));
    expect(refusals.length).toBeLessThanOrEqual(4);
    expect(s.task.hasFinished()).toBe(false);
  });

  it("a serializer that throws (breaking its contract) is a refused message, not a crashed process", async () => {
    const inner = new TwilioFrameSerializer();
    const throwing: FrameSerializer = {
      name: "throwing",
      binary: false,
      maxMessageBytes: inner.maxMessageBytes,
      serialize: (frame) => inner.serialize(frame),
      deserialize: (data) => {
        if (typeof data === "string" && data.includes("boom"))
          throw new TypeError("Cannot convert object to primitive value");
        return inner.deserialize(data);
      },
    };
    const s = await session(throwing);
    const wire = CALLER_WIRES.twilio;
    for (const m of wire.firstMessages(IDS, { format: wire.inbound })) s.client.send(m);
    for (let i = 0; i < 50; i++) s.client.send(`{"event":"boom","n":${i}}`);
    s.client.send(wire.dtmf(IDS, "9", 5));
    await until(() => s.recorder.ofType(InputDTMFFrame).some((f) => f.button === "9"), "the key after them");
    expect(s.transport.refusedMessages.invalid).toBe(50);
    const said = s.lines.filter((l) => /the throwing serializer threw/.test(l.message));
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toContain("Cannot convert object to primitive value");
    expect(s.task.hasFinished()).toBe(false);
  });
});
