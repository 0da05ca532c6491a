import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputTransportMessageFrame, LLMMessagesAppendFrame } from "../../src/index.js";
import { parseClientMessage } from "../../src/processors/rtvi/index.js";
import { recordingLogger, startRtvi } from "./support.js";

/** The i-th of a cycle of malformed or unsupported RTVI messages; `replyId` is the id an error-response carries, if any. */
function malformed(i: number): { message: unknown; replyId: string | undefined } {
  const id = `m${i}`;
  switch (i % 8) {
    case 0:
      return { message: { label: "rtvi-ai", type: `made-up-${i}`, id }, replyId: id };
    case 1:
      return {
        message: { label: "rtvi-ai", type: "send-text", data: { content: "no id" } },
        replyId: undefined,
      };
    case 2:
      return { message: { label: "rtvi-ai", type: "send-text", id, data: { content: i } }, replyId: id };
    case 3:
      return { message: { label: "rtvi-ai", type: 42, id }, replyId: id };
    case 4:
      return {
        message: { label: "rtvi-ai", type: "client-message", id, data: "not an object" },
        replyId: id,
      };
    case 5:
      return { message: { label: "rtvi-ai", type: "dtmf", id, data: { buttons: ["%"] } }, replyId: id };
    case 6:
      return { message: { label: "rtvi-ai", type: "client-ready", id: "x".repeat(300) }, replyId: undefined };
    default:
      return {
        message: { label: "rtvi-ai", type: "client-ready", id, data: { version: "9.0.0" } },
        replyId: id,
      };
  }
}

describe("malformed and unknown client messages", () => {
  it("1,000 of them: the session survives, each gets an error reply, one log line, the counter is exact", async () => {
    const logger = recordingLogger();
    const h = startRtvi({ task: { logger } });
    await h.whenStarted();
    const expectedReplies: Array<string | undefined> = [];
    for (let i = 0; i < 1_000; i++) {
      const { message, replyId } = malformed(i);
      expectedReplies.push(replyId);
      h.task.queueFrame(new InputTransportMessageFrame(message));
      // Messages of other protocols are not RTVI's to reject.
      if (i % 100 === 0) h.task.queueFrame(new InputTransportMessageFrame({ label: "other", n: i }));
      if (i % 50 === 0) await h.clock.settle();
    }
    await h.clock.settle();
    expect(h.rtvi.rejectedMessages).toBe(1_000);
    const replies = h.messages();
    expect(replies).toHaveLength(1_000);
    // With an id: error-response carrying it; without a usable one: a non-fatal error.
    replies.forEach((m, i) => {
      const replyId = expectedReplies[i];
      if (replyId === undefined) {
        expect(m.type).toBe("error");
        expect(m.data).toMatchObject({ fatal: false });
      } else {
        expect([m.type, m.id]).toEqual(["error-response", replyId]);
      }
      expect(typeof (m.data as { error: unknown }).error).toBe("string");
    });
    const rtviLines = logger.lines.filter((l) => l.message.includes(h.rtvi.name));
    expect(rtviLines).toHaveLength(1);
    expect(rtviLines[0]!.message).toMatch(
      /rejected a client message: Unsupported type "made-up-0".*counted in rejectedMessages/,
    );

    // Still serving: the handshake and a request work after the flood.
    await h.ready("after-flood");
    await h.send(h.client("send-text", { content: "still there?", options: { run_immediately: false } }));
    expect(h.ofType("bot-ready").map((m) => m.id)).toEqual(["after-flood"]);
    expect(h.down.ofType(LLMMessagesAppendFrame)).toHaveLength(1);
    expect(h.rtvi.rejectedMessages).toBe(1_000);
    const outcome = await h.end();
    expect(outcome?.how).toBe("ended");
  });

  it("parseClientMessage never throws, whatever it is given", () => {
    const rtviShaped = fc.record(
      {
        label: fc.constant("rtvi-ai"),
        type: fc.oneof(
          fc.constantFrom(
            "client-ready",
            "disconnect-bot",
            "client-message",
            "send-text",
            "append-to-context",
            "llm-function-call-result",
            "dtmf",
            "ui-event",
          ),
          fc.anything(),
        ),
        id: fc.oneof(fc.string(), fc.anything()),
        data: fc.oneof(
          fc.anything(),
          fc.dictionary(
            fc.constantFrom(
              "version",
              "t",
              "content",
              "options",
              "buttons",
              "button",
              "role",
              "function_name",
              "tool_call_id",
              "arguments",
            ),
            fc.anything(),
          ),
        ),
      },
      { requiredKeys: ["label"] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything(), rtviShaped), (value) => {
        const parsed = parseClientMessage(value);
        expect(["message", "not-rtvi", "rejected"]).toContain(parsed.kind);
        if (parsed.kind === "rejected") expect(parsed.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 5_000 },
    );
  });

  it("a message with a getter that throws is rejected, not thrown", () => {
    const hostile = {
      label: "rtvi-ai",
      id: "h",
      get type(): string {
        throw new Error("gotcha");
      },
    };
    expect(parseClientMessage(hostile)).toEqual({
      kind: "rejected",
      id: undefined,
      type: undefined,
      reason: "unreadable message: gotcha",
    });
  });
});
