import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  CancelTaskFrame,
  EndFrame,
  EndTaskFrame,
  type ErrorFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  InterruptionFrame,
  InterruptionTaskFrame,
  Pipeline,
  PipelineTask,
  TaskClosedError,
  TextFrame,
  VirtualClock,
  silentLogger,
  type Logger,
} from "../../src/index.js";
import { SlowOn, SlowTextProcessor, StuckOn, texts } from "../support/processors.js";
import { startRecordedTask } from "../support/task.js";

describe("PipelineTask termination contract", () => {
  it("stopWhenDone drains everything queued before it, then ends", async () => {
    const slow = new SlowTextProcessor(100);
    const { clock, task, recorder, finishedBy, done, whenStarted } = startRecordedTask([slow]);
    await whenStarted();
    const sent = Array.from({ length: 50 }, (_, i) => `s${i}`);
    for (const s of sent) task.queueFrame(new TextFrame(s));
    const t0 = clock.now();
    const stopped = task.stopWhenDone();
    await clock.runUntil(stopped);
    await done;
    expect(texts(recorder.frames)).toEqual(sent);
    expect(recorder.frames.at(-1)).toBeInstanceOf(EndFrame);
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
    const elapsed = clock.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(50 * 100);
    expect(elapsed).toBeLessThan(50 * 100 + 100);
    expect(clock.pendingTimers).toBe(0);
  });

  it("refuses frames after stopWhenDone with a TaskClosedError, and after cancel too", async () => {
    const a = startRecordedTask([new FrameProcessor()]);
    await a.whenStarted();
    void a.task.stopWhenDone();
    expect(() => a.task.queueFrame(new TextFrame("late"))).toThrow(TaskClosedError);
    await a.clock.runUntil(a.done);
    expect(() => a.task.queueFrame(new TextFrame("later"))).toThrow(/finished/);

    const b = startRecordedTask([new FrameProcessor()]);
    await b.whenStarted();
    void b.task.cancel();
    expect(() => b.task.queueFrame(new TextFrame("late"))).toThrow(/cancelled/);
    await b.clock.runUntil(b.done);
  });

  it("refuses something that is not a frame, or a bad direction, saying what it expected", async () => {
    const { clock, task, whenStarted } = startRecordedTask([new FrameProcessor()]);
    await whenStarted();
    expect(() => task.queueFrame({ text: "hi" } as unknown as TextFrame)).toThrow(
      /queueFrame: expected a Frame \(e\.g\. new TextFrame\("hi"\)\), got an object of type Object/,
    );
    expect(() => task.queueFrame(new TextFrame("x"), "sideways" as FrameDirection)).toThrow(
      /direction must be/,
    );
    await clock.runUntil(task.stopWhenDone());
  });

  it("cancel resolves within cancelTimeoutMs when a processor never finishes handling CancelFrame, naming it", async () => {
    const stuck = new StuckOn("cancel", { name: "stuck-stt" });
    const { clock, task, timeouts, finishedBy, done, whenStarted } = startRecordedTask(
      [new FrameProcessor(), stuck],
      {
        cancelTimeoutMs: 2_000,
      },
    );
    await whenStarted();
    const t0 = clock.now();
    const cancelled = task.cancel("user left");
    expect(task.cancel()).toBe(cancelled); // idempotent: same promise
    await clock.runUntil(cancelled);
    const elapsed = clock.now() - t0;
    expect(elapsed).toBeLessThanOrEqual(2_000);
    expect(stuck.calls).toBe(1);
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]!.stage).toBe("cancel");
    expect(timeouts[0]!.processor).toBe("stuck-stt");
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
    await clock.runUntil(done);
    expect(clock.pendingTimers).toBe(0);
  });

  it("cancel resolves within cancelTimeoutMs on the real clock too", async () => {
    const task = new PipelineTask(new Pipeline([new StuckOn("cancel")]), {
      logger: silentLogger,
      cancelTimeoutMs: 150,
      idleTimeoutMs: null,
    });
    const done = task.run();
    const started = new Promise<void>((r) => task.on("pipelineStarted", r));
    await started;
    const t0 = performance.now();
    await task.cancel();
    const elapsed = performance.now() - t0;
    await done;
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(150 + 500);
  });

  it("cancel works before StartFrame has reached the end of the pipeline", async () => {
    const slowStart = new SlowOn("start", 60_000, { name: "slow-connect" });
    const { clock, task, finishedBy, done } = startRecordedTask([slowStart]);
    await clock.advance(100);
    expect(task.hasFinished()).toBe(false);
    const t0 = clock.now();
    await clock.runUntil(task.cancel("changed my mind"));
    expect(clock.now() - t0).toBeLessThanOrEqual(2_000);
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
    await clock.runUntil(done);
    expect(clock.pendingTimers).toBe(0);
  });

  it("cancel before run() finishes the task without starting anything", async () => {
    const clock = new VirtualClock();
    const p = new SlowOn("start", 1_000);
    const task = new PipelineTask(new Pipeline([p]), { clock, logger: silentLogger });
    await task.cancel();
    expect(task.hasFinished()).toBe(true);
    await task.run();
    expect(p.state).toBe("closed"); // torn down (its cleanup ran) without ever starting
    expect(clock.pendingTimers).toBe(0);
  });

  it("cancel after the task finished resolves at once", async () => {
    const { clock, task, done, whenStarted } = startRecordedTask([new FrameProcessor()]);
    await whenStarted();
    await clock.runUntil(task.stopWhenDone());
    await done;
    const t0 = clock.now();
    let resolved = false;
    void task.cancel().then(() => {
      resolved = true;
    });
    await clock.settle(1);
    expect(resolved).toBe(true);
    expect(clock.now()).toBe(t0);
  });

  it("escalates to cancel after endTimeoutMs when a processor blocks EndFrame forever", async () => {
    const stuck = new StuckOn("end", { name: "never-disconnects" });
    const { clock, task, recorder, timeouts, finishedBy, done, whenStarted } = startRecordedTask([stuck], {
      endTimeoutMs: 5_000,
      cancelTimeoutMs: 1_000,
    });
    await whenStarted();
    const t0 = clock.now();
    await clock.runUntil(task.stopWhenDone());
    const elapsed = clock.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(5_000);
    expect(elapsed).toBeLessThanOrEqual(5_000 + 1_000);
    expect(timeouts.map((t) => [t.stage, t.processor])).toEqual([["end", "never-disconnects"]]);
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
    expect(recorder.frames.some((f) => f instanceof EndFrame)).toBe(false);
    await clock.runUntil(done);
    expect(clock.pendingTimers).toBe(0);
  });

  it("does not escalate while the end keeps making progress", async () => {
    // Ten processors each take 3 s to end: 30 s in all, each hop well inside endTimeoutMs.
    const slow = Array.from({ length: 10 }, (_, i) => new SlowOn("end", 3_000, { name: `svc${i}` }));
    const { clock, task, timeouts, finishedBy, whenStarted } = startRecordedTask(slow, {
      endTimeoutMs: 5_000,
    });
    await whenStarted();
    const t0 = clock.now();
    await clock.runUntil(task.stopWhenDone());
    expect(clock.now() - t0).toBe(30_000);
    expect(timeouts).toEqual([]);
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
  });

  it("still ends when a processor's stop hook throws, reporting one error", async () => {
    class ThrowsOnStop extends FrameProcessor {
      protected override end(): void {
        throw new Error("disconnect failed");
      }
    }
    const { clock, task, recorder, finishedBy, whenStarted } = startRecordedTask([
      new ThrowsOnStop({ name: "bad-stop" }),
    ]);
    const errors: ErrorFrame[] = [];
    task.on("pipelineError", (e) => void errors.push(e));
    await whenStarted();
    await clock.runUntil(task.stopWhenDone());
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
    expect(recorder.frames.at(-1)).toBeInstanceOf(EndFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/bad-stop threw while ending: disconnect failed/);
  });

  it("still ends when a processor's cleanup throws, logging one error that names it", async () => {
    class ThrowsOnCleanup extends FrameProcessor {
      protected override cleanup(): void {
        throw new Error("release failed");
      }
    }
    const logged: string[] = [];
    const logger: Logger = { ...silentLogger, error: (m: string) => void logged.push(m) };
    const { clock, task, finishedBy, whenStarted } = startRecordedTask(
      [new ThrowsOnCleanup({ name: "bad-cleanup" })],
      {
        logger,
      },
    );
    await whenStarted();
    await clock.runUntil(task.stopWhenDone());
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/bad-cleanup threw while cleaning up: release failed/);
  });

  it("bounds cleanup after a graceful end and names the processor that hangs in it", async () => {
    class HangsOnCleanup extends FrameProcessor {
      protected override cleanup(): Promise<void> {
        return new Promise(() => {});
      }
    }
    const { clock, task, timeouts, whenStarted } = startRecordedTask(
      [new HangsOnCleanup({ name: "hangs" })],
      {
        cleanupTimeoutMs: 700,
      },
    );
    await whenStarted();
    const t0 = clock.now();
    await clock.runUntil(task.stopWhenDone());
    expect(clock.now() - t0).toBeLessThanOrEqual(700);
    expect(timeouts.map((t) => [t.stage, t.processor])).toEqual([["cleanup", "hangs"]]);
  });

  it("cancels when StartFrame never reaches the end within startTimeoutMs, naming the processor", async () => {
    const { clock, timeouts, finishedBy, done } = startRecordedTask(
      [new StuckOn("start", { name: "never-connects" })],
      {
        startTimeoutMs: 3_000,
      },
    );
    await clock.runUntil(done);
    expect(clock.now()).toBeLessThanOrEqual(3_000 + 2_000);
    expect(timeouts.map((t) => [t.stage, t.processor])).toEqual([["start", "never-connects"]]);
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
  });
});

describe("task requests pushed from inside the pipeline", () => {
  /** Pushes `make()` (upstream or downstream) when it sees the text "bye". */
  class Requester extends FrameProcessor {
    constructor(
      private readonly make: () => Frame,
      private readonly towards: FrameDirection,
    ) {
      super({ name: "requester" });
    }
    override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
      if (frame instanceof TextFrame && frame.text === "bye")
        return this.pushFrame(this.make(), this.towards);
      return super.processFrame(frame, direction);
    }
  }

  it("EndTaskFrame from the middle ends the task through the normal path", async () => {
    for (const towards of [FrameDirection.UPSTREAM, FrameDirection.DOWNSTREAM]) {
      const before = new SlowTextProcessor(10, { name: "before" });
      const { clock, task, recorder, finishedBy, done, whenStarted } = startRecordedTask([
        before,
        new Requester(() => new EndTaskFrame("done talking"), towards),
      ]);
      await whenStarted();
      task.queueFrames([new TextFrame("one"), new TextFrame("bye"), new TextFrame("two")]);
      await clock.runUntil(done);
      expect(finishedBy[0]).toBeInstanceOf(EndFrame);
      expect(texts(recorder.frames)).toEqual(["one", "two"]);
      expect(recorder.frames.at(-1)).toBeInstanceOf(EndFrame);
    }
  });

  it("CancelTaskFrame cancels, InterruptionTaskFrame interrupts", async () => {
    const c = startRecordedTask([
      new Requester(() => new CancelTaskFrame("enough"), FrameDirection.UPSTREAM),
    ]);
    await c.whenStarted();
    c.task.queueFrame(new TextFrame("bye"));
    await c.clock.runUntil(c.done);
    expect(c.finishedBy[0]).toBeInstanceOf(CancelFrame);

    const i = startRecordedTask([new Requester(() => new InterruptionTaskFrame(), FrameDirection.UPSTREAM)]);
    await i.whenStarted();
    i.task.queueFrame(new TextFrame("bye"));
    await i.clock.advance(10);
    expect(i.recorder.frames.some((f) => f instanceof InterruptionFrame)).toBe(true);
    await i.clock.runUntil(i.task.stopWhenDone());
  });

  it("a fatal ErrorFrame cancels the task", async () => {
    class Fatal extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame)
          return this.pushError("provider rejected the API key", { fatal: true });
        return super.processFrame(frame, direction);
      }
    }
    const { clock, task, finishedBy, done, whenStarted } = startRecordedTask([new Fatal()]);
    const errors: ErrorFrame[] = [];
    task.on("pipelineError", (e) => void errors.push(e));
    await whenStarted();
    task.queueFrame(new TextFrame("x"));
    await clock.runUntil(done);
    expect(errors.map((e) => e.fatal)).toEqual([true]);
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
  });
});
