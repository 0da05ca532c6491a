import { describe, expect, it } from "vitest";
import { RepeatReporter } from "../../src/reporting/repeat-reporter.js";
import { memoryLogger } from "../support/logger.js";

function setup(
  options: { summaryIntervalMs?: number; maxCauses?: number; report?: (message: string) => void } = {},
) {
  const { logger, lines } = memoryLogger();
  let now = 0;
  const reporter = new RepeatReporter({ owner: "input", logger: () => logger, now: () => now, ...options });
  return { reporter, lines, advance: (ms: number) => void (now += ms) };
}

describe("RepeatReporter", () => {
  it("answers true once per cause and counts the repeats without logging each", () => {
    const s = setup();
    expect(s.reporter.occurred("rate:800", "audio at 800 Hz is dropped")).toBe(true);
    for (let i = 0; i < 500; i++)
      expect(s.reporter.occurred("rate:800", "audio at 800 Hz is dropped")).toBe(false);
    expect(s.reporter.occurred("rate:900", "audio at 900 Hz is dropped")).toBe(true);
    expect(s.reporter.count("rate:800")).toBe(501);
    expect(s.lines).toEqual([]); // the first report is the caller's; repeats wait for a summary
  });

  it("summarises repeats at most once per interval while they keep coming, then at flush", () => {
    const s = setup({ summaryIntervalMs: 10_000 });
    s.reporter.occurred("bad", "bad chunk");
    // 20 s of repeats, one every 20 ms: 1,000 occurrences.
    for (let i = 0; i < 1_000; i++) {
      s.advance(20);
      s.reporter.occurred("bad", "bad chunk");
    }
    expect(s.lines.length).toBe(2); // at 10 s and 20 s
    expect(s.lines[0]!.message).toBe("input: 500 more times in the last 10.0 s: bad chunk");
    expect(s.lines[0]!.level).toBe("error");
    s.reporter.flush();
    const total = s.lines.reduce((n, l) => n + (l.fields!.repeats as number), 0);
    expect(total).toBe(1_000); // every repeat is in exactly one summary
    s.reporter.flush(); // idempotent
    expect(s.lines.length).toBeLessThanOrEqual(3);
    // After a flush (the end), the cause is still known: it is counted, not reported as new.
    expect(s.reporter.occurred("bad", "bad chunk")).toBe(false);
  });

  it("reports a cause again after it was resolved, with the earlier run summarised", () => {
    const s = setup();
    expect(s.reporter.occurred("model", "model failed", "warn")).toBe(true);
    s.reporter.occurred("model", "model failed", "warn");
    s.reporter.resolved("model");
    expect(s.lines).toEqual([
      expect.objectContaining({
        level: "warn",
        message: "input: 1 more time in the last 0.0 s: model failed",
      }),
    ]);
    expect(s.reporter.occurred("model", "model failed")).toBe(true);
    // A message that already names the owner does not name it twice.
    s.reporter.occurred("named", "input: chunk dropped");
    s.reporter.occurred("named", "input: chunk dropped");
    s.reporter.flush();
    expect(s.lines.at(-1)!.message).toBe("input: 1 more time in the last 0.0 s: chunk dropped");
    s.reporter.resolved("never seen"); // harmless
  });

  it("bounds the causes it tracks: past maxCauses, new causes share one entry", () => {
    const s = setup({ maxCauses: 3 });
    const firsts = Array.from({ length: 1_000 }, (_, i) => s.reporter.occurred(`cause-${i}`, `problem ${i}`));
    expect(firsts.filter(Boolean)).toHaveLength(4); // three causes and one "other causes"
    s.reporter.flush();
    expect(s.lines).toHaveLength(1);
    expect(s.lines[0]!.message).toMatch(/996 more times .*other problems \(first: problem 3\)/);
  });

  it("reportOnce sends a cause's first message to the report sink and only counts the repeats", () => {
    const reported: string[] = [];
    const s = setup({ report: (m) => void reported.push(m) });
    let built = 0;
    const message = (): string => `input: bad pts (${++built})`;
    for (let i = 0; i < 100; i++) s.reporter.reportOnce("pts", message, "warn");
    s.reporter.reportOnce("close", () => "input: close failed");
    expect(reported).toEqual(["input: bad pts (1)", "input: close failed"]); // said once each
    expect(built).toBe(1); // a repeat builds no message
    expect(s.reporter.count("pts")).toBe(100);
    expect(s.lines).toEqual([]); // the report sink is not the log
    s.advance(2_000);
    s.reporter.flush();
    expect(s.lines).toEqual([
      {
        level: "warn",
        message: "input: 99 more times in the last 2.0 s: bad pts (1)",
        fields: expect.objectContaining({ repeats: 99, total: 100 }),
      },
    ]);
  });

  it("reportOnce without a report sink says the first occurrence on the log", () => {
    const s = setup();
    s.reporter.reportOnce("pts", () => "input: bad pts", "warn");
    s.reporter.reportOnce("pts", () => "input: bad pts", "warn");
    expect(s.lines).toEqual([{ level: "warn", message: "input: bad pts", fields: { processor: "input" } }]);
  });
});
