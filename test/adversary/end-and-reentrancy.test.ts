/**
 * stopWhenDone()/run() promises under re-entrancy and busy pipelines. Holes are `it.fails`.
 */
import { describe, expect, it } from "vitest";
import {
  type EndFrame,
  FrameProcessor,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  type StartFrame,
  type TimerHandle,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { startRecordedTask } from "../support/task.js";

class SlowStop extends FrameProcessor {
  constructor(private readonly ms: number) {
    super();
  }
  protected override end(_f: EndFrame): Promise<void> {
    return this.clock.sleep(this.ms);
  }
}

describe("stopWhenDone ends within its bounds (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. The end watchdog counts *any* OutputAudioRawFrame pushed anywhere as progress (#onPush),
  // not only audio moving towards the output or the EndFrame moving. A processor that keeps
  // producing audio on its own timer (hold music, a looping prompt, a TTS stream that never
  // ends) therefore hides a processor stuck in its stop() hook: no "end" timeout, no name, the
  // task never ends. Measured: endTimeoutMs 2 s, after 60 s of virtual time still not finished,
  // 0 timeout events.
  it("a processor stuck in stop() is named and the task cancelled, even while audio flows elsewhere", async () => {
    class HoldMusic extends FrameProcessor {
      #timer: TimerHandle | undefined;
      protected override start(_f: StartFrame): void {
        const tick = (): void => {
          void this.pushFrame(new OutputAudioRawFrame(new Int16Array(480), 24000));
          this.#timer = this.clock.setTimer(tick, 20);
        };
        this.#timer = this.clock.setTimer(tick, 20);
      }
      protected override cleanup(): void {
        this.#timer?.cancel();
      }
    }
    class StuckOnStop extends FrameProcessor {
      protected override end(_f: EndFrame): Promise<void> {
        return new Promise(() => {});
      }
    }
    const s = startRecordedTask([new HoldMusic(), new StuckOnStop()], { endTimeoutMs: 2_000 });
    await s.whenStarted();
    void s.task.stopWhenDone();
    await s.clock.advance(60_000);
    const finished = s.task.hasFinished();
    const stages = s.timeouts.map((t) => t.stage);
    await s.clock.runUntil(s.task.cancel());
    expect({ finished, stages }).toEqual({ finished: true, stages: ["end"] });
  });

  // Was a HOLE, fixed; now a regression test. #maybeStarted emits "pipelineStarted" and only then starts the idle monitor and the
  // heartbeats. stopWhenDone() called from that handler stops the activity timers first, then
  // they are started after it: the idle monitor runs during the end and cancels it. Measured:
  // idleTimeoutMs 1 s, a stop() of 3 s: outcome "cancelled" (reason "idle timeout") instead of
  // "ended". Called right after the event instead of inside it, the same task ends.
  it("stopWhenDone() from a pipelineStarted handler is not cancelled by the idle monitor", async () => {
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([new SlowStop(3_000)]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: 1_000,
    });
    task.on("pipelineStarted", () => void task.stopWhenDone());
    const outcome = await clock.runUntil(task.run());
    expect(outcome?.how).toBe("ended");
  });

  it("held (control): stopWhenDone() right after pipelineStarted, outside the handler, ends", async () => {
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([new SlowStop(3_000)]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: 1_000,
    });
    let started = false;
    task.on("pipelineStarted", () => (started = true));
    const done = task.run();
    await clock.runUntil(() => started);
    void task.stopWhenDone();
    expect((await clock.runUntil(done))?.how).toBe("ended");
  });

  // HOLE (same cause): heartbeats keep being injected behind the EndFrame during the end.
  // Measured: 49 HeartbeatFrames pushed during a 5 s end (period 100 ms).
  it("stopWhenDone() from a pipelineStarted handler stops the heartbeats", async () => {
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([new SlowStop(5_000)]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
      params: { enableHeartbeats: true, heartbeatsPeriodMs: 100 },
    });
    let heartbeats = 0;
    task.addObserver({
      onPushFrame: (e) => void (e.frame.constructor.name === "HeartbeatFrame" && heartbeats++),
    });
    task.on("pipelineStarted", () => void task.stopWhenDone());
    await clock.runUntil(task.run());
    expect(heartbeats).toBe(0);
  });
});

describe("run() never rejects (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. #run calls every processor's setup() (public, documented as "called by the task before
  // StartFrame", so a natural place to check configuration) outside any try: a throw there rejects
  // run() (and PipelineRunner.run()), the promise the docs say never rejects, and the task is
  // left in "created" with hasFinished() false.
  it("run() resolves with an outcome when a processor's setup() throws", async () => {
    class BadSetup extends FrameProcessor {
      override setup(context: Parameters<FrameProcessor["setup"]>[0]): void {
        super.setup(context);
        throw new Error("API key missing");
      }
    }
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([new BadSetup()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    let rejected: unknown;
    await task.run().catch((e: unknown) => {
      rejected = e;
    });
    expect(rejected).toBeUndefined();
    expect(task.hasFinished()).toBe(true);
  });
});
