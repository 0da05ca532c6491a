import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputTransportMessageFrame } from "../../src/index.js";
import { RTVIOutputMessageFrame, RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { startRecordedTask } from "../support/task.js";

const TYPES = [
  "client-ready",
  "disconnect-bot",
  "client-message",
  "send-text",
  "append-to-context",
  "llm-function-call-result",
  "dtmf",
  "ui-event",
  "raw-audio",
  "__proto__",
  "constructor",
  "",
];

describe("RTVI client messages (adversary)", () => {
  it("held: any message gets at most one reply per id, nothing throws, client-ready still answered", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            type: fc.oneof(fc.constantFrom(...TYPES), fc.string(), fc.anything()),
            data: fc.oneof(
              fc.anything(),
              fc.record({ version: fc.oneof(fc.constantFrom("2.1.0", "1.0.0", "9.9.9"), fc.anything()) }),
              fc.record({ t: fc.anything(), d: fc.anything() }),
              fc.record({ content: fc.anything(), options: fc.anything() }),
              fc.record({
                buttons: fc.array(fc.oneof(fc.constantFrom("1", "#"), fc.anything()), { maxLength: 80 }),
              }),
            ),
            withId: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        async (messages) => {
          const rtvi = new RTVIProcessor({ clientMessageTimeoutMs: 1_000 });
          const s = startRecordedTask([rtvi], { observers: [rtvi.observer] });
          await s.whenStarted();
          messages.forEach((m, i) => {
            const message: Record<string, unknown> = { label: "rtvi-ai", type: m.type, data: m.data };
            if (m.withId) message["id"] = `m${i}`;
            s.task.queueFrame(new InputTransportMessageFrame(message));
          });
          s.task.queueFrame(
            new InputTransportMessageFrame({
              label: "rtvi-ai",
              type: "client-ready",
              id: "last",
              data: { version: "2.1.0" },
            }),
          );
          await s.clock.advance(2_000); // client-message deadlines pass
          const replies = s.recorder.frames
            .filter((f): f is RTVIOutputMessageFrame => f instanceof RTVIOutputMessageFrame)
            .map((f) => f.message);
          const perId = new Map<string, number>();
          for (const r of replies) {
            if (typeof r.id === "string" && r.id.startsWith("m")) perId.set(r.id, (perId.get(r.id) ?? 0) + 1);
          }
          for (const [id, n] of perId) {
            const original = messages[Number(id.slice(1))]!;
            if (original.type !== "client-ready") expect({ id, n }).toEqual({ id, n: 1 });
          }
          expect(replies.some((r) => r.id === "last" && r.type === "bot-ready")).toBe(true);
          expect(s.errors.filter((e) => !(e as { fatal?: boolean }).fatal)).toEqual([]);
          await s.clock.runUntil(s.task.cancel());
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
