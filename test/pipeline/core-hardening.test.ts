import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  EndFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  InterruptionFrame,
  InterruptedError,
  InterruptionTaskFrame,
  MisuseError,
  ParallelPipeline,
  Pipeline,
  PipelineRunner,
  PipelineTask,
  StartFrame,
  type TaskTimeoutEvent,
  TextFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { SlowOn, texts } from "../support/processors.js";
import { startTask } from "../support/task.js";

const DOWN = FrameDirection.DOWNSTREAM;

/** Handles a TextFrame by pushing `count` replies, one per `stepMs`, ignoring its AbortSignal. */
class DeafStreamer extends FrameProcessor {
  constructor(
    private readonly count: number,
    private readonly stepMs: number,
  ) {
    super();
  }
  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    if (!(frame instanceof TextFrame) || !frame.text.startsWith("ask"))
      return super.processFrame(frame, direction);
    for (let i = 0; i < this.count; i++) {
      await this.clock.sleep(this.stepMs); // no signal: this handler never notices the interruption
      await this.pushFrame(new TextFrame(`${frame.text}:reply${i}`), direction);
    }
  }
}

/** Handles a TextFrame by starting detached work (fire and forget) that pushes later. */
class DetachedStreamer extends FrameProcessor {
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (!(frame instanceof TextFrame) || !frame.text.startsWith("ask"))
      return super.processFrame(frame, direction);
    void (async () => {
      for (let i = 0; i < 5; i++) {
        await this.clock.sleep(10);
        await this.pushFrame(new TextFrame(`${frame.text}:reply${i}`), direction);
      }
    })();
  }
}

describe("stale work after an interruption", () => {
  it("drops what a handler that ignores its signal pushes after the interruption", async () => {
    const streamer = new DeafStreamer(5, 10);
    const recorder = new FrameRecorder();
    const { clock, task, done, whenStarted } = startTask([streamer, recorder]);
    await whenStarted();
    task.queueFrame(new TextFrame("ask1"));
    await clock.advance(25); // two replies out
    task.queueFrame(new InterruptionFrame());
    await clock.advance(200);
    task.queueFrame(new TextFrame("ask2"));
    await clock.advance(200);
    await clock.runUntil(task.stopWhenDone());
    await done;
    expect(texts(recorder.frames)).toEqual([
      "ask1:reply0",
      "ask1:reply1",
      ...[0, 1, 2, 3, 4].map((i) => `ask2:reply${i}`),
    ]);
    expect(streamer.staleFramesDropped).toBe(3);
  });

  it("drops what detached work started by an interrupted handler pushes later", async () => {
    const streamer = new DetachedStreamer();
    const recorder = new FrameRecorder();
    const { clock, task, whenStarted } = startTask([streamer, recorder]);
    await whenStarted();
    task.queueFrame(new TextFrame("ask1"));
    await clock.advance(15);
    task.queueFrame(new InterruptionFrame());
    await clock.advance(100);
    expect(texts(recorder.frames)).toEqual(["ask1:reply0"]);
    await clock.runUntil(task.stopWhenDone());
  });

  it("lets a receive loop outside processFrame push through the turn it captured", async () => {
    /** Sends "requests" on TextFrames; a loop started at start() delivers the replies later. */
    class SocketService extends FrameProcessor {
      readonly #inbox: Array<{ text: string; turn: FrameProcessor["turn"] }> = [];
      readonly taken: Array<FrameProcessor["turn"]> = [];
      protected override start(): void {
        void (async () => {
          while (!this.lifeSignal.aborted) {
            await this.clock.sleep(10, this.lifeSignal).catch(() => undefined);
            const reply = this.#inbox.shift();
            if (reply) await reply.turn.push(new TextFrame(`${reply.text}:reply`));
          }
        })();
      }
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame) {
          this.#inbox.push({ text: frame.text, turn: this.turn });
          this.taken.push(this.turn);
          return;
        }
        return super.processFrame(frame, direction);
      }
    }
    const service = new SocketService();
    const recorder = new FrameRecorder();
    const { clock, task, whenStarted } = startTask([service, recorder]);
    await whenStarted();
    task.queueFrame(new TextFrame("a")); // answered before any interruption
    await clock.advance(15);
    task.queueFrame(new TextFrame("b")); // its turn is interrupted before the reply
    await clock.advance(1);
    task.queueFrame(new InterruptionFrame());
    await clock.advance(5);
    task.queueFrame(new TextFrame("c")); // a new turn: answered
    await clock.advance(50);
    expect(texts(recorder.frames)).toEqual(["a:reply", "c:reply"]);
    expect(service.staleFramesDropped).toBe(1);
    // The handle of the interrupted turn says so, and its signal, even if first asked for only
    // now, is aborted with the interruption.
    const [a, b, c] = service.taken;
    expect(a).toBe(b);
    expect(b!.active).toBe(false);
    expect(b!.signal.aborted).toBe(true);
    expect(b!.signal.reason).toBeInstanceOf(InterruptedError);
    expect(c!.active).toBe(true);
    expect(c!.signal.aborted).toBe(false);
    await clock.runUntil(task.stopWhenDone());
    expect(c!.active).toBe(false); // the task's end tore the processor down, and its turn with it
  });
});

describe("lane bounds", () => {
  /** Holds every system frame until released: a system lane that is not keeping up. */
  class SlowSystem extends FrameProcessor {
    release: (() => void) | undefined;
    readonly #gate = new Promise<void>((r) => (this.release = r));
    override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
      if (frame instanceof InputAudioRawFrame) await this.#gate;
      return super.processFrame(frame, direction);
    }
  }

  it("never drops an InterruptionFrame past the bound, so the ordered lane does not freeze", async () => {
    const slow = new SlowSystem({ maxQueuedFrames: 10 });
    const recorder = new FrameRecorder();
    const { clock, task, done, whenStarted, finishedBy } = startTask([slow, recorder]);
    await whenStarted();
    const audio = (): InputAudioRawFrame => new InputAudioRawFrame(new Int16Array(160), 16_000, 1);
    for (let i = 0; i < 10; i++) task.queueFrame(audio());
    task.queueFrame(new InterruptionFrame());
    for (let i = 0; i < 30; i++) task.queueFrame(audio()); // overflow: audio goes, the interruption stays
    task.queueFrame(new TextFrame("after"));
    slow.release!();
    await clock.advance(10);
    expect(recorder.frames.filter((f) => f instanceof InterruptionFrame)).toHaveLength(1);
    expect(texts(recorder.frames)).toEqual(["after"]);
    expect(slow.droppedFrames).toBeGreaterThan(0);
    await clock.runUntil(task.stopWhenDone());
    await done;
    expect(finishedBy[0]).toBeInstanceOf(EndFrame); // ended by its EndFrame, not escalated to cancel
  });
});

describe("start", () => {
  it("runs the processors' start hooks side by side and reports started when all are ready", async () => {
    const slow = [new SlowOn("start", 1_000), new SlowOn("start", 1_000), new SlowOn("start", 1_000)];
    const { clock, isStarted, task } = startTask(slow);
    await clock.advance(999);
    expect(isStarted()).toBe(false);
    await clock.advance(2);
    expect(isStarted()).toBe(true); // 1 s, not 3 s
    await clock.runUntil(task.stopWhenDone());
  });

  it("names every processor that is not ready when the start deadline fires", async () => {
    const a = new SlowOn("start", 60_000, { name: "slow-a" });
    const b = new SlowOn("start", 10, { name: "quick-b" });
    const c = new SlowOn("start", 60_000, { name: "slow-c" });
    const { clock, task, done } = startTask([a, b, c], { startTimeoutMs: 1_000 });
    const timeouts: TaskTimeoutEvent[] = [];
    task.on("timeout", (e) => void timeouts.push(e));
    const outcome = await clock.runUntil(done);
    expect(timeouts[0]?.stage).toBe("start");
    expect(timeouts[0]?.processor).toBe("slow-a, slow-c");
    expect(outcome?.how).toBe("cancelled");
    expect(outcome?.reason).toBe("start timeout");
  });
});

describe("misuse is refused where it happens", () => {
  it("refuses a pipeline given to a second task, or reused after its task ended", async () => {
    const pipeline = new Pipeline([new FrameProcessor()]);
    const clock = new VirtualClock();
    const task = new PipelineTask(pipeline, { clock, logger: silentLogger, idleTimeoutMs: null });
    expect(() => new PipelineTask(pipeline, { clock })).toThrow(MisuseError);
    expect(() => new PipelineTask(pipeline, { clock })).toThrow(/already belongs to a task/);
    const done = task.run();
    await clock.runUntil(task.stopWhenDone());
    await done;
    expect(() => new PipelineTask(pipeline, { clock })).toThrow(MisuseError);
  });

  it("refuses a StartFrame queued into a running task", async () => {
    const { clock, task, whenStarted } = startTask([new FrameProcessor()]);
    await whenStarted();
    expect(() => task.queueFrame(new StartFrame())).toThrow(/sent by the task itself/);
    await clock.runUntil(task.stopWhenDone());
  });

  it("a ParallelPipeline offered a second StartFrame ignores it and keeps passing frames", async () => {
    const parallel = new ParallelPipeline([new FrameProcessor()], [new FrameProcessor()]);
    const recorder = new FrameRecorder();
    const { clock, task, whenStarted } = startTask([parallel, recorder]);
    await whenStarted();
    await parallel.queueFrame(new StartFrame(), DOWN);
    task.queueFrame(new TextFrame("still flows"));
    await clock.advance(10);
    expect(texts(recorder.frames)).toEqual(["still flows"]);
    await clock.runUntil(task.stopWhenDone());
  });

  it("a processor pushing an EndFrame of its own gets a MisuseError; the task keeps running and ends normally", async () => {
    class Ender extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "end")
          return this.pushFrame(new EndFrame(), direction);
        return super.processFrame(frame, direction);
      }
    }
    const recorder = new FrameRecorder();
    const { clock, task, errors, done, whenStarted, finishedBy } = startTask([new Ender(), recorder]);
    await whenStarted();
    task.queueFrame(new TextFrame("end"));
    task.queueFrame(new TextFrame("next"));
    await clock.advance(10);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(/EndTaskFrame/);
    expect(texts(recorder.frames)).toEqual(["next"]);
    expect(task.hasFinished()).toBe(false);
    await clock.runUntil(task.stopWhenDone());
    await done;
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
  });

  it("the clocks refuse NaN and infinite delays", async () => {
    const clock = new VirtualClock();
    expect(() => clock.setTimer(() => {}, Number.NaN)).toThrow(RangeError);
    expect(() => clock.setTimer(() => {}, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    await expect(clock.advance(Number.NaN)).rejects.toThrow(RangeError);
    await expect(clock.waitUntil(Number.NaN)).rejects.toThrow(RangeError);
    expect(clock.now()).toBe(0);
  });

  it("stopWhenDone() before run() ends after run() has played everything queued, its deadline counting from run()", async () => {
    const clock = new VirtualClock();
    const recorder = new FrameRecorder();
    const task = new PipelineTask(new Pipeline([recorder]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
      endTimeoutMs: 1_000,
    });
    task.queueFrame(new TextFrame("one"));
    const ended = task.stopWhenDone();
    await clock.advance(5_000); // long before run(): no deadline may fire
    const outcome = await clock.runUntil(task.run());
    expect(await ended).toBe(outcome);
    expect(outcome?.how).toBe("ended");
    expect(texts(recorder.frames)).toEqual(["one"]);
  });

  it("honours an InterruptionTaskFrame while the task is ending", async () => {
    class Requester extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TextFrame && frame.text === "barge-in")
          return this.pushFrame(new InterruptionTaskFrame(), FrameDirection.UPSTREAM);
        return super.processFrame(frame, direction);
      }
    }
    const recorder = new FrameRecorder();
    const { clock, task, done, whenStarted, finishedBy } = startTask([new Requester(), recorder]);
    await whenStarted();
    task.queueFrame(new TextFrame("barge-in"));
    void task.stopWhenDone(); // the request reaches the task while it is ending
    await clock.runUntil(done);
    expect(recorder.frames.some((f) => f instanceof InterruptionFrame)).toBe(true);
    expect(finishedBy[0]).toBeInstanceOf(EndFrame);
  });
});

describe("how a task ended reaches the caller", () => {
  class Fatal extends FrameProcessor {
    override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
      if (frame instanceof TextFrame) return this.pushError("provider rejected the API key", { fatal: true });
      return super.processFrame(frame, direction);
    }
  }

  it("run() resolves with how and why: failed on a fatal error, with the error and the processor", async () => {
    const { clock, task, done, whenStarted } = startTask([new Fatal({ name: "llm" })]);
    await whenStarted();
    task.queueFrame(new TextFrame("x"));
    const outcome = await clock.runUntil(done);
    expect(outcome?.how).toBe("failed");
    expect(outcome?.error?.message).toMatch(/API key/);
    expect(outcome?.processor).toBe("llm");
    expect(outcome?.frame).toBeInstanceOf(CancelFrame);
    expect(task.outcome).toBe(outcome);
  });

  it("run() resolves ended for a graceful end and cancelled, with the reason, for cancel()", async () => {
    const a = startTask([new FrameProcessor()]);
    await a.whenStarted();
    void a.task.stopWhenDone();
    expect((await a.clock.runUntil(a.done))?.how).toBe("ended");
    const b = startTask([new FrameProcessor()]);
    await b.whenStarted();
    void b.task.cancel("client left");
    const outcome = await b.clock.runUntil(b.done);
    expect(outcome).toMatchObject({ how: "cancelled", reason: "client left", error: undefined });
  });

  it("PipelineRunner.run() resolves with the task's outcome", async () => {
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([new Fatal()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const running = new PipelineRunner({ handleSigint: false, handleSigterm: false }).run(task);
    task.queueFrame(new TextFrame("x"));
    const outcome = await clock.runUntil(running);
    expect(outcome?.how).toBe("failed");
  });
});

describe("cancel during a graceful end's cleanup", () => {
  it("waits for the cleanup within its bound, reports no false timeout, and the task counts as ended", async () => {
    class SlowCleanup extends FrameProcessor {
      protected override cleanup(): Promise<void> {
        return this.clock.sleep(500);
      }
    }
    const { clock, task, done, whenStarted } = startTask([new SlowCleanup()], { cancelTimeoutMs: 2_000 });
    const timeouts: TaskTimeoutEvent[] = [];
    task.on("timeout", (e) => void timeouts.push(e));
    await whenStarted();
    void task.stopWhenDone();
    await clock.advance(100); // the EndFrame is through; cleanup runs until t = 600
    const t0 = clock.now();
    const cancelled = task.cancel("impatient");
    const outcome = await clock.runUntil(cancelled);
    expect(clock.now() - t0).toBeLessThanOrEqual(500);
    expect(timeouts).toEqual([]);
    expect(outcome?.how).toBe("ended");
    expect(await done).toBe(outcome);
  });
});

describe("signal handling", () => {
  it("adds one SIGINT and one SIGTERM listener for the whole process, however many runners run", async () => {
    const before = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };
    const clock = new VirtualClock();
    const tasks = Array.from(
      { length: 20 },
      () =>
        new PipelineTask(new Pipeline([new FrameProcessor()]), {
          clock,
          logger: silentLogger,
          idleTimeoutMs: null,
        }),
    );
    const runs = tasks.map((t) => new PipelineRunner().run(t));
    expect(process.listenerCount("SIGINT")).toBe(before.int + 1);
    expect(process.listenerCount("SIGTERM")).toBe(before.term + 1);
    const sigint = process.listeners("SIGINT").at(-1)!;
    sigint("SIGINT");
    const outcomes = await clock.runUntil(Promise.all(runs));
    expect(outcomes?.map((o) => o.how)).toEqual(tasks.map(() => "cancelled"));
    expect(process.listenerCount("SIGINT")).toBe(before.int);
    expect(process.listenerCount("SIGTERM")).toBe(before.term);
  });
});
