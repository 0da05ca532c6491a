import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  type Frame,
  FrameProcessor,
  Pipeline,
  PipelineRunner,
  PipelineTask,
  silentLogger,
} from "../../src/index.js";

describe("PipelineRunner", () => {
  it("cancels the running task on SIGINT and removes its signal handlers afterwards", async () => {
    const others = process.listeners("SIGINT");
    const task = new PipelineTask(new Pipeline([new FrameProcessor()]), {
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const finishedBy: Frame[] = [];
    task.on("pipelineFinished", (f) => void finishedBy.push(f));
    const started = new Promise<void>((r) => task.on("pipelineStarted", r));
    const running = new PipelineRunner().run(task);
    await started;
    const ours = process.listeners("SIGINT").filter((l) => !others.includes(l));
    expect(ours).toHaveLength(1);
    ours[0]!("SIGINT"); // deliver the signal to the runner's handler only
    await running;
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
    expect((finishedBy[0] as CancelFrame).reason).toMatch(/SIGINT/);
    expect(process.listeners("SIGINT")).toEqual(others);
  });

  it("leaves signals alone when asked to", async () => {
    const count = process.listenerCount("SIGINT");
    const task = new PipelineTask(new Pipeline([new FrameProcessor()]), {
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const running = new PipelineRunner({ handleSigint: false, handleSigterm: false }).run(task);
    expect(process.listenerCount("SIGINT")).toBe(count);
    await task.stopWhenDone();
    await running;
  });
});
