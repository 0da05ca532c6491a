import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputAudioRawFrame, MemoryTransport, TextFrame, type Frame } from "../../src/index.js";
import { startRecordedTask } from "../support/task.js";

describe("input transport keeps the order of what it is handed (adversary)", () => {
  it("held: audio at changing rates and channel counts interleaved with frames comes out in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant("audio" as const),
              rate: fc.constantFrom(8_000, 11_025, 16_000, 22_050, 44_100, 48_000),
              channels: fc.constantFrom(1, 2),
              via: fc.constantFrom("pushAudio", "pushInput"),
            }),
            fc.record({ kind: fc.constant("text" as const) }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        async (items) => {
          const transport = new MemoryTransport({ params: { audioInEnabled: true } });
          const s = startRecordedTask([transport.input()]);
          await s.whenStarted();
          const expected: string[] = [];
          const pushes: Array<Promise<void>> = [];
          items.forEach((item, i) => {
            if (item.kind === "text") {
              expected.push(`t${i}`);
              pushes.push(transport.input().pushInput(new TextFrame(`t${i}`)));
            } else {
              // 100 ms: long enough that every resampler gives samples out at once
              const samples = new Int16Array(Math.floor(item.rate / 10) * item.channels).fill(1000 + i);
              expected.push(`a${i}`);
              pushes.push(
                item.via === "pushAudio"
                  ? transport.input().pushAudio(samples, item.rate, item.channels)
                  : transport.input().pushInput(new InputAudioRawFrame(samples, item.rate, item.channels)),
              );
            }
          });
          await s.clock.runUntil(Promise.all(pushes));
          await s.clock.settle();
          const seen = s.recorder.frames
            .filter((f: Frame) => f instanceof TextFrame || f instanceof InputAudioRawFrame)
            .map((f) => (f instanceof TextFrame ? f.text : "audio"));
          // every text in order, and each text after the audio handed over before it
          const texts = seen.filter((x) => x !== "audio");
          expect(texts).toEqual(expected.filter((x) => x.startsWith("t")));
          for (let k = 0; k < expected.length; k++) {
            if (!expected[k]!.startsWith("t")) continue;
            const audioBefore = expected.slice(0, k).filter((x) => x.startsWith("a")).length;
            const idx = seen.indexOf(expected[k]!);
            expect(seen.slice(0, idx).filter((x) => x === "audio").length).toBeGreaterThanOrEqual(
              audioBefore,
            );
          }
          await s.clock.runUntil(s.task.cancel());
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});
