import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  FrameProcessor,
  type FrameDirection,
  InputAudioRawFrame,
  InputTransportMessageFrame,
  MemoryInputTransport,
  MemoryOutputTransport,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../src/index.js";
import type { RTVIMessage } from "../../src/frames/rtvi.js";
import { RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { settledHeap } from "../support/gc.js";
import { startTask } from "../support/task.js";
import { WALL_MS } from "./support.js";

/** Counts the messages it sends by type, keeping nothing else (so the test's own bookkeeping stays flat). */
class CountingOutput extends MemoryOutputTransport {
  count = 0;
  transcripts = 0;
  /** Every transcription text arrived in order. */
  inOrder = true;
  constructor() {
    super({}, {}, "counting-output");
  }
  protected override writeFrame(frame: Frame): void {
    if (!(frame instanceof OutputTransportMessageFrame || frame instanceof OutputTransportMessageUrgentFrame))
      return;
    const m = frame.message as RTVIMessage;
    this.count++;
    if (m.type === "user-transcription") {
      const text = (m.data as { text: string }).text;
      if (text !== `t${this.transcripts}`) this.inOrder = false;
      this.transcripts++;
    }
  }
}

/** A processor slower than the audio it is fed: it takes one event-loop turn per input audio frame. */
class SlowAudio extends FrameProcessor {
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (!(frame instanceof InputAudioRawFrame)) return super.processFrame(frame, direction);
    return this.clock.track(nextTurn()).then(() => super.processFrame(frame, direction));
  }
}

function conversationFrame(k: number): Frame {
  switch (k % 3) {
    case 0:
      return new UserStartedSpeakingFrame();
    case 1:
      return new TranscriptionFrame(`t${Math.floor(k / 3)}`, "user", k);
    default:
      return new UserStoppedSpeakingFrame();
  }
}

function clientReady(): InputTransportMessageFrame {
  return new InputTransportMessageFrame({
    label: "rtvi-ai",
    type: "client-ready",
    id: "r",
    data: { version: "2.1.0" },
  });
}

describe("RTVI bounds", () => {
  it("loses no message in a 100,000-frame audio burst that overflows the lanes downstream", async () => {
    const rtvi = new RTVIProcessor({ wallClockMs: () => WALL_MS });
    // A short lane, so the burst overflows it over and over while messages cross it.
    const slow = new SlowAudio({ name: "slow-audio", maxQueuedFrames: 1_000 });
    const output = new CountingOutput();
    const h = startTask([new MemoryInputTransport(), rtvi, slow, new FrameProcessor(), output], {
      observers: [rtvi.observer],
    });
    await h.whenStarted();
    h.task.queueFrame(clientReady());
    await h.clock.settle();

    const samples = new Int16Array(256); // 16 ms at 16 kHz, shared: the burst costs frames, not buffers
    let events = 0;
    for (let i = 0; i < 100_000; i++) {
      h.task.queueFrame(new InputAudioRawFrame(samples, 16_000));
      if (i % 100 === 50) h.task.queueFrame(conversationFrame(events++));
      if (i % 2_000 === 1_999) await nextTurn(); // arrives as from a socket: in reads, not all in one call
    }
    const expected = 1 + events; // bot-ready + one message per conversation frame
    const giveUpAt = performance.now() + 20_000;
    while (output.count < expected && performance.now() < giveUpAt) await h.clock.settle();

    expect(events).toBe(1_000);
    expect(slow.droppedFrames).toBeGreaterThan(5_000); // the burst really overflowed the slow lane
    expect(output.count).toBe(expected);
    expect(output.transcripts).toBe(333); // every third conversation frame is a transcription
    expect(output.inOrder).toBe(true);
    expect(rtvi.sentMessages).toBe(expected);
    await h.clock.runUntil(h.task.stopWhenDone(), { maxMs: 30_000 });
  });

  it("keeps its bookkeeping flat: 100,000 reported frames leave the heap where 10,000 did", async () => {
    const rtvi = new RTVIProcessor({ wallClockMs: () => WALL_MS });
    const output = new CountingOutput();
    const h = startTask([new MemoryInputTransport(), rtvi, new FrameProcessor(), output], {
      observers: [rtvi.observer],
    });
    await h.whenStarted();
    h.task.queueFrame(clientReady());
    await h.clock.settle();
    // Client requests and sends too, answered and not: their bookkeeping must empty as well.
    rtvi.on("clientMessage", (r) => void (Number(r.data) % 2 === 0 && r.respond("ok")));
    let k = 0;
    const run = async (frames: number): Promise<void> => {
      for (let batch = 0; batch < frames / 1_000; batch++) {
        for (let i = 0; i < 1_000; i++) h.task.queueFrame(conversationFrame(k++));
        h.task.queueFrame(
          new InputTransportMessageFrame({
            label: "rtvi-ai",
            type: "client-message",
            id: `q${k}`,
            data: { t: "n", d: k },
          }),
        );
        await h.clock.settle();
        await h.clock.advance(100); // unanswered requests time out as the session goes on
      }
      await h.clock.advance(10_000);
    };
    await run(10_000);
    const warm = await settledHeap();
    await run(100_000);
    const after = await settledHeap();

    expect(output.count).toBeGreaterThan(110_000);
    expect(rtvi.heldMessages).toBe(0);
    expect(rtvi.pendingClientMessages).toBe(0);
    // 100,000 frames: retaining even 10 bytes per frame would show.
    expect(after - warm).toBeLessThan(1_000_000);
    await h.clock.runUntil(h.task.stopWhenDone(), { maxMs: 30_000 });
  });
});
