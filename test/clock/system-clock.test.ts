import { setTimeout as realSleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { SystemClock } from "../../src/index.js";

describe("SystemClock", () => {
  it("waits a delay longer than a Node timer can hold quietly, without waking every millisecond", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on("warning", onWarning);
    const clock = new SystemClock();
    let fired = false;
    // ~35 days: past Node's 2^31-1 ms, which Node turns into 1 ms (with a warning each time).
    const timer = clock.setTimer(() => {
      fired = true;
    }, 3_000_000_000);
    await realSleep(30);
    timer.cancel();
    process.off("warning", onWarning);
    expect(fired).toBe(false);
    expect(warnings.filter((w) => w === "TimeoutOverflowWarning")).toEqual([]);
  });
});
