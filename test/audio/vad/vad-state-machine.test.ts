import { describe, expect, it } from "vitest";
import { VADState, VADStateMachine } from "../../../src/audio/vad/index.js";

/** Feeds a string of decisions ("1" speech, "0" silence); returns the steps that fired, with their window index. */
function feed(machine: VADStateMachine, decisions: string): string[] {
  const fired: string[] = [];
  [...decisions].forEach((d, i) => {
    const step = machine.step(d === "1");
    if (step) fired.push(`${step}@${i}`);
  });
  return fired;
}

describe("VADStateMachine", () => {
  it("confirms a start only on the startWindows-th speech window in a row", () => {
    const m = new VADStateMachine(3, 2);
    expect(m.step(true)).toBeUndefined();
    expect(m.state).toBe(VADState.STARTING);
    expect(m.step(true)).toBeUndefined();
    expect(m.step(true)).toBe("started");
    expect(m.state).toBe(VADState.SPEAKING);
  });

  it("goes back to QUIET on a blip shorter than startWindows", () => {
    const m = new VADStateMachine(3, 2);
    expect(feed(m, "110110")).toEqual([]);
    expect(m.state).toBe(VADState.QUIET);
  });

  it("confirms a stop only after stopWindows silent windows in a row, and resumes SPEAKING on a short pause", () => {
    const m = new VADStateMachine(2, 3);
    expect(feed(m, "11" + "001" + "000")).toEqual(["started@1", "stopped@7"]);
    expect(m.state).toBe(VADState.QUIET);
  });

  it("passes through STOPPING and back to SPEAKING", () => {
    const m = new VADStateMachine(1, 3);
    m.step(true);
    m.step(false);
    expect(m.state).toBe(VADState.STOPPING);
    m.step(true);
    expect(m.state).toBe(VADState.SPEAKING);
  });

  it("clamps counts to at least one window", () => {
    const m = new VADStateMachine(0, 0.2);
    expect(m.startWindows).toBe(1);
    expect(m.stopWindows).toBe(1);
    expect(feed(m, "10")).toEqual(["started@0", "stopped@1"]);
  });

  it("keeps the run counted so far when reconfigured", () => {
    const m = new VADStateMachine(5, 5);
    feed(m, "111");
    m.configure(2, 5);
    expect(m.step(true)).toBe("started");
  });

  it("reset returns to QUIET and forgets the run", () => {
    const m = new VADStateMachine(3, 3);
    feed(m, "11");
    m.reset();
    expect(m.state).toBe(VADState.QUIET);
    expect(feed(m, "11")).toEqual([]);
  });
});
