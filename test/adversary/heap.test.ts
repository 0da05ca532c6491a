import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  type Frame,
  type FrameDirection,
  InterruptionFrame,
  MemoryTransport,
  OutputAudioRawFrame,
  TextFrame,
  UserStartedSpeakingFrame,
  InputAudioRawFrame,
} from "../../src/index.js";
import { RTVIProcessor, RTVIOutputGate } from "../../src/processors/rtvi/index.js";
import { startRecordedTask } from "../support/task.js";
import { settledHeap } from "../support/gc.js";

/** Turns text into 40 ms of audio, slowly, ignoring its signal (stale work the turns must drop). */
class SloppyTTS extends FrameProcessor {
  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    if (!(frame instanceof TextFrame)) return super.processFrame(frame, direction);
    await this.clock.sleep(30);
    await this.pushFrame(new OutputAudioRawFrame(new Int16Array(960), 24000), direction);
  }
}

describe("heap over a long session (adversary)", () => {
  it("interruptions, stale work, audio and RTVI reports keep the settled heap flat", async () => {
    const transport = new MemoryTransport({
      params: { audioOutEnabled: true, audioInEnabled: true },
      recordLimit: 0,
    });
    const rtvi = new RTVIProcessor();
    const s = startRecordedTask(
      [
        transport.input(),
        rtvi,
        new FrameProcessor(),
        new SloppyTTS(),
        new RTVIOutputGate(),
        transport.output(),
      ],
      {
        observers: [rtvi.observer],
      },
    );
    await s.whenStarted();
    const round = async (n: number) => {
      for (let i = 0; i < n; i++) {
        s.task.queueFrame(new InputAudioRawFrame(new Int16Array(320), 16000));
        s.task.queueFrame(new TextFrame("hello " + i));
        s.task.queueFrame(new TextFrame("world " + i));
        await s.clock.advance(35);
        if (i % 3 === 0) {
          s.task.queueFrame(new UserStartedSpeakingFrame());
          s.task.queueFrame(new InterruptionFrame());
        }
        await s.clock.advance(15);
      }
      s.recorder.frames.length = 0;
    };
    await round(1_000);
    const h0 = await settledHeap();
    await round(3_000);
    const h1 = await settledHeap();
    await round(3_000);
    const h2 = await settledHeap();
    const grewKiB = Math.round((h2 - h0) / 1024);
    console.log(
      "heap grew",
      Math.round((h1 - h0) / 1024),
      "then",
      Math.round((h2 - h1) / 1024),
      "KiB per 3000 turns (1000 interruptions each)",
    );
    expect(grewKiB).toBeLessThan(1024);
    await s.clock.runUntil(s.task.cancel());
  }, 120_000);
});
