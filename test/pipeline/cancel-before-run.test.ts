import { expect, it } from "vitest";
import { voicepipeLinesDuring } from "../support/console-lines.js";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import {
  AudioBufferProcessor,
  FrameProcessor,
  MemoryTransport,
  ParallelPipeline,
  Pipeline,
  PipelineTask,
  SoundfileMixer,
  UserTurnProcessor,
  VADProcessor,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { RTVIOutputGate, RTVIProcessor } from "../../src/processors/rtvi/index.js";

/**
 * A task cancelled before it runs still tears its processors down (their cleanup hooks run), but
 * they were never set up: no task clock, no task logger. Every processor voicepipe ships must take
 * that quietly (a cleanup that asked for the clock logged a false error to the console).
 */
it("a task cancelled before it runs tears every shipped processor down without a word", async () => {
  const transport = new MemoryTransport({
    params: {
      audioInEnabled: true,
      audioOutEnabled: true,
      audioOutMixer: new SoundfileMixer({ soundFiles: { room: "examples/assets/ambience.wav" } }),
    },
  });
  const rtvi = new RTVIProcessor();
  const task = new PipelineTask(
    new Pipeline([
      transport.input(),
      rtvi,
      new VADProcessor({ analyzer: new SileroVADAnalyzer() }),
      new UserTurnProcessor(),
      new AudioBufferProcessor(),
      new ParallelPipeline([new Pipeline([new FrameProcessor()]), new Pipeline([new FrameProcessor()])]),
      new RTVIOutputGate(),
      transport.output(),
    ]),
    { logger: silentLogger, clock: new VirtualClock(), observers: [rtvi.observer] },
  );
  const { value: outcome, lines } = await voicepipeLinesDuring(() => task.cancel("before run"));
  expect(outcome.how).toBe("cancelled");
  expect(lines).toEqual([]);
  expect(task.processors.every((p) => p.state === "closed")).toBe(true);
});
