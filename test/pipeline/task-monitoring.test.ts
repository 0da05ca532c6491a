import { describe, expect, it } from "vitest";
import {
  BotSpeakingFrame,
  CancelFrame,
  type Frame,
  type FrameDirection,
  FrameProcessor,
  type FramePushedEvent,
  type Observer,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  TextFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";

function start(processors: FrameProcessor[], options: Partial<PipelineTaskOptions>) {
  const clock = new VirtualClock();
  const task = new PipelineTask(new Pipeline(processors), { clock, logger: silentLogger, ...options });
  const finishedBy: Frame[] = [];
  task.on("pipelineFinished", (f) => void finishedBy.push(f));
  const done = task.run();
  return { clock, task, finishedBy, done };
}

describe("idle timeout", () => {
  it("fires after idleTimeoutMs without activity and cancels the task", async () => {
    const { clock, task, finishedBy, done } = start([new FrameProcessor()], { idleTimeoutMs: 1_000 });
    let idleAt = -1;
    task.on("idleTimeout", () => {
      idleAt = clock.now();
    });
    await clock.runUntil(done, { maxMs: 10_000 });
    expect(idleAt).toBe(1_000);
    expect(finishedBy[0]).toBeInstanceOf(CancelFrame);
    expect(clock.pendingTimers).toBe(0);
  });

  it("is reset by activity frames pushed anywhere, and not by other frames", async () => {
    const { clock, task, done } = start([new FrameProcessor()], { idleTimeoutMs: 1_000 });
    let idleAt = -1;
    task.on("idleTimeout", () => {
      idleAt = clock.now();
    });
    await clock.advance(1);
    for (let t = 0; t < 6; t++) {
      task.queueFrame(new BotSpeakingFrame());
      await clock.advance(500);
    }
    // Text is not activity: it must not keep the task alive.
    task.queueFrame(new TextFrame("not activity"));
    await clock.runUntil(done, { maxMs: 10_000 });
    expect(idleAt).toBe(1 + 5 * 500 + 1_000);
  });

  it("keeps firing without cancelling when cancelOnIdleTimeout is false", async () => {
    const { clock, task } = start([new FrameProcessor()], {
      idleTimeoutMs: 1_000,
      cancelOnIdleTimeout: false,
    });
    let fired = 0;
    task.on("idleTimeout", () => void fired++);
    await clock.advance(3_500);
    expect(fired).toBe(3);
    expect(task.hasFinished()).toBe(false);
    await clock.runUntil(task.stopWhenDone());
  });
});

describe("heartbeats", () => {
  class StuckOnText extends FrameProcessor {
    override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
      if (frame instanceof TextFrame) return new Promise<void>(() => {}); // ignores its signal
      return super.processFrame(frame, direction);
    }
  }

  const options: Partial<PipelineTaskOptions> = {
    idleTimeoutMs: null,
    params: { enableHeartbeats: true, heartbeatsPeriodMs: 100, heartbeatsMonitorMs: 1_000 },
  };

  it("detect an ordered lane that has stalled", async () => {
    const { clock, task } = start([new FrameProcessor(), new StuckOnText({ name: "stuck" })], options);
    const timeouts: number[] = [];
    task.on("heartbeatTimeout", (since) => void timeouts.push(since));
    await clock.advance(2_000);
    expect(timeouts).toEqual([]); // heartbeats flow while nothing is stuck
    task.queueFrame(new TextFrame("blocks the lane"));
    await clock.advance(3_000);
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts[0]).toBeGreaterThanOrEqual(1_000);
    await clock.runUntil(task.cancel());
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("observers", () => {
  it("see every push, in order, without delaying the pipeline", async () => {
    const seen: string[] = [];
    const observer: Observer = {
      onPushFrame: (e: FramePushedEvent) => {
        if (e.frame instanceof TextFrame) seen.push(`${e.source.name}:${e.frame.text}`);
      },
    };
    const { clock, task, done } = start(
      [new FrameProcessor({ name: "p1" }), new FrameProcessor({ name: "p2" })],
      {
        idleTimeoutMs: null,
        observers: [observer],
      },
    );
    await clock.settle();
    task.queueFrame(new TextFrame("a"));
    task.queueFrame(new TextFrame("b"));
    await clock.runUntil(task.stopWhenDone());
    await done;
    // The task's own source counts as a pusher: it is where frames enter.
    expect(seen).toHaveLength(6);
    expect(seen.filter((s) => s.includes("::source"))).toHaveLength(2);
    expect(seen.filter((s) => s.startsWith("p1"))).toEqual(["p1:a", "p1:b"]);
    expect(seen.filter((s) => s.startsWith("p2"))).toEqual(["p2:a", "p2:b"]);
  });

  it("a hung observer never blocks the pipeline and its buffer stays bounded", async () => {
    let calls = 0;
    const hung: Observer = {
      name: "hung",
      onPushFrame: () => {
        calls++;
        return new Promise<void>(() => {});
      },
    };
    const { clock, task, done } = start([new FrameProcessor(), new FrameProcessor()], {
      idleTimeoutMs: null,
      observers: [hung],
      observerBufferSize: 64,
    });
    await clock.settle();
    for (let i = 0; i < 10_000; i++) task.queueFrame(new TextFrame(`${i}`));
    await clock.runUntil(task.stopWhenDone());
    await done;
    expect(task.hasFinished()).toBe(true);
    expect(calls).toBe(1);
  });
});
