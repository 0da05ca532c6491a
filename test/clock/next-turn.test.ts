import { describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../src/index.js";
import { nextTurn } from "../../src/clock/next-turn.js";

describe("nextTurn", () => {
  it("resolves on the next event-loop turn, after I/O callbacks already queued, without a timer", async () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    setImmediate(() => order.push("queued before"));
    const wait = nextTurn(clock).then(() => order.push("turn"));
    order.push("sync");
    expect(clock.pendingTimers).toBe(0);
    await wait;
    expect(order).toEqual(["sync", "queued before", "turn"]);
    expect(clock.now()).toBe(0);
  });

  it("is tracked: a virtual clock fires no timer while it is pending", async () => {
    const clock = new VirtualClock();
    const wait = nextTurn(clock);
    expect(clock.pendingRealWork).toBe(1);
    await wait;
    expect(clock.pendingRealWork).toBe(0);
  });

  it("rejects with the signal's reason, and leaves no listener or immediate behind", async () => {
    const clock = new SystemClock();
    const reason = new Error("stopped");
    const early = new AbortController();
    early.abort(reason);
    await expect(nextTurn(clock, early.signal)).rejects.toBe(reason);

    const late = counted(new AbortController());
    const wait = nextTurn(clock, late.signal);
    late.abort(reason);
    await expect(wait).rejects.toBe(reason);

    const kept = counted(new AbortController());
    await nextTurn(clock, kept.signal);
    expect(kept.listeners()).toBe(0); // removed once the turn came
  });
});

/** `controller`, with a count of the listeners on its signal that are still attached. */
function counted(controller: AbortController): AbortController & { listeners(): number } {
  let n = 0;
  const { signal } = controller;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<typeof add>) => {
    n++;
    add(...args);
  }) as typeof add;
  signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
    n--;
    remove(...args);
  }) as typeof remove;
  return Object.assign(controller, { listeners: () => n });
}
