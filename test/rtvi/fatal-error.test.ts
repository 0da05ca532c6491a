/**
 * A fatal error reaches the client as one RTVI `error` (`fatal: true`), whatever state the
 * pipeline is in: while it starts (a processor between the RTVI processor and the output never
 * opened its lanes), before the client said `client-ready`, and after the start. On the virtual
 * clock, through a real task.
 */
import { describe, expect, it } from "vitest";
import { ErrorFrame, FrameDirection, FrameProcessor } from "../../src/index.js";
import { startRtvi } from "./support.js";

/** Connects in its start until the test says how it went; a refusal is fatal (as a provider service's). */
class Connecting extends FrameProcessor {
  #answer!: (refusal: string | undefined) => void;
  readonly #answered = new Promise<string | undefined>((resolve) => (this.#answer = resolve));
  constructor() {
    super({ name: "connecting" });
  }
  refuse(why: string): void {
    this.#answer(why);
  }
  protected override async start(): Promise<void> {
    const refusal = await this.#answered;
    if (refusal !== undefined) await this.pushError(refusal, { fatal: true });
  }
}

/** A processor whose start has not finished (a model still loading): its lanes stay closed. */
class StillLoading extends FrameProcessor {
  constructor() {
    super({ name: "still-loading" });
  }
  protected override start(): Promise<void> {
    return new Promise(() => undefined);
  }
}

const REFUSAL = "wss://provider.test answered HTTP 401 Unauthorized; check the key in PROVIDER_API_KEY";

describe("a fatal error, told to the client", () => {
  it("while the pipeline starts: one fatal error, though a processor before the output never started", async () => {
    const connecting = new Connecting();
    const h = startRtvi({ middle: [connecting, new StillLoading()] });
    await h.ready();
    await h.clock.advance(50);
    expect(h.isStarted()).toBe(false);
    connecting.refuse(REFUSAL);
    const outcome = await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(outcome?.how).toBe("failed");
    expect(h.ofType("error").map((m) => m.data)).toEqual([{ error: REFUSAL, message: REFUSAL, fatal: true }]);
    expect(h.output.sent.find((s) => s.message.type === "error")?.urgent).toBe(true);
  });

  it("before the client said client-ready: sent all the same (the client shows an error in any state)", async () => {
    const connecting = new Connecting();
    const h = startRtvi({ middle: [connecting] });
    await h.clock.advance(50);
    connecting.refuse(REFUSAL);
    await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(h.messages().map((m) => m.type)).toEqual(["error"]);
    expect(h.rtvi.clientReady).toBe(false);
  });

  it("after the start: one message, not one from the observer and one from the cancel", async () => {
    const h = startRtvi({ middle: Array.from({ length: 6 }, () => new FrameProcessor()) });
    await h.whenStarted();
    await h.ready();
    h.task.queueFrame(new ErrorFrame(new Error("provider gone"), { fatal: true }), FrameDirection.UPSTREAM);
    h.task.queueFrame(new ErrorFrame(new Error("and again"), { fatal: true }), FrameDirection.UPSTREAM);
    await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(h.ofType("error").map((m) => m.data)).toEqual([
      { error: "provider gone", message: "provider gone", fatal: true },
    ]);
  });

  it("a non-fatal error still goes the usual way, and the session goes on", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.queue(new ErrorFrame(new Error("one bad chunk")));
    expect(h.ofType("error").map((m) => m.data)).toEqual([
      { error: "one bad chunk", message: "one bad chunk", fatal: false },
    ]);
    expect(h.task.hasFinished()).toBe(false);
    await h.end();
  });

  it('not at all with skip: ["error"]', async () => {
    const connecting = new Connecting();
    const h = startRtvi({ middle: [connecting], rtvi: { observer: { skip: ["error"] } } });
    await h.ready();
    connecting.refuse(REFUSAL);
    await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(h.ofType("error")).toEqual([]);
  });

  it("not on a cancel without a fatal error (the client left, a deadline, cancel())", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.clock.runUntil(h.task.cancel("client left"), { maxMs: 5_000 });
    expect(h.ofType("error")).toEqual([]);
  });
});
