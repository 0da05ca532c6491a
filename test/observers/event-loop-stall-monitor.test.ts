import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { type EventLoopStall, EventLoopStallMonitor } from "../../src/observers/event-loop-stall-monitor.js";
import { memoryLogger } from "../support/logger.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks the event loop for `ms` of real time; returns how long it really blocked. */
function block(ms: number): number {
  const start = performance.now();
  while (performance.now() - start < ms) {
    // busy: nothing else runs
  }
  return performance.now() - start;
}

function watch() {
  const { logger, lines } = memoryLogger();
  const monitor = new EventLoopStallMonitor({ logger });
  const stalls: EventLoopStall[] = [];
  monitor.on("stall", (s) => void stalls.push(s));
  return { monitor, stalls, warnings: () => lines.filter((l) => l.level === "warn").map((l) => l.message) };
}

describe("EventLoopStallMonitor (real time)", () => {
  it("warns once for a ~150 ms block, with a length no shorter than the block", async () => {
    const w = watch();
    w.monitor.start();
    await sleep(60);
    const blocked = block(150);
    await sleep(60);
    w.monitor.stop();
    expect(w.stalls.length).toBe(1);
    expect(w.stalls[0]!.lengthMs).toBeGreaterThanOrEqual(blocked);
    expect(w.stalls[0]!.count).toBe(1);
    expect(w.warnings().length).toBe(1);
    expect(w.warnings()[0]).toMatch(/blocked for \d+ ms \(over 100 ms\)/);
    expect(w.monitor.running).toBe(false);
  });

  it("says nothing when the loop is not blocked", async () => {
    const w = watch();
    w.monitor.start();
    await sleep(300);
    w.monitor.stop();
    expect(w.stalls).toEqual([]);
    expect(w.warnings()).toEqual([]);
  });

  it("counts repeated stalls into one later line instead of a line each", async () => {
    const w = watch();
    w.monitor.start();
    for (let i = 0; i < 3; i++) {
      await sleep(40);
      block(130);
    }
    await sleep(40);
    w.monitor.stop();
    expect(w.stalls.map((s) => s.count)).toEqual([1, 2, 3]);
    const warnings = w.warnings();
    expect(warnings.length).toBe(2); // the first at once, the other two summed up at stop
    expect(warnings[1]).toMatch(
      /^EventLoopStallMonitor: 2 event-loop stalls over 100 ms since the last warning, the longest \d+ ms$/,
    );
  });

  it("rejects a threshold that is not a positive number of ms, naming it", () => {
    expect(() => new EventLoopStallMonitor({ thresholdMs: 0 })).toThrow(
      /thresholdMs must be a finite number of ms above 0 \(got 0\)/,
    );
  });

  it("never keeps the process alive: a script that starts it and does nothing else exits", async () => {
    const module = fileURLToPath(new URL("../../src/observers/event-loop-stall-monitor.ts", import.meta.url));
    const script = `import { EventLoopStallMonitor } from ${JSON.stringify(module)}; new EventLoopStallMonitor().start(); console.log("started");`;
    const started = performance.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        timeout: 20_000,
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
      },
    );
    expect(stdout.trim()).toBe("started");
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});
