import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  InterruptionFrame,
  OutputAudioRawFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../src/index.js";
import { constant } from "../support/audio.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;
const CHUNK_MS = 40;

const offset = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 2_000 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(-1, -1e9, Number.NaN, Infinity, -Infinity, 1e12, Number.MAX_VALUE),
  },
);
/** A response: its audio in whole 40 ms chunks (no partial carried over), its words, whether it stops. */
const response = fc.record({
  chunks: fc.integer({ min: 1, max: 30 }),
  offsets: fc.array(offset, { maxLength: 6 }),
  stopped: fc.boolean(),
});

function word(text: string, contextId: string, audioOffsetMs: number, pts: number): TTSTextFrame {
  const frame = new TTSTextFrame(text);
  frame.contextId = contextId;
  frame.audioOffsetMs = audioOffsetMs;
  frame.pts = pts;
  return frame;
}

/** For each word delivered downstream: how many chunks of bot audio had been played before it. */
function playedBeforeEachWord(frames: readonly Frame[]): Map<string, number> {
  const out = new Map<string, number>();
  let played = 0;
  for (const f of frames) {
    if (f instanceof OutputAudioRawFrame) played++;
    else if (f instanceof TTSTextFrame) out.set(f.text, played);
  }
  return out;
}

describe("word timing, any responses and offsets", () => {
  it("every word comes out once, never before the chunk its audio is in (≤ 16 responses), and nothing is left held", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(response, { minLength: 1, maxLength: 16 }), async (responses) => {
        const s = startOutput(RATE);
        await s.whenStarted();
        const frames: Frame[] = [];
        const due = new Map<string, number>(); // word -> chunks that must have played before it
        let start = 0;
        responses.forEach((r, i) => {
          const id = `c${i}`;
          const audio = new TTSAudioRawFrame(constant(r.chunks * CHUNK_MS, RATE), RATE);
          audio.contextId = id;
          frames.push(audio);
          r.offsets.forEach((o, j) => {
            const text = `${id}/${j}`;
            frames.push(word(text, id, o, s.clock.now()));
            if (Number.isFinite(o))
              due.set(text, start + Math.min(r.chunks - 1, Math.max(0, Math.floor(o / CHUNK_MS))));
          });
          if (r.stopped) frames.push(new TTSStoppedFrame(id));
          start += r.chunks;
        });
        s.task.queueFrames(frames);
        await s.clock.advance(start * CHUNK_MS + 1_000);
        const sender = s.output.sender()!;
        await s.clock.runUntil(s.task.stopWhenDone());
        const out = s.down.ofType(TTSTextFrame).map((f) => f.text);
        const expected = responses.flatMap((r, i) => r.offsets.map((_, j) => `c${i}/${j}`));
        expect([...out].sort()).toEqual([...expected].sort());
        const played = playedBeforeEachWord(s.down.frames);
        for (const [text, chunk] of due) expect(played.get(text), text).toBeGreaterThanOrEqual(chunk);
        expect(sender.timedFramesDropped).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("interruptions anywhere: the task ends, no word comes out twice, none is dropped for the bound", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(response, { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 3 }),
        async (responses, interruptAt) => {
          const s = startOutput(RATE);
          await s.whenStarted();
          const frames: Frame[] = [];
          responses.forEach((r, i) => {
            const id = `c${i % 5}`; // ids used again, after interruptions too
            const audio = new TTSAudioRawFrame(constant(r.chunks * CHUNK_MS, RATE), RATE);
            audio.contextId = id;
            frames.push(audio);
            r.offsets.forEach((o, j) =>
              frames.push(word(`${i}/${j}`, id, o, s.clock.now() + Math.max(0, Math.min(o, 5_000) || 0))),
            );
            if (r.stopped) frames.push(new TTSStoppedFrame(id));
          });
          s.task.queueFrames(frames);
          let at = 0;
          for (const t of [...interruptAt].sort((a, b) => a - b)) {
            await s.clock.advance(t - at);
            at = t;
            s.task.queueFrame(new InterruptionFrame());
          }
          await s.clock.advance(20_000);
          const sender = s.output.sender()!;
          await s.clock.runUntil(s.task.stopWhenDone());
          const out = s.down.ofType(TTSTextFrame).map((f) => f.text);
          expect(new Set(out).size).toBe(out.length); // none twice
          expect(sender.timedFramesDropped).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });
});
