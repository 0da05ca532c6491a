import { afterEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import { type Frame, FrameDirection } from "../../../src/frames/frame.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import { LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../../src/frames/llm.js";
import { LLMTextFrame, TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../../src/pipeline/task.js";
import { FrameProcessor } from "../../../src/processors/frame-processor.js";
import { CartesiaTTSService } from "../../../src/services/cartesia/tts.js";
import { MemoryTransport } from "../../../src/transports/memory-transport.js";
import { silentLogger } from "../../../src/logger.js";
import { fakeCartesia, sampleFor } from "./fake-cartesia.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Records what passes (after the output transport: what was played), with the clock time. */
class Played extends FrameProcessor {
  readonly seen: Array<{ frame: Frame; atMs: number }> = [];
  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    if (direction === FrameDirection.DOWNSTREAM) this.seen.push({ frame, atMs: this.clock.now() });
    await super.processFrame(frame, direction);
  }
}

describe("CartesiaTTSService → MemoryTransport output, through PipelineTask", () => {
  it("words are released at their pts as played; after a barge-in only the new turn's audio is written", async () => {
    const server = await fakeCartesia({ msPerChar: 40 });
    cleanups.push(() => server.close());
    const clock = new VirtualClock();
    const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
    const transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: 24_000 } });
    const played = new Played();
    const task = new PipelineTask(new Pipeline([tts, transport.output(), played]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    let started = false;
    task.on("pipelineStarted", () => (started = true));
    const done = task.run();
    await clock.runUntil(() => started);

    // Turn 1: two sentences, 40 ms of audio a character (about 2.5 s), interrupted after ~1 s of playing.
    task.queueFrame(new LLMFullResponseStartFrame());
    task.queueFrame(new LLMTextFrame("Hello there friend. How are you doing today?"));
    task.queueFrame(new LLMFullResponseEndFrame());
    const output = transport.output();
    await clock.runUntil(() => output.written.length > 0);
    const firstWriteAt = clock.now();
    await clock.advance(1_000);
    const words1 = played.seen.filter((e) => e.frame instanceof TTSTextFrame);
    expect(words1.length).toBeGreaterThan(0);
    expect(words1.length).toBeLessThan(8); // not all eight words were played yet
    for (const w of words1) expect(w.atMs).toBeGreaterThanOrEqual(w.frame.pts!);
    const writtenBefore = output.written.length;
    task.queueFrame(new InterruptionFrame());
    await clock.advance(200);

    // Turn 2.
    task.queueFrame(new LLMFullResponseStartFrame());
    task.queueFrame(new LLMTextFrame("New turn."));
    task.queueFrame(new LLMFullResponseEndFrame());
    await clock.runUntil(() => played.seen.some((e) => e.frame instanceof TTSStoppedFrame));

    const after = output.written.slice(writtenBefore).map((w) => Array.from(w.frame.audio));
    // At most the one chunk already on its way is stale (docs/design/output-pacing.md); then only turn 2.
    const stale = after[0]?.[0] === sampleFor("N") ? 0 : 1;
    const turn2 = after.slice(stale).flat();
    const expected2 = [..."New turn."].flatMap((c) => new Array<number>(960).fill(sampleFor(c)));
    expect(turn2.slice(0, expected2.length)).toEqual(expected2);
    expect(turn2.slice(expected2.length).every((v) => v === 0)).toBe(true);

    // What was played: a prefix of turn 1's words, then all of turn 2's, each released at or after its pts.
    const words = played.seen.filter((e) => e.frame instanceof TTSTextFrame);
    expect(words.map((w) => (w.frame as TTSTextFrame).text).slice(-2)).toEqual(["New", "turn."]);
    for (const w of words) expect(w.atMs).toBeGreaterThanOrEqual(w.frame.pts!);
    expect(words[0]!.frame.pts).toBeGreaterThanOrEqual(firstWriteAt - 40);

    await clock.runUntil(task.cancel());
    await done;
    expect(clock.pendingTimers).toBe(0);
  });
});
