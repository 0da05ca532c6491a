/**
 * Every field of every message an RTVI client sends, replaced one at a time by a hostile value
 * (test/support/hostile-json.ts), as the official client sends it: a protobuf `message` frame
 * whose `data` is the JSON text, read by the ProtobufFrameSerializer and handed to a running
 * RTVIProcessor. Nothing throws, every refusal is said in words (once in the log, then counted),
 * and the session still answers afterwards.
 */
import { describe, expect, it } from "vitest";
import { InputDTMFFrame } from "../../src/frames/dtmf.js";
import { InputTransportMessageFrame } from "../../src/frames/transport-messages.js";
import { ProtobufFrameSerializer } from "../../src/serializers/protobuf/serializer.js";
import { frameCodec } from "../../src/serializers/protobuf/schema.js";
import { hostileVariants } from "../support/hostile-json.js";
import { recordingLogger, startRtvi } from "./support.js";

const rtvi = (type: string, id: string, data?: unknown) =>
  data === undefined ? { label: "rtvi-ai", type, id } : { label: "rtvi-ai", type, id, data };

/** One of each message the client sends (disconnect-bot left out: a valid one ends the session). */
const MESSAGES: readonly unknown[] = [
  rtvi("client-ready", "c1", {
    version: "2.1.0",
    about: { library: "@pipecat-ai/client-js", library_version: "1.13.1", platform: "web" },
  }),
  rtvi("client-message", "c2", { t: "ping", d: { n: 1 } }),
  rtvi("send-text", "c3", { content: "hello", options: { run_immediately: true, audio_response: false } }),
  rtvi("append-to-context", "c4", { role: "user", content: "hi", run_immediately: false }),
  rtvi("append-to-context", "c5", {
    role: "user",
    content: [
      { type: "text", text: "look" },
      { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
    ],
  }),
  rtvi("llm-function-call-result", "c6", {
    function_name: "get_weather",
    tool_call_id: "call_1",
    arguments: { city: "Paris" },
    result: { temperature: 20 },
  }),
  rtvi("dtmf", "c7", { buttons: ["1", "#"] }),
  rtvi("dtmf", "c8", { button: "5" }),
  rtvi("ui-event", "c9", { event: "click", target: "button" }),
];

const garbled = /Cannot convert|call stack|is not (a function|iterable)|\[object Object\]|Cannot read prop/;

describe("RTVI client messages with hostile values, through the protobuf serializer", () => {
  it("every field of every message, replaced by each hostile value", async () => {
    const logger = recordingLogger();
    const h = startRtvi({ task: { logger } });
    h.rtvi.on("clientMessage", (request) => void request.respond({ pong: true }));
    await h.whenStarted();
    const serializer = new ProtobufFrameSerializer();
    const codec = frameCodec();
    let variants = 0;
    let refused = 0;
    for (const message of MESSAGES) {
      for (const variant of hostileVariants(message)) {
        const bytes = codec.encode({ message: { data: variant.text } });
        let result: ReturnType<typeof serializer.deserialize> | undefined;
        expect(() => {
          result = serializer.deserialize(bytes);
        }, variant.what).not.toThrow();
        if (result!.ok) h.task.queueFrames(result!.frames);
        else {
          refused++;
          expect(result!.error.detail, variant.what).not.toMatch(garbled);
        }
        variants++;
        if (variants % 50 === 0) await h.clock.settle();
      }
    }
    await h.clock.settle();
    expect(variants).toBeGreaterThan(800);
    // Only the deep variants are too deep for the serializer; the rest reach the processor.
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(variants / 4);
    expect(h.errors.map((e) => e.error.message)).toEqual([]);
    const replies = h.messages().filter((m) => m.type === "error-response" || m.type === "error");
    const said = replies.map((m) => JSON.stringify(m.data));
    expect(said.filter((t) => garbled.test(t))).toEqual([]);
    expect(h.rtvi.rejectedMessages).toBeGreaterThan(0);
    // The first rejection is logged; the rest are counted.
    expect(logger.lines.filter((l) => /rejected a client message/.test(l.message))).toHaveLength(1);
    expect(logger.lines.filter((l) => garbled.test(l.message))).toEqual([]);
    // Still answering.
    const before = h.down.ofType(InputDTMFFrame).length;
    const bytes = codec.encode({
      message: { data: JSON.stringify(rtvi("dtmf", "last", { buttons: ["9"] })) },
    });
    const last = serializer.deserialize(bytes);
    expect(last.ok).toBe(true);
    if (last.ok) await h.queue(...last.frames);
    expect(
      h.down
        .ofType(InputDTMFFrame)
        .slice(before)
        .map((f) => f.button),
    ).toEqual(["9"]);
    await h.end();
  });

  it("every hostile variant handed over parsed, as a transport with no depth limit would", async () => {
    const logger = recordingLogger();
    const h = startRtvi({ task: { logger } });
    h.rtvi.on("clientMessage", (request) => void request.respond({ pong: true }));
    await h.whenStarted();
    let variants = 0;
    for (const message of MESSAGES) {
      for (const variant of hostileVariants(message)) {
        h.task.queueFrame(new InputTransportMessageFrame(JSON.parse(variant.text)));
        if (++variants % 50 === 0) await h.clock.settle();
      }
    }
    await h.clock.settle();
    expect(h.errors.map((e) => e.error.message)).toEqual([]);
    const said = h
      .messages()
      .filter((m) => m.type === "error-response" || m.type === "error")
      .map((m) => JSON.stringify(m.data));
    expect(said.filter((t) => garbled.test(t))).toEqual([]);
    expect(logger.lines.filter((l) => garbled.test(l.message))).toEqual([]);
    await h.end();
  });
});
