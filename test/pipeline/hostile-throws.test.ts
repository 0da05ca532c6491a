import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  Pipeline,
  PipelineTask,
  type ProcessorContext,
  TextFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";

/**
 * What user code throws can be anything, including values that cannot be turned into text: an
 * object with no prototype (`String()` throws "Cannot convert object to primitive value") or one
 * whose `toString` throws. Reporting such a failure must not fail itself: the task still ends with
 * an outcome that says what happened, and `run()` resolves.
 */
const unprintable = (): unknown[] => [
  Object.create(null) as object,
  {
    toString(): string {
      throw new Error("no text for you");
    },
  },
];

describe("values thrown by user code that cannot be shown as text", () => {
  it("a processor whose setup throws one: run() resolves, the task failed, the reason is in words", async () => {
    for (const thrown of unprintable()) {
      class Broken extends FrameProcessor {
        override setup(context: ProcessorContext): void {
          super.setup(context);
          throw thrown;
        }
      }
      const task = new PipelineTask(new Pipeline([new Broken()]), {
        clock: new VirtualClock(),
        logger: silentLogger,
      });
      const outcome = await task.run();
      expect(outcome.how).toBe("failed");
      expect(outcome.reason).toMatch(/setup failed: a value that cannot be shown as text/);
    }
  });

  it("a processor whose processFrame throws one: the task reports it and still ends", async () => {
    for (const thrown of unprintable()) {
      class Broken extends FrameProcessor {
        override processFrame(
          frame: Parameters<FrameProcessor["processFrame"]>[0],
          direction: Parameters<FrameProcessor["processFrame"]>[1],
        ) {
          if (frame instanceof TextFrame) throw thrown;
          return this.pushFrame(frame, direction);
        }
      }
      const clock = new VirtualClock();
      const task = new PipelineTask(new Pipeline([new Broken()]), { clock, logger: silentLogger });
      const errors: string[] = [];
      task.on("pipelineError", (frame) => void errors.push(frame.error.message));
      const running = task.run();
      await task.queueFrame(new TextFrame("hello"));
      await task.stopWhenDone();
      const outcome = await running;
      expect(outcome.how).toBe("ended");
      expect(errors.join("\n")).toMatch(/a value that cannot be shown as text/);
    }
  });
});
