/**
 * Spins: each scenario runs in a child process with a hard real-time limit, since a spin freezes
 * the event loop (and would freeze the test runner). Holes are marked `it.fails`: the body states
 * the promise, the promise does not hold today.
 */
import { describe, expect, it } from "vitest";
import { runIsolated } from "./support.js";

// A child that spins never ends, so the limit only has to be far past a sound run: about 1.8 s
// where measured (node, tsx and the library's modules, then the scenario), which a loaded 2-core
// machine can stretch well past half of 5 s.
const LIMIT_MS = 15_000;

describe("nothing spins (adversary)", () => {
  // HOLE (most severe). A processor whose start hook takes a moment (connecting to a provider)
  // holds the system frames that reach it meanwhile; when its lanes open it handles them in the
  // same synchronous call that then starts its ordered lane. If handling one of them makes the
  // application call task.cancel() synchronously (here: the documented pipelineError event, with a
  // non-fatal ErrorFrame a later processor pushed upstream during the start), the lanes are closed
  // and the ordered lane is then started with the *new* generation on the *closed* queue:
  // `await queue.wait()` resolves at once, forever, in the microtask queue. Nothing else runs
  // again: the cancel deadline (a timer) never fires, run() never resolves, 100 % CPU.
  // Measured: killed after 15 s of real time (user CPU 7.5 s on a shared 2-core machine); with the
  // same handler deferred by one microtask the task is cancelled in 120 ms.
  it("a cancel() from a pipelineError handler while a slow-starting processor opens its lanes ends the task", () => {
    const r = runIsolated(
      `
        import { mkdtempSync } from "node:fs";
        import { tmpdir } from "node:os";
        import { join } from "node:path";
        import { FrameProcessor, Pipeline, PipelineTask, WavFileTransport, silentLogger } from "@SRC@/index.ts";
        class SlowConnect extends FrameProcessor { protected override start() { return this.clock.sleep(50); } }
        class WarnsAtStart extends FrameProcessor { protected override start() { void this.pushError("voice not found, using the default"); } }
        const out = new WavFileTransport({ outputPath: join(mkdtempSync(join(tmpdir(), "vp-")), "out.wav") });
        const task = new PipelineTask(new Pipeline([new SlowConnect(), new WarnsAtStart(), out.output()]), { logger: silentLogger, idleTimeoutMs: null });
        task.on("pipelineError", () => void task.cancel("error"));
        const t0 = Date.now();
        const outcome = await task.run();
        console.log(JSON.stringify({ how: outcome.how, ms: Date.now() - t0 }));
        process.exit(0);
      `,
      LIMIT_MS,
    );
    expect(r.timedOut).toBe(false);
    expect(r.result).toMatchObject({ how: "cancelled" });
  }, 20_000);

  // The same hole reduced to three plain processors on a VirtualClock: A (queued) passes the
  // ErrorFrame of B (start rejects) upstream when its lanes open; the handler cancels; C's cancel
  // hook takes time (any I/O), so the teardown that would end the spin needs a macrotask.
  it("minimal: [A, B(start rejects), C(cancel hook waits)] with cancel() in the pipelineError handler", () => {
    const r = runIsolated(
      `
        import { FrameProcessor, Pipeline, PipelineTask, VirtualClock, silentLogger } from "@SRC@/index.ts";
        class A extends FrameProcessor {}
        class B extends FrameProcessor { protected override start() { return Promise.reject(new Error("start rejected")); } }
        class C extends FrameProcessor { protected override cancel() { return new Promise<void>(() => {}); } }
        const clock = new VirtualClock();
        const task = new PipelineTask(new Pipeline([new A(), new B(), new C()]), { clock, logger: silentLogger, idleTimeoutMs: null, cancelTimeoutMs: 778 });
        task.on("pipelineError", () => void task.cancel("on error"));
        void task.run();
        await clock.advanceTo(2000);
        console.log(JSON.stringify({ finished: task.hasFinished() }));
        process.exit(0);
      `,
      LIMIT_MS,
    );
    expect(r.timedOut).toBe(false);
    expect(r.result).toEqual({ finished: true });
  }, 20_000);

  it("control: the same handler deferred by one microtask ends the task", () => {
    const r = runIsolated(
      `
      import { FrameProcessor, Pipeline, PipelineTask, VirtualClock, silentLogger } from "@SRC@/index.ts";
      class A extends FrameProcessor {}
      class B extends FrameProcessor { protected override start() { return Promise.reject(new Error("start rejected")); } }
      class C extends FrameProcessor { protected override cancel() { return new Promise<void>(() => {}); } }
      const clock = new VirtualClock();
      const task = new PipelineTask(new Pipeline([new A(), new B(), new C()]), { clock, logger: silentLogger, idleTimeoutMs: null, cancelTimeoutMs: 778 });
      task.on("pipelineError", () => queueMicrotask(() => void task.cancel("on error")));
      void task.run();
      await clock.advanceTo(2000);
      console.log(JSON.stringify({ finished: task.hasFinished() }));
      process.exit(0);
    `,
      LIMIT_MS,
    );
    expect(r.timedOut).toBe(false);
    expect(r.result).toEqual({ finished: true });
  }, 20_000);

  // Was a HOLE, fixed; now a regression test. TransportParams.audioOutSampleRate is checked to be a positive integer only. Below
  // 100 Hz the chunk is Math.floor(rate / 100) × … = 0 samples, and MediaSender#append loops
  // `while (offset < audio.length)` taking min(0 - 0, …) = 0 samples per turn, pushing an empty
  // chunk each time: a synchronous infinite loop that also grows the queue without bound. The
  // event loop never runs again (killed after 20 s in the probe; user 11 s + sys 7 s). The same via
  // PipelineTask params.audioOutSampleRate, which is not checked at all.
  it("audioOutSampleRate: 50 is refused, or audio at that rate is played without freezing", () => {
    const r = runIsolated(
      `
        import { MemoryTransport, OutputAudioRawFrame, Pipeline, PipelineTask, silentLogger } from "@SRC@/index.ts";
        let transport;
        try {
          transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: 50 } });
        } catch (e) {
          console.log(JSON.stringify({ refused: String(e) }));
          process.exit(0);
        }
        const task = new PipelineTask(new Pipeline([transport.output()]), { logger: silentLogger, idleTimeoutMs: null });
        void task.run();
        await new Promise((r) => setTimeout(r, 200));
        task.queueFrame(new OutputAudioRawFrame(new Int16Array(100), 50));
        await new Promise((r) => setTimeout(r, 500));
        console.log(JSON.stringify({ alive: true }));
        process.exit(0);
      `,
      LIMIT_MS,
    );
    expect(r.timedOut).toBe(false);
  }, 20_000);
});
