import { describe, expect, it } from "vitest";
import { pooledCopy, pooledInt16, pooledSilence } from "../../src/audio/pcm-pool.js";

describe("pooled sample arrays", () => {
  it("a copy is independent of its source and of arrays cut from the same pool", () => {
    const source = Int16Array.from([5, 6, 7]);
    const copy = pooledCopy(source);
    const neighbour = pooledCopy(source);
    copy[0] = 99;
    expect(Array.from(source)).toEqual([5, 6, 7]);
    expect(Array.from(neighbour)).toEqual([5, 6, 7]);
  });

  it("silence is zeros even where the pool held other samples", () => {
    for (let i = 0; i < 64; i++) pooledInt16(960).fill(12_345); // dirty the pool's slabs
    const quiet = pooledSilence(960);
    expect(quiet.every((s) => s === 0)).toBe(true);
    expect(quiet.length).toBe(960);
  });

  it("sizes beyond the pool still work", () => {
    const big = pooledSilence(10_000);
    expect(big.length).toBe(10_000);
    expect(big.every((s) => s === 0)).toBe(true);
  });
});
