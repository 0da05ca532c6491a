import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import { StreamTickets } from "../../src/runner/stream-tickets.js";

describe("StreamTickets", () => {
  it("a ticket is URL-safe, opens one stream of its provider, once, until its time is up", async () => {
    const clock = new VirtualClock();
    const tickets = new StreamTickets(clock, 1000);
    const a = tickets.issue("twilio")!;
    expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(tickets.redeem("twilio", a)).toBe("ok");
    expect(tickets.redeem("twilio", a)).toBe("unknown");
    const b = tickets.issue("twilio")!;
    expect(tickets.redeem("plivo", b)).toBe("other-provider");
    expect(tickets.redeem("twilio", b)).toBe("unknown"); // tried once: gone
    const c = tickets.issue("telnyx")!;
    await clock.advance(1001);
    expect(tickets.redeem("telnyx", c)).toBe("expired");
    expect(tickets.waiting).toBe(0);
  });

  it("holds at most `max` waiting tickets, and drops expired ones as it issues new ones", async () => {
    const clock = new VirtualClock();
    const tickets = new StreamTickets(clock, 1000, 50);
    for (let i = 0; i < 50; i++) expect(tickets.issue("twilio")).toBeDefined();
    expect(tickets.issue("twilio")).toBeUndefined();
    expect(tickets.waiting).toBe(50);
    // A stream of issues over a long time never holds more than one ticket lifetime's worth.
    const steady = new StreamTickets(clock, 1000, 50);
    let most = 0;
    for (let i = 0; i < 2_000; i++) {
      await clock.advance(100);
      steady.issue("twilio");
      most = Math.max(most, steady.waiting);
    }
    expect(most).toBe(11);
  });
});
