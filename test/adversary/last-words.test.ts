/**
 * Attacks on a cancel's last words (docs/design/rtvi.md, "A fatal error reaches the client"):
 * a cancel that overtakes an end in progress, a sink whose writes throw, a cancel during open().
 * On the virtual clock.
 */
import { describe, expect, it } from "vitest";
import {
  BaseOutputTransport,
  type CancelFrame,
  type Frame,
  FrameProcessor,
  type OutputAudioRawFrame,
  type OutputCloseReason,
  OutputTransportMessageUrgentFrame,
  TTSAudioRawFrame,
  type TransportParams,
} from "../../src/index.js";
import { startTask } from "../support/task.js";

class Farewell extends FrameProcessor {
  constructor(private readonly words: unknown[]) {
    super({ name: "farewell" });
  }
  protected override cancel(frame: CancelFrame): void {
    for (const w of this.words) frame.addLastWords(new OutputTransportMessageUrgentFrame(w));
  }
}

class RecordingOutput extends BaseOutputTransport {
  readonly calls: Array<{ what: string; atMs: number }> = [];
  constructor(
    params: Partial<TransportParams>,
    private readonly behave: { throwWrites?: boolean; openMs?: number } = {},
  ) {
    super(params, { name: "recording-output" });
  }
  protected override async open(): Promise<void> {
    if (this.behave.openMs) await this.clock.waitUntil(this.clock.now() + this.behave.openMs);
  }
  protected override async writeAudio(_frame: OutputAudioRawFrame): Promise<boolean> {
    if (this.calls.at(-1)?.what !== "audio") this.calls.push({ what: "audio", atMs: this.clock.now() });
    return true;
  }
  protected override writeFrame(frame: Frame): void {
    if (!(frame instanceof OutputTransportMessageUrgentFrame)) return;
    this.calls.push({ what: `write ${JSON.stringify(frame.message)}`, atMs: this.clock.now() });
    if (this.behave.throwWrites) throw new Error("socket gone");
  }
  protected override close(reason: OutputCloseReason): void {
    this.calls.push({ what: `close ${reason}`, atMs: this.clock.now() });
  }
}

describe("a cancel's last words, attacked", () => {
  it("a cancel that overtakes an end still playing writes its last words before the one close, which is a cancel", async () => {
    const output = new RecordingOutput({ audioOutEnabled: true });
    const s = startTask([new Farewell([{ bye: true }]), output]);
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(new Int16Array(24_000 * 2), 24_000));
    void s.task.stopWhenDone();
    await s.clock.advance(500);
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    await s.clock.advance(1_000);
    const what = output.calls.map((c) => c.what).filter((w) => w !== "audio");
    expect(what).toEqual(['write {"bye":true}', "close cancel"]);
  });

  it("writes that throw: each last word is tried once, the close comes, nothing rejects", async () => {
    const output = new RecordingOutput({}, { throwWrites: true });
    const s = startTask([new Farewell([{ n: 1 }, { n: 2 }]), output]);
    await s.whenStarted();
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(output.calls.map((c) => c.what).at(-1)).toBe("close cancel");
  });

  it("a cancel while open() is still running waits for it (within closeTimeoutMs), then speaks", async () => {
    const output = new RecordingOutput({ closeTimeoutMs: 1_000 }, { openMs: 300 });
    const s = startTask([new Farewell([{ bye: true }]), output]);
    await s.clock.advance(100);
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(output.calls.map((c) => c.what)).toEqual(['write {"bye":true}', "close cancel"]);
  });
});
