import { describe, expect, it } from "vitest";
import { TranscriptionPendingFrame, TranscriptionSettledFrame } from "../../../src/index.js";
import { PendingTranscriptions } from "../../../src/processors/aggregators/pending-transcriptions.js";

const pending = (id: number, requested: number, settled: number) =>
  new TranscriptionPendingFrame(id, `stt-${id}`, requested, settled);
const settled = (id: number, requested: number, settledCount: number) =>
  new TranscriptionSettledFrame(id, `stt-${id}`, requested, settledCount);

describe("PendingTranscriptions", () => {
  it("keeps the highest totals, so frames out of order or missing are put right by the next", () => {
    const p = new PendingTranscriptions();
    expect([p.pending, p.announced]).toEqual([false, false]);
    p.observe(pending(1, 1, 0));
    expect([p.pending, p.announced]).toEqual([true, true]);
    p.observe(pending(1, 2, 0)); // the second request overtook the first one's settled frame
    p.observe(settled(1, 1, 1)); // late: its requested total (1) is older than what is known (2)
    expect(p.pending).toBe(true);
    p.observe(settled(1, 2, 2));
    expect(p.pending).toBe(false);
    // A settled frame lost (3 settled never seen): the next pending frame carries it.
    p.observe(pending(1, 3, 2));
    p.observe(pending(1, 4, 3));
    expect(p.pending).toBe(true);
    p.observe(settled(1, 4, 4));
    expect(p.pending).toBe(false);
  });

  it("keeps services apart, and never more than 8 of them: the one silent longest is forgotten", () => {
    const p = new PendingTranscriptions();
    p.observe(pending(1, 1, 0));
    for (let id = 2; id <= 8; id++) p.observe(settled(id, 5, 5));
    expect(p.pending).toBe(true); // service 1 still owes one; the others' totals do not mix with it
    p.observe(settled(2, 6, 6)); // heard again: now the most recent
    for (let id = 100; id < 10_100; id++) p.observe(settled(id, 1, 1));
    expect(p.pending).toBe(false); // service 1 was forgotten at the bound
    p.clear();
    expect(p.announced).toBe(false);
  });
});
