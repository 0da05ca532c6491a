import { describe, expect, it } from "vitest";
import { SystemClock, VirtualClock, VirtualTimeExceededError } from "../../src/index.js";
import { settledHeap } from "../support/gc.js";

describe("VirtualClock", () => {
  it("lets go of a cancelled timer at once: a timer re-armed on every send holds nothing until its due time", async () => {
    const clock = new VirtualClock();
    const keep = clock.setTimer(() => undefined, 1); // one live timer among the cancelled ones
    const before = await settledHeap();
    // A keep-alive re-armed 5,000 times, each callback holding 64 KiB: 320 MB if kept.
    let handle = clock.setTimer(() => undefined, 10_000);
    for (let i = 0; i < 5_000; i++) {
      handle.cancel();
      const held = new Uint8Array(64 * 1024);
      handle = clock.setTimer(() => void held, 10_000);
    }
    const after = await settledHeap();
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
    expect(clock.pendingTimers).toBe(2);
    // The rebuilt heap still fires what is live, in order.
    const fired: string[] = [];
    handle.cancel();
    clock.setTimer(() => fired.push("b"), 20);
    clock.setTimer(() => fired.push("a"), 10);
    keep.cancel();
    await clock.runAll();
    expect(fired).toEqual(["a", "b"]);
  });

  it("fires timers in time order, ties in the order they were set", async () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimer(() => fired.push("b@20"), 20);
    clock.setTimer(() => fired.push("a@10"), 10);
    clock.setTimer(() => fired.push("c@20"), 20);
    await clock.advance(15);
    expect(fired).toEqual(["a@10"]);
    expect(clock.now()).toBe(15);
    await clock.advance(5);
    expect(fired).toEqual(["a@10", "b@20", "c@20"]);
  });

  it("lets async work between timers see the time of the timer that woke it", async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        seen.push(clock.now());
      }
    })();
    await clock.advance(1_000);
    expect(seen).toEqual([100, 200, 300]);
  });

  it("cancels timers and counts only live ones", async () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.setTimer(() => fired++, 10);
    clock.setTimer(() => fired++, 20);
    expect(clock.pendingTimers).toBe(2);
    t.cancel();
    t.cancel();
    expect(clock.pendingTimers).toBe(1);
    await clock.runAll();
    expect(fired).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects a wait with the abort reason and clears its timer", async () => {
    const clock = new VirtualClock();
    const ac = new AbortController();
    const wait = clock.sleep(1_000, ac.signal);
    expect(clock.pendingTimers).toBe(1);
    ac.abort(new Error("stop"));
    await expect(wait).rejects.toThrow("stop");
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(5, ac.signal)).rejects.toThrow("stop");
  });

  it("runUntil reports a deadlock instead of hanging", async () => {
    const clock = new VirtualClock();
    const never = new Promise<void>(() => {});
    await expect(clock.runUntil(never)).rejects.toBeInstanceOf(VirtualTimeExceededError);
  });

  it("runUntil gives up at maxMs when a periodic timer keeps the clock busy", async () => {
    const clock = new VirtualClock();
    const tick = (): void => void clock.setTimer(tick, 10);
    tick();
    await expect(clock.runUntil(() => false, { maxMs: 500 })).rejects.toThrow(/500 ms limit/);
    expect(clock.now()).toBeLessThanOrEqual(500);
  });

  it("runUntil returns the promise's value once time has moved far enough", async () => {
    const clock = new VirtualClock();
    const value = clock.sleep(2_500).then(() => "done");
    await expect(clock.runUntil(value)).resolves.toBe("done");
    expect(clock.now()).toBe(2_500);
  });
});

describe("VirtualClock and real work", () => {
  it("fires no timer while tracked real work is in flight", async () => {
    const clock = new VirtualClock();
    let deadlineFired = false;
    clock.setTimer(() => {
      deadlineFired = true;
    }, 1_000);
    let workDone = false;
    const realWork = clock.track(
      new Promise<void>((resolve) =>
        setTimeout(() => {
          workDone = true;
          resolve();
        }, 30),
      ),
    );
    expect(clock.pendingRealWork).toBe(1);
    await clock.advance(5_000);
    await realWork;
    expect(workDone).toBe(true);
    expect(deadlineFired).toBe(true);
    // The deadline could only fire after the work: advance waited for it in real time first.
    expect(clock.pendingRealWork).toBe(0);
  });

  it("without tracking, a deadline fires in virtual time before real work finishes", async () => {
    const clock = new VirtualClock();
    let workDone = false;
    let doneWhenDeadlineFired: boolean | undefined;
    clock.setTimer(() => {
      doneWhenDeadlineFired = workDone;
    }, 1_000);
    const untracked = new Promise<void>((resolve) =>
      setTimeout(() => {
        workDone = true;
        resolve();
      }, 30),
    );
    const tracked = (async () => {
      await clock.track(new Promise<void>((r) => setTimeout(r, 30)));
    })();
    await Promise.all([untracked, tracked]);
    workDone = false;
    const second = new Promise<void>((resolve) =>
      setTimeout(() => {
        workDone = true;
        resolve();
      }, 30),
    );
    await clock.advance(5_000);
    expect(doneWhenDeadlineFired).toBe(false);
    await second;
  });

  it("runUntil waits for tracked work that brings the awaited outcome", async () => {
    const clock = new VirtualClock();
    clock.setTimer(() => {}, 60_000); // a far deadline must not be jumped to while work runs
    const value = clock.track(new Promise<string>((r) => setTimeout(() => r("loaded"), 20)));
    await expect(clock.runUntil(value)).resolves.toBe("loaded");
    expect(clock.now()).toBe(0);
  });
});

describe("SystemClock", () => {
  it("is monotonic and fires a real timer", async () => {
    const clock = new SystemClock();
    const a = clock.now();
    await clock.sleep(5);
    const b = clock.now();
    expect(b).toBeGreaterThanOrEqual(a + 4);
  });

  it("never wakes a wait before its time by its own now(), even when Node's timers run early", async () => {
    const clock = new SystemClock();
    const early: number[] = [];
    for (let i = 0; i < 200; i++) {
      const due = clock.now() + (i % 7) + 0.3; // fractional ms, where Node's rounding bites
      await clock.waitUntil(due);
      if (clock.now() < due) early.push(due - clock.now());
    }
    expect(early).toEqual([]);
  });
});
