import { describe, expect, it } from "vitest";
import { LazySignal } from "../../src/processors/lazy-signal.js";

describe("LazySignal", () => {
  it("ended before anyone asked: the signal made later is already aborted, with the first reason", () => {
    const end = new LazySignal();
    const first = new Error("first");
    end.end(first);
    end.end(new Error("second"));
    expect(end.ended).toBe(true);
    expect(end.signal.aborted).toBe(true);
    expect(end.signal.reason).toBe(first);
  });

  it("asked for, then ended: the same signal aborts once, listeners told once", () => {
    const end = new LazySignal();
    const signal = end.signal;
    expect(end.signal).toBe(signal);
    let told = 0;
    signal.addEventListener("abort", () => told++);
    expect(end.ended).toBe(false);
    const reason = new Error("cancelled");
    end.end(reason);
    end.end(new Error("again"));
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(told).toBe(1);
  });
});
